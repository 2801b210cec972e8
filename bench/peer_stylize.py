"""PyTorch peer of bench/bench_stylize.c: pytorch/examples' TransformerNet (the network of
tests/golden/gen_transformer.py) with the same safetensors weights, float32, on the CPU with
the same thread count (or --device cuda); the median ms per frame of several runs after
warm-up, with the spread.

    /usr/bin/python3 bench/peer_stylize.py --model M.safetensors [--size 768x512] [--threads N]
                                           [--batch N] [--reps R] [--warmup W] [--device D]
                                           [--csv FILE]

Prints one line and, with --csv, writes the row bench_stylize writes:
    impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms   (ms per frame)
The input is a fixed pseudo-random RGB image on the 0-255 scale (timing does not depend on it).

The same network run by onnxruntime (for scripts/timing-charts.sh): Debian's torch exports it,
then a python with onnxruntime and numpy (no torch needed) times it with the same loop:
    /usr/bin/python3 bench/peer_stylize.py --model M.safetensors --export-onnx NET.onnx
    VENV/bin/python bench/peer_stylize.py --onnx NET.onnx [--size ...] [--threads N] ...
The export has a dynamic batch, height and width (opset 13); onnxruntime runs it on the CPU
with intra_op_num_threads = --threads, one inter-op thread, all graph optimisations. Its CSV
rows say impl onnxruntime.

--device cuda: PyTorch runs on the GPU with TF32 on for convolutions and off for matmul
(nstyle's CUDA defaults, docs/cuda.md), the host copies in and out timed as nstyle's are, and
torch.cuda.synchronize() closing each timed call; the line "cuda peak N bytes" gives
torch.cuda.max_memory_allocated. onnxruntime uses its CUDAExecutionProvider, and exits 77 with
the reason when the installed onnxruntime does not offer it (onnxruntime-gpu does).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")


def load_net(model):
    import torch
    sys.path.insert(0, GOLDEN)
    from gen_transformer import TransformerNet, read_safetensors
    net = TransformerNet().eval()
    net.load_state_dict({k: v.float() for k, v in read_safetensors(model).items()}, strict=True)
    return net


def export_onnx(model, path):
    import torch
    net = load_net(model)
    x = torch.zeros(1, 3, 64, 64)
    axes = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(net, x, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": axes, "output": axes}, opset_version=13)


def torch_runner(model, threads, device):
    import torch
    torch.set_num_threads(threads)
    net = load_net(model)
    if device == "cuda":
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = False
        net = net.to(device)

    def run(x):
        with torch.inference_mode():
            y = net(torch.from_numpy(x).to(device)).clamp(0, 255).cpu().numpy()
        if device == "cuda":
            torch.cuda.synchronize()
        return y
    return "torch", run


def onnxruntime_runner(path, threads, device):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            print(f"onnxruntime {ort.__version__} offers no CUDAExecutionProvider (providers: "
                  f"{', '.join(ort.get_available_providers())}; onnxruntime-gpu has it)",
                  file=sys.stderr)
            sys.exit(77)
        providers = ["CUDAExecutionProvider"]
    sess = ort.InferenceSession(path, o, providers=providers)

    def run(x):
        return np.clip(sess.run(None, {"input": x})[0], 0, 255)
    return "onnxruntime", run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--onnx", help="time this ONNX file in onnxruntime instead")
    ap.add_argument("--export-onnx", metavar="FILE", help="export --model to FILE and stop")
    ap.add_argument("--size", default="768x512")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--csv")
    a = ap.parse_args()
    if not a.model and not a.onnx:
        ap.error("--model or --onnx is required")
    if a.export_onnx:
        export_onnx(a.model, a.export_onnx)
        return
    w, h = (int(v) for v in a.size.lower().split("x"))
    impl, run = (onnxruntime_runner(a.onnx, a.threads, a.device) if a.onnx
                 else torch_runner(a.model, a.threads, a.device))
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (a.batch, 3, h, w)).astype(np.float32)
    times = []
    for i in range(a.warmup + a.reps):
        t0 = time.perf_counter()
        y = run(x)
        t = (time.perf_counter() - t0) / a.batch
        if i >= a.warmup:
            times.append(1e3 * t)
    assert y.shape[2] == 4 * ((h + 3) // 4) and y.shape[3] == 4 * ((w + 3) // 4)
    q = np.percentile(times, [25, 75])
    med = statistics.median(times)
    if impl == "torch" and a.device == "cuda":
        import torch
        print(f"cuda peak {torch.cuda.max_memory_allocated()} bytes")
    where = f"{a.threads} threads" if a.device == "cpu" else a.device
    print(f"{impl} {w}x{h} batch {a.batch}, {where}: {med:.1f} ms per frame "
          f"(min {min(times):.1f}, max {max(times):.1f}, {a.reps} runs)")
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms\n")
            f.write(f"{impl},{w}x{h},{a.batch},{a.threads},{a.reps},{med:.3f},{min(times):.3f},"
                    f"{q[0]:.3f},{q[1]:.3f},{max(times):.3f}\n")


if __name__ == "__main__":
    main()
