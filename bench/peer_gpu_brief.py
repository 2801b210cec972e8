#!/usr/bin/env python3
"""PyTorch peer of bench/bench_gpu_brief.cu: the same work on the same card, timed the same way
(CUDA events, 3 warm-ups, the median of `repeats` runs with the L2 cache flushed before each, min
and max printed).

  F.affine_grid (1, 2, 3) -> (1, H, W, 2); F.grid_sample forward and forward+backward (zeros,
  align_corners False, the same rotated grid) on (1, 64, 512, 768) features and a
  (1, 3, 2048, 3072) image, channels_last; torch.optim.Adam (foreach and fused) over 20M
  parameters in 40 tensors, one 1.18M tensor, and 62 tensors holding 1.68M; the Gram
  f @ f.T / (C*HW) of a (64, 393216) and a (512, 6144) map with TF32 off, forward and backward
  (FLOPs = 2 * C^2 * HW each way).

  python3 bench/peer_gpu_brief.py [repeats]     (default 50; needs a GPU and torch)
"""
import math
import sys

import torch
import torch.nn.functional as F


def bench(name, fn, flops=0.0, repeats=50):
    dev = torch.cuda.current_device()
    l2 = torch.cuda.get_device_properties(dev).L2_cache_size
    flush = torch.empty(2 * l2, dtype=torch.uint8, device="cuda")
    for _ in range(3):
        fn()
    times = []
    for i in range(repeats):
        flush.fill_(i & 0xFF)
        t0 = torch.cuda.Event(enable_timing=True)
        t1 = torch.cuda.Event(enable_timing=True)
        t0.record()
        fn()
        t1.record()
        t1.synchronize()
        times.append(t0.elapsed_time(t1))
    times.sort()
    med = times[len(times) // 2]
    line = f"{name:<58} {med:9.3f} ms  [{times[0]:.3f} .. {times[-1]:.3f}]"
    if flops:
        line += f"  {flops / (med * 1e-3) / 1e12:7.2f} TFLOP/s"
    print(line, flush=True)


def affine_and_sample(h, w, c, repeats):
    a, b = 0.9 * math.cos(0.2618), 0.9 * math.sin(0.2618)
    theta = torch.tensor([[[a, -b, 0.05], [b, a, -0.03]]], device="cuda")
    bench(f"affine_grid (1, 2, 3) -> (1, {h}, {w}, 2)",
          lambda: F.affine_grid(theta, (1, c, h, w), align_corners=False), repeats=repeats)
    grid = F.affine_grid(theta, (1, c, h, w), align_corners=False)
    x = torch.rand(1, c, h, w, device="cuda").to(memory_format=torch.channels_last)
    bench(f"grid_sample forward (1, {c}, {h}, {w}) zeros",
          lambda: F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                                align_corners=False), repeats=repeats)
    xg = x.clone().requires_grad_(True)
    gg = grid.clone().requires_grad_(True)
    dy = torch.rand(1, c, h, w, device="cuda").to(memory_format=torch.channels_last)

    def fwd_bwd():
        y = F.grid_sample(xg, gg, mode="bilinear", padding_mode="zeros", align_corners=False)
        torch.autograd.grad(y, (xg, gg), dy)

    bench(f"grid_sample forward+backward (dx, dgrid), C {c}", fwd_bwd, repeats=repeats)


def adam(what, n_tensors, per_tensor, repeats):
    for impl in ("foreach", "fused"):
        params = [torch.rand(per_tensor, device="cuda", requires_grad=True)
                  for _ in range(n_tensors)]
        for p in params:
            p.grad = torch.rand_like(p)
        opt = torch.optim.Adam(params, lr=1e-3, **{impl: True})
        bench(f"adam {what} ({impl})", opt.step, repeats=repeats)


def gram(c, hw, repeats):
    torch.backends.cuda.matmul.allow_tf32 = False
    f = torch.rand(c, hw, device="cuda")
    flops = 2.0 * c * c * hw
    bench(f"gram forward ({c}, {hw})", lambda: f @ f.t() / (c * hw), flops, repeats)
    fg = f.clone().requires_grad_(True)
    dg = torch.rand(c, c, device="cuda")

    def backward():
        g = fg @ fg.t() / (c * hw)
        torch.autograd.grad(g, fg, dg)

    bench(f"gram forward+backward ({c}, {hw})", backward, 2 * flops, repeats)


def main():
    repeats = max(50, int(sys.argv[1])) if len(sys.argv) > 1 else 50
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 77
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, {repeats} repeats "
          "(median [min .. max], L2 flushed before each)")
    affine_and_sample(512, 768, 64, repeats)
    affine_and_sample(2048, 3072, 3, repeats)
    adam("20M parameters in 40 tensors", 40, 500000, repeats)
    adam("one 1.18M tensor", 1, 1180000, repeats)
    adam("62 tensors holding 1.68M", 62, 1680000 // 62, repeats)
    gram(64, 393216, repeats)
    gram(512, 6144, repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
