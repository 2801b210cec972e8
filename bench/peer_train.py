"""PyTorch peer of bench/bench_train.c: one nstyle training step (include/nstyle/train.h) in
PyTorch on the CPU with the same thread count, the median ms per step of several steps after
warm-up, with the spread.

    /usr/bin/python3 bench/peer_train.py [--size 256] [--batch 4] [--threads N]
        [--content-layers relu2_2] [--style-layers relu1_2,relu2_2,relu3_4] [--reps R]
        [--warmup W] [--device D] [--csv FILE]

The step: pytorch/examples' TransformerNet (the network of tests/golden/gen_transformer.py,
width 32, float32, PyTorch's default init) on a (batch, 3, size, size) batch on the 0-255 scale;
y and x divided by 255 and put in the Caffe VGG19's convention (BGR 0-255 minus the ImageNet
mean, as the fetched weights want); VGG19's 3x3 convs with ReLU and 2x2 max pools, run only up to
the deepest layer asked for; content = MSE(F(y), F(x)) at the content layers, style = sum_l
MSE(G_l(y), G_l(style)) with G = F^T F / (C H W) per image; total = 30.1 content + 906 style
(nstyle's defaults for the Caffe VGG19; TV 0); backward; torch.optim.Adam(lr 1e-3) over the net's
62 tensors. The VGG19 weights are random (He init; timing does not depend on their values) and
the batch and style image are fixed pseudo-random pixels, as in bench_train.

--device cuda: the step on the GPU, TF32 on for convolutions and off for matmul (nstyle's CUDA
defaults, docs/cuda.md), torch.cuda.synchronize() ending each timed step (loss.item() also
waits); the line "cuda peak N bytes" gives torch.cuda.max_memory_allocated.

Appends to --csv the row bench_train appends (no header):
    impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_transformer import TransformerNet  # noqa: E402

# VGG19 convs in order: (name, cin, cout, pool after)
CONVS = [("1_1", 3, 64, False), ("1_2", 64, 64, True), ("2_1", 64, 128, False),
         ("2_2", 128, 128, True), ("3_1", 128, 256, False), ("3_2", 256, 256, False),
         ("3_3", 256, 256, False), ("3_4", 256, 256, True), ("4_1", 256, 512, False),
         ("4_2", 512, 512, False), ("4_3", 512, 512, False), ("4_4", 512, 512, True),
         ("5_1", 512, 512, False), ("5_2", 512, 512, False), ("5_3", 512, 512, False),
         ("5_4", 512, 512, True)]
MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
CONTENT_WEIGHT = 1e5 / (255 * 0.226) ** 2
STYLE_WEIGHT = 1e10 / (255 * 0.226) ** 4


def vgg_weights(depth, gen, device):
    ws = []
    for _, cin, cout, _ in CONVS[:depth]:
        w = torch.randn(cout, cin, 3, 3, generator=gen) * (2.0 / (9 * cin)) ** 0.5
        ws.append((w.to(device), torch.zeros(cout, device=device)))
    return ws


def features(ws, x01, wanted):
    h = x01[:, [2, 1, 0]] * 255.0 - MEAN_BGR.to(x01.device)
    out = {}
    for i, (w, b) in enumerate(ws):
        name, _, _, pool = CONVS[i]
        h = F.relu(F.conv2d(h, w, b, padding=1))
        if "relu" + name in wanted:
            out["relu" + name] = h
        if pool and i + 1 < len(ws):
            h = F.max_pool2d(h, 2)
    return out


def gram(f):
    n, c, hh, ww = f.shape
    m = f.reshape(n, c, hh * ww)
    return m @ m.transpose(1, 2) / (c * hh * ww)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--content-layers", default="relu2_2")
    ap.add_argument("--style-layers", default="relu1_2,relu2_2,relu3_4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--csv")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = a.device
    if dev == "cuda":
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(1)
    content, style = a.content_layers.split(","), a.style_layers.split(",")
    names = ["relu" + c[0] for c in CONVS]
    depth = 1 + max(names.index(l) for l in content + style)
    gen = torch.Generator().manual_seed(2)
    ws = vgg_weights(depth, gen, dev)
    net = TransformerNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)
    s = a.size
    x = torch.from_numpy(rng.integers(0, 256, (a.batch, 3, s, s)).astype(np.float32)).to(dev)
    style_img = torch.from_numpy(rng.random((1, 3, s, s), dtype=np.float32)).to(dev)
    with torch.no_grad():
        fs = features(ws, style_img, set(style))
        targets = {l: gram(fs[l]) for l in style}

    def step():
        opt.zero_grad()
        y = net(x)
        fy = features(ws, y / 255.0, set(content + style))
        with torch.no_grad():
            fx = features(ws, x / 255.0, set(content))
        c = sum(F.mse_loss(fy[l], fx[l]) for l in content)
        st = sum(F.mse_loss(gram(fy[l]), targets[l].expand(a.batch, -1, -1)) for l in style)
        loss = CONTENT_WEIGHT * c + STYLE_WEIGHT * st
        loss.backward()
        opt.step()
        return loss.item()

    times = []
    for i in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        loss = step()
        if dev == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(1e3 * t)
    assert np.isfinite(loss), loss
    q = np.percentile(times, [25, 75])
    med = statistics.median(times)
    if dev == "cuda":
        print(f"cuda peak {torch.cuda.max_memory_allocated()} bytes")
    where = f"{a.threads} threads" if dev == "cpu" else dev
    print(f"torch train step, batch {a.batch} at {s}x{s}, {where}: median {med:.1f} ms "
          f"(min {min(times):.1f}, q1 {q[0]:.1f}, q3 {q[1]:.1f}, max {max(times):.1f}; {a.reps} reps)")
    if a.csv:
        with open(a.csv, "a") as f:
            f.write(f"torch,{s},{a.batch},{a.threads},{a.reps},{med:.3f},{min(times):.3f},"
                    f"{q[0]:.3f},{q[1]:.3f},{max(times):.3f}\n")


if __name__ == "__main__":
    main()
