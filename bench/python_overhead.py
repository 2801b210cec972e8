"""The Python API's overhead against the command for one stylize (docs/python.md): alternating
runs of `nstyle stylize` (the package's bundled binary, a process each) and nstyle.stylize (in
this warm process) on the same photo at the same size and thread count; the wall time of each,
each one's own compute time (the CLI's JSON summary, the API's summary) and CPU time (the
command's process, user + system; this process's during the call), which a loaded machine
disturbs less than wall time at 1 thread.
    python bench/python_overhead.py MODEL PHOTO [--size 768] [--threads 2] [--runs 5]
Run it with the Python of a venv where the package is installed."""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time

import nstyle


def cpu_name():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("photo")
    ap.add_argument("--size", type=int, default=768)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    cli = nstyle._capi.CLI_PATH
    tmp = tempfile.mkdtemp()
    out, js = os.path.join(tmp, "out.png"), os.path.join(tmp, "out.json")
    t = {"cli": [], "api": [], "cli_compute": [], "api_compute": [], "cli_cpu": [],
         "api_cpu": []}
    nstyle.stylize(a.photo, a.model, size=a.size, threads=a.threads)  # warm the caches
    for _ in range(a.runs):
        t0, c0 = time.perf_counter(), children_cpu()
        subprocess.run([cli, "stylize", "-m", a.model, "-i", a.photo, "-o", out, "--size",
                        str(a.size), "--threads", str(a.threads), "--quiet", "--json", js],
                       check=True)
        t["cli"].append(time.perf_counter() - t0)
        t["cli_cpu"].append(children_cpu() - c0)
        with open(js) as f:
            s = json.load(f)
        t["cli_compute"].append(s["ms_per_image_compute"] / 1e3)
        t0, c0 = time.perf_counter(), time.process_time()
        r = nstyle.stylize(a.photo, a.model, size=a.size, threads=a.threads)
        t["api"].append(time.perf_counter() - t0)
        t["api_cpu"].append(time.process_time() - c0)
        t["api_compute"].append(r.summary["ms_per_image_compute"] / 1e3)
    w, h = r.summary["width"], r.summary["height"]
    print(f"{cpu_name()}, {os.cpu_count()} cores; {w}x{h}, {a.threads} threads, {a.runs} "
          f"alternating runs each; nstyle {nstyle.__version__}, OpenBLAS kernels "
          f"{nstyle.info()['openblas_kernels']}")
    for k in t:
        v = t[k]
        print(f"{k:12s} median {statistics.median(v):.3f} s  min {min(v):.3f}  max {max(v):.3f}"
              f"  ({' '.join(f'{x:.3f}' for x in v)})")
    for what, c, p in (("whole run (wall)", "cli", "api"),
                       ("compute", "cli_compute", "api_compute"),
                       ("CPU time (user + system, all threads)", "cli_cpu", "api_cpu")):
        mc, mp = statistics.median(t[c]), statistics.median(t[p])
        print(f"API / CLI, {what}: {mp / mc:.4f} ({100 * (mp / mc - 1):+.2f} %)")
    python_side(a, r.image.shape)


def python_side(a, shape):
    """The package's own work around the library's network call (numpy conversions, ctypes,
    the summary), timed apart from that call: what the API adds, whatever the load does to the
    network's time."""
    lib = nstyle._capi.lib
    net = lib.nst_stylize_float
    inside = []

    def timed(*args):
        t0 = time.perf_counter()
        st = net(*args)
        inside.append(time.perf_counter() - t0)
        return st

    frame = nstyle.stylize(a.photo, a.model, size=a.size, threads=a.threads, as_float=False)
    frame = frame.image * 0 + 128  # an array of the size stylized (no resize, no decoding)
    frame = frame.astype("uint8")
    lib.nst_stylize_float = timed
    total = []
    try:
        with nstyle.Stylizer(a.model, threads=a.threads) as s:
            for _ in range(a.runs):
                t0 = time.perf_counter()
                s.stylize(frame)
                total.append(time.perf_counter() - t0)
    finally:
        del lib.nst_stylize_float
    extra = [tt - ii for tt, ii in zip(total, inside)]
    print(f"in-process, {shape[1]}x{shape[0]} array: the network call median "
          f"{statistics.median(inside):.3f} s; the package's own work around it median "
          f"{1e3 * statistics.median(extra):.2f} ms (max {1e3 * max(extra):.2f}), "
          f"{100 * statistics.median(extra) / statistics.median(inside):.3f} % of the call")


if __name__ == "__main__":
    main()
