#!/usr/bin/python3
"""The Gatys loop of `nstyle render` in PyTorch (CPU), for bench/render_vs_torch.sh.

Same semantics as nst_render_gatys (include/nstyle/render.h, docs/design.md): the image is RGB in
[0, 1], converted to the weights' convention (here bgr-0-255-minus-mean) as part of the graph;
VGG19 convs 3x3 / pad 1 with ReLU, 2x2 max pools after conv1_2, conv2_2, conv3_4, run only as
deep as the deepest layer asked for; content = sum MSE(F, F_content), style = sum MSE(G, G_style)
with G = F^T F / (C H W); total = content_weight * content + style_weight * style; Adam
(torch.optim.Adam, lr 0.01) on the image alone, clamped to [0, 1] after each step; init from the
content. The weights are those of a safetensors file with torchvision names (features.N.weight),
read here without the safetensors package.

  peer_render_loop.py --weights F --content C --style S --size N --iters K --threads T
prints one JSON line: {"size": .., "width": .., "height": .., "iterations": K,
"setup_seconds": .., "seconds": .., "s_per_iter": .., "style_loss": .., "content_loss": ..};
seconds covers the iterations only, as the JSON summary of nstyle render does.

For scripts/timing-charts.sh, the peer of bench/bench_render.c: --size WxH (exact), --random
(content and style fixed pseudo-random pixels at that size instead of C and S), --warmup W
(the first W of the K iterations left out of the per-iteration figures) and --csv FILE (the
row bench_render writes: impl,size,threads,warmup,reps,median_s,min_s,q1_s,q3_s,max_s,
setup_s,plan_bytes, with plan_bytes 0).

--device cuda: the loop on the GPU, TF32 on for convolutions and off for matmul (nstyle's CUDA
defaults, docs/cuda.md), torch.cuda.synchronize() ending each timed iteration; the line
"cuda peak N bytes" gives torch.cuda.max_memory_allocated.
"""
import argparse
import json
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# VGG19 convs in order: (name, torchvision index, pool after)
LAYERS = [("1_1", 0, False), ("1_2", 2, True), ("2_1", 5, False), ("2_2", 7, True),
          ("3_1", 10, False), ("3_2", 12, False), ("3_3", 14, False), ("3_4", 16, True),
          ("4_1", 19, False), ("4_2", 21, False), ("4_3", 23, False), ("4_4", 25, True),
          ("5_1", 28, False), ("5_2", 30, False), ("5_3", 32, False), ("5_4", 34, True)]
MEAN_BGR = (103.939, 116.779, 123.68)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        assert t["dtype"] in ("F32", "U8"), (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4" if t["dtype"] == "F32" else "u1")
        out[name] = out[name].reshape(t["shape"])
    # the fetched VGG19 (models/fetch-vgg19.sh): NAME_q8 (U8) indexes NAME_codebook (256 F32)
    for name in [k[:-3] for k in out if k.endswith("_q8")]:
        out[name] = out.pop(name + "_codebook")[out.pop(name + "_q8")]
    return {k: torch.from_numpy(v.copy()) for k, v in out.items()}, meta


def load_rgb(path, width, height):
    im = Image.open(path).convert("RGB").resize((width, height), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def long_side(w, h, side):
    s = side / max(w, h)
    return (side if w >= h else max(1, round(w * s)), side if h > w else max(1, round(h * s)))


def to_bgr_minus_mean(x):  # (1, 3, H, W) RGB [0, 1] -> BGR 0..255 minus the mean
    mean = torch.tensor(MEAN_BGR, device=x.device).view(1, 3, 1, 1)
    return x.flip(1) * 255.0 - mean


def features(x, w, wanted):
    """Activations at the relu layers named in wanted ({"3_2", ...}), stopping at the deepest."""
    deepest = max(i for i, (n, _, _) in enumerate(LAYERS) if n in wanted)
    out = {}
    y = to_bgr_minus_mean(x)
    for i, (name, idx, pool) in enumerate(LAYERS[:deepest + 1]):
        y = F.relu(F.conv2d(y, w[f"features.{idx}.weight"], w[f"features.{idx}.bias"], padding=1))
        if name in wanted:
            out[name] = y
        if pool and i < deepest:
            y = F.max_pool2d(y, 2, 2)
    return out


def gram(f):
    _, c, h, w = f.shape
    m = f.reshape(c, h * w)
    return m @ m.t() / (c * h * w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--content")
    ap.add_argument("--style")
    ap.add_argument("--random", action="store_true")
    ap.add_argument("--size", default="256")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--csv")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--content-layers", default="relu3_2")
    ap.add_argument("--style-layers", default="relu1_1,relu2_1,relu3_1")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"
    if cuda:
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.perf_counter()
    w, meta = read_safetensors(a.weights)
    w = {k: v.to(a.device) for k, v in w.items()}
    assert meta.get("input") == "bgr-0-255-minus-mean", meta
    cl = [s.replace("relu", "") for s in a.content_layers.split(",")]
    sl = [s.replace("relu", "") for s in a.style_layers.split(",")]
    if a.random:
        cw, ch = (int(v) for v in a.size.lower().split("x"))
        rng = np.random.default_rng(1)
        content, style = (torch.from_numpy(rng.random((1, 3, ch, cw), dtype=np.float32))
                          for _ in range(2))
    else:
        cw, ch = long_side(*Image.open(a.content).size, int(a.size))
        sw, sh = long_side(*Image.open(a.style).size, max(cw, ch))
        content, style = load_rgb(a.content, cw, ch), load_rgb(a.style, sw, sh)
    content, style = content.to(a.device), style.to(a.device)
    with torch.no_grad():
        fc = features(content, w, set(cl))
        gs = {k: gram(v) for k, v in features(style, w, set(sl)).items()}
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=a.lr)
    if cuda:
        torch.cuda.synchronize()
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    ends = []
    for _ in range(a.iters):
        opt.zero_grad(set_to_none=True)
        f = features(x, w, set(cl) | set(sl))
        c_loss = sum(F.mse_loss(f[k], fc[k]) for k in cl)
        s_loss = sum(F.mse_loss(gram(f[k]), gs[k]) for k in sl)
        (c_loss + 100.0 * s_loss).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        if cuda:
            torch.cuda.synchronize()
        ends.append(time.perf_counter())
    seconds = time.perf_counter() - t1
    if cuda:
        print(f"cuda peak {torch.cuda.max_memory_allocated()} bytes")
    print(json.dumps({"size": a.size, "width": cw, "height": ch, "iterations": a.iters,
                      "threads": a.threads, "setup_seconds": setup, "seconds": seconds,
                      "s_per_iter": seconds / max(1, a.iters), "content_loss": float(c_loss),
                      "style_loss": float(s_loss), "torch": torch.__version__}))
    if a.csv:
        t = [b - a_ for a_, b in zip([t1] + ends, ends)][a.warmup:]
        q = np.percentile(t, [25, 75])
        with open(a.csv, "w") as f:
            f.write("impl,size,threads,warmup,reps,median_s,min_s,q1_s,q3_s,max_s,setup_s,"
                    "plan_bytes\n")
            f.write(f"torch,{cw}x{ch},{a.threads},{a.warmup},{len(t)},{statistics.median(t):.4f},"
                    f"{min(t):.4f},{q[0]:.4f},{q[1]:.4f},{max(t):.4f},{setup:.3f},0\n")


if __name__ == "__main__":
    main()
