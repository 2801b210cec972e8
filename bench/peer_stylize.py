"""PyTorch peer of bench/bench_stylize.c: pytorch/examples' TransformerNet (the network of
tests/golden/gen_transformer.py) with the same safetensors weights, float32, on the CPU with
the same thread count; the median ms per frame of several runs after warm-up, with the spread.

    /usr/bin/python3 bench/peer_stylize.py --model M.safetensors [--size 768x512] [--threads N]
                                           [--batch N] [--reps R] [--warmup W] [--csv FILE]

Prints one line and, with --csv, writes the row bench_stylize writes:
    impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms   (ms per frame)
The input is a fixed pseudo-random RGB image on the 0-255 scale (timing does not depend on it).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_transformer import TransformerNet, read_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", default="768x512")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--csv")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    torch.set_num_threads(a.threads)
    net = TransformerNet().eval()
    net.load_state_dict({k: v.float() for k, v in read_safetensors(a.model).items()}, strict=True)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 256, (a.batch, 3, h, w)).astype(np.float32))
    times = []
    with torch.inference_mode():
        for i in range(a.warmup + a.reps):
            t0 = time.perf_counter()
            y = net(x).clamp(0, 255)
            t = (time.perf_counter() - t0) / a.batch
            if i >= a.warmup:
                times.append(1e3 * t)
    assert y.shape[2] == 4 * ((h + 3) // 4) and y.shape[3] == 4 * ((w + 3) // 4)
    q = np.percentile(times, [25, 75])
    med = statistics.median(times)
    print(f"torch {w}x{h} batch {a.batch}, {a.threads} threads: {med:.1f} ms per frame "
          f"(min {min(times):.1f}, max {max(times):.1f}, {a.reps} runs)")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms\n")
            f.write(f"torch,{w}x{h},{a.batch},{a.threads},{a.reps},{med:.3f},{min(times):.3f},"
                    f"{q[0]:.3f},{q[1]:.3f},{max(times):.3f}\n")


if __name__ == "__main__":
    main()
