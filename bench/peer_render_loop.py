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
"""
import argparse
import json
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
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).reshape(
            t["shape"])
    return out, meta


def load_rgb(path, width, height):
    im = Image.open(path).convert("RGB").resize((width, height), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def long_side(w, h, side):
    s = side / max(w, h)
    return (side if w >= h else max(1, round(w * s)), side if h > w else max(1, round(h * s)))


def to_bgr_minus_mean(x):  # (1, 3, H, W) RGB [0, 1] -> BGR 0..255 minus the mean
    mean = torch.tensor(MEAN_BGR).view(1, 3, 1, 1)
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
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--content-layers", default="relu3_2")
    ap.add_argument("--style-layers", default="relu1_1,relu2_1,relu3_1")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    w, meta = read_safetensors(a.weights)
    assert meta.get("input") == "bgr-0-255-minus-mean", meta
    cl = [s.replace("relu", "") for s in a.content_layers.split(",")]
    sl = [s.replace("relu", "") for s in a.style_layers.split(",")]
    cw, ch = long_side(*Image.open(a.content).size, a.size)
    sw, sh = long_side(*Image.open(a.style).size, max(cw, ch))
    content, style = load_rgb(a.content, cw, ch), load_rgb(a.style, sw, sh)
    with torch.no_grad():
        fc = features(content, w, set(cl))
        gs = {k: gram(v) for k, v in features(style, w, set(sl)).items()}
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=a.lr)
    setup = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(a.iters):
        opt.zero_grad(set_to_none=True)
        f = features(x, w, set(cl) | set(sl))
        c_loss = sum(F.mse_loss(f[k], fc[k]) for k in cl)
        s_loss = sum(F.mse_loss(gram(f[k]), gs[k]) for k in sl)
        (c_loss + 100.0 * s_loss).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
    seconds = time.perf_counter() - t1
    print(json.dumps({"size": a.size, "width": cw, "height": ch, "iterations": a.iters,
                      "threads": a.threads, "setup_seconds": setup, "seconds": seconds,
                      "s_per_iter": seconds / max(1, a.iters), "content_loss": float(c_loss),
                      "style_loss": float(s_loss), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
