#!/usr/bin/env python3
"""PyTorch's peer of bench/bench_gpu_conv.c, run in the same GPU session by scripts/gpu-check.sh:
every VGG19 convolution at 768x512 (batch 1), forward (conv + bias + ReLU), backward-data and
backward-filter (with the bias gradient), FP32 (TF32 off) and TF32, with channels_last tensors
and torch.backends.cudnn.benchmark = True, timed with CUDA events: the median of many runs after
warm-up, the L2 cache flushed (a buffer of twice its size zeroed) before each, min..max and the
interquartile range printed. With --ours CSV (bench_gpu_conv's), each row also gets the time
ratio PyTorch / nstyle (above 1: nstyle faster).

    python3 bench/peer_gpu_conv.py [--quick] [--reps N] [--csv FILE] [--ours FILE]
"""
import argparse
import csv
import statistics

import torch
import torch.nn.functional as F

from peer_cpu_conv import quantile  # bench_util.h's interpolation, shared with the CPU peer

LAYERS = [("conv1_1", 512, 3, 64), ("conv1_2", 512, 64, 64), ("conv2_1", 256, 64, 128),
          ("conv2_2", 256, 128, 128), ("conv3_1", 128, 128, 256), ("conv3_2", 128, 256, 256),
          ("conv3_3", 128, 256, 256), ("conv3_4", 128, 256, 256), ("conv4_1", 64, 256, 512),
          ("conv4_2", 64, 512, 512), ("conv4_3", 64, 512, 512), ("conv4_4", 64, 512, 512),
          ("conv5_1", 32, 512, 512), ("conv5_2", 32, 512, 512), ("conv5_3", 32, 512, 512),
          ("conv5_4", 32, 512, 512)]


def measure(fn, flush, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(reps):
        flush.zero_()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--csv")
    ap.add_argument("--ours")
    a = ap.parse_args()
    reps = 7 if a.quick else max(a.reps, 3)
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 64 << 20) or (64 << 20)
    flush = torch.empty(2 * l2 // 4, dtype=torch.float32, device=dev)
    print(f"{props.name}, torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    print(f"median of {reps} runs after 3 warm-up runs, L2 flushed before each; ms")
    ours = {}
    if a.ours:
        with open(a.ours) as f:
            for r in csv.DictReader(f):
                ours[(r["layer"], r["direction"], r["math"])] = float(r["median_ms"])
    rows = []
    print(f"{'layer':8} {'direction':16} {'math':5} {'ms':>9}  {'min..max':17}  {'IQR':>7}  "
          f"{'TFLOP/s':>8}  torch/nstyle")
    for tf32 in (False, True):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = False
        math = "tf32" if tf32 else "fp32"
        for i, (name, h, cin, cout) in enumerate(LAYERS):
            if a.quick and i % 4 != 1:
                continue
            w_ = h * 3 // 2
            x = torch.rand(1, cin, h, w_, device=dev).mul_(2).sub_(1).to(
                memory_format=torch.channels_last)
            w = torch.rand(cout, cin, 3, 3, device=dev).mul_(2).sub_(1).to(
                memory_format=torch.channels_last)
            b = torch.rand(cout, device=dev)
            dy = torch.rand(1, cout, h, w_, device=dev).to(memory_format=torch.channels_last)
            flop = 2.0 * h * w_ * cout * cin * 9

            def fwd():
                F.relu(F.conv2d(x, w, b, 1, 1), inplace=True)

            def bwd(mask):
                return lambda: torch.ops.aten.convolution_backward(
                    dy, x, w, [cout], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)

            for direction, fn in (("forward+bias+relu", fwd),
                                  ("backward_data", bwd([True, False, False])),
                                  ("backward_filter", bwd([False, True, True]))):
                t = measure(fn, flush, 3, reps)
                med = statistics.median(t)
                q1, q3 = quantile(t, 0.25), quantile(t, 0.75)
                ratio = ""
                if (name, direction, math) in ours:
                    ratio = f"{med / ours[(name, direction, math)]:.2f}"
                print(f"{name:8} {direction:16} {math:5} {med:9.3f}  {t[0]:7.3f}..{t[-1]:<8.3f}  "
                      f"{q3 - q1:7.3f}  {flop / med / 1e9:8.2f}  {ratio}")
                rows.append([name, direction, math, med, t[0], t[-1], q1, q3, flop / med / 1e9])
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["layer", "direction", "math", "median_ms", "min_ms", "max_ms", "q1_ms",
                         "q3_ms", "tflops"])
            wr.writerows(rows)


if __name__ == "__main__":
    main()
