"""PyTorch peer of bench/bench_cpu_ops.c for conv2d on the CPU: the same layers, the same
thread count, the same reporting (median over repeats after warm-up, min..max, IQR, GFLOP/s with
2*N*Ho*Wo*Cout*Cin*KH*KW flops per pass).

Run with Debian's python (CPU PyTorch):
    /usr/bin/python3 bench/peer_cpu_conv.py --threads 2 [--csv out.csv] [--quick]

forward is F.conv2d (+ bias, ReLU as the C benchmark fuses it); backward-data and
backward-filter are aten::convolution_backward with the output mask autograd uses, so each times
exactly one of the two gradients (filter with the bias gradient, as nstyle's op computes both).
Tensors are NCHW (PyTorch's default; --channels-last for NHWC memory like nstyle's).
"""
import argparse
import csv
import statistics
import time

import torch
import torch.nn.functional as F

WARMUP = 2
MIN_REPS = 5
MAX_REPS = 50
TARGET_S = 1.0

# name, N, H, W, Cin, Cout, K, stride, pad: as conv_sizes in bench_cpu_ops.c
CONV_SIZES = [
    ("vgg conv1_2", 1, 256, 256, 64, 64, 3, 1, 1),
    ("vgg conv1_1", 1, 256, 256, 3, 64, 3, 1, 1),
    ("vgg conv3_x", 1, 64, 64, 256, 256, 3, 1, 1),
    ("johnson conv1 9x9", 1, 256, 256, 3, 32, 9, 1, 4),
    ("johnson down s2", 1, 256, 256, 32, 64, 3, 2, 1),
    ("pointwise 1x1", 1, 128, 128, 128, 128, 1, 1, 0),
]


def quantile(sorted_t, q):
    """Linear interpolation between order statistics, as bench_util.h."""
    pos = q * (len(sorted_t) - 1)
    i = int(pos)
    if i >= len(sorted_t) - 1:
        return sorted_t[-1]
    return sorted_t[i] + (pos - i) * (sorted_t[i + 1] - sorted_t[i])


def time_fn(fn):
    for _ in range(WARMUP):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < MAX_REPS and (len(times) < MIN_REPS or
                                     time.perf_counter() - start < TARGET_S):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"n": len(times), "min": times[0], "q1": quantile(times, 0.25),
            "median": statistics.median(times), "q3": quantile(times, 0.75), "max": times[-1]}


def report(writer, op, shape, s, flops):
    gflops = flops / s["median"] * 1e-9
    print(f"{op:<30} {shape:<40} {s['median'] * 1e3:10.3f}  "
          f"{s['min'] * 1e3:9.3f}..{s['max'] * 1e3:<9.3f}  {(s['q3'] - s['q1']) * 1e3:8.3f}  "
          f"{gflops:8.2f}")
    if writer:
        writer.writerow([op, shape, s["n"], f"{s['median'] * 1e3:.6f}", f"{s['min'] * 1e3:.6f}",
                         f"{s['max'] * 1e3:.6f}", f"{s['q1'] * 1e3:.6f}",
                         f"{s['q3'] * 1e3:.6f}", f"{gflops:.4f}"])


def bench_conv(writer, size, channels_last):
    name, n, h, w, cin, cout, k, stride, pad = size
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, cin, h, w, generator=g) * 2 - 1).to(memory_format=fmt)
    wt = (torch.rand(cout, cin, k, k, generator=g) * 2 - 1).to(memory_format=fmt)
    b = torch.rand(cout, generator=g) * 2 - 1
    with torch.no_grad():
        y = F.conv2d(x, wt, b, stride=stride, padding=pad)
    dy = (torch.rand(y.shape, generator=g) * 2 - 1).to(memory_format=fmt)
    ho, wo = y.shape[2], y.shape[3]
    flops = 2.0 * n * ho * wo * cout * cin * k * k
    shape = f"{name} {h}x{w}x{cin}->{cout} k{k} s{stride} p{pad}"

    def backward(mask):
        return torch.ops.aten.convolution_backward(dy, x, wt, [cout], [stride, stride],
                                                   [pad, pad], [1, 1], False, [0, 0], 1, mask)

    with torch.no_grad():
        report(writer, "torch conv2d_forward", shape,
               time_fn(lambda: F.relu(F.conv2d(x, wt, b, stride=stride, padding=pad))), flops)
        report(writer, "torch conv2d_backward_data", shape,
               time_fn(lambda: backward([True, False, False])), flops)
        report(writer, "torch conv2d_backward_filter", shape,
               time_fn(lambda: backward([False, True, True])), flops)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    ap.add_argument("--csv", help="write the rows as CSV here")
    ap.add_argument("--quick", action="store_true", help="only the 64->64 3x3 256x256 layer")
    ap.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"mkldnn {torch.backends.mkldnn.is_available()}, "
          f"{'channels_last' if args.channels_last else 'NCHW'}")
    print(f"{'op':<30} {'shape':<40} {'median ms':>10}  {'min..max ms':<20}  {'IQR ms':>8}  "
          f"{'GFLOP/s':>8}")
    f = open(args.csv, "w", newline="") if args.csv else None
    writer = csv.writer(f) if f else None
    if writer:
        writer.writerow(["op", "shape", "repeats", "median_ms", "min_ms", "max_ms", "q1_ms",
                         "q3_ms", "gflops"])
    for size in CONV_SIZES[:1] if args.quick else CONV_SIZES:
        bench_conv(writer, size, args.channels_last)
    if f:
        f.close()


if __name__ == "__main__":
    main()
