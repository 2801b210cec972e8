"""PyTorch peer of bench/bench_stn.c: the spatial transformer module of tests/golden/gen_stn.py
(the STN tutorial's module with the third convolution; resampling to 48x48, localisation
network, affine grid, bilinear sampler with zeros padding), float32 on the CPU with the same
thread count; ms per forward + backward (dy -> dx and every weight gradient), the median of
several runs after warm-up, with the spread.

    /usr/bin/python3 bench/peer_stn.py [--size 768x512] [--channels 3,64] [--threads N]
                                       [--reps R] [--warmup W] [--csv FILE]

Prints one line per channel count and, with --csv, writes the rows bench_stn writes:
    impl,size,channels,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms
The module has PyTorch's initial weights with fc_loc.2 the identity, as nstyle's new module;
x and dy are fixed pseudo-random values (timing does not depend on them).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_stn import STN  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="768x512")
    ap.add_argument("--channels", default="3,64")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--csv")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    rows = []
    for c in (int(v) for v in a.channels.split(",")):
        torch.manual_seed(1)
        m = STN(c, "zeros").float()
        with torch.no_grad():
            m.fc_loc[2].weight.zero_()
            m.fc_loc[2].bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))
        rng = np.random.default_rng(1)
        x = torch.from_numpy(rng.uniform(0, 1, (1, c, h, w)).astype(np.float32))
        dy = torch.from_numpy(rng.uniform(-0.5, 0.5, (1, c, h, w)).astype(np.float32))
        x.requires_grad_(True)
        times = []
        for i in range(a.warmup + a.reps):
            x.grad = None
            m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            y, _ = m(x)
            y.backward(dy)
            t = time.perf_counter() - t0
            if i >= a.warmup:
                times.append(1e3 * t)
        assert x.grad is not None and m.localization[0].weight.grad is not None
        q = np.percentile(times, [25, 75])
        med = statistics.median(times)
        print(f"torch stn {w}x{h}x{c} forward+backward, {a.threads} threads: {med:.1f} ms "
              f"(min {min(times):.1f}, max {max(times):.1f}; {a.reps} runs)")
        rows.append(f"torch,{w}x{h},{c},{a.threads},{a.reps},{med:.3f},{min(times):.3f},"
                    f"{q[0]:.3f},{q[1]:.3f},{max(times):.3f}\n")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("impl,size,channels,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms\n")
            f.writelines(rows)


if __name__ == "__main__":
    main()
