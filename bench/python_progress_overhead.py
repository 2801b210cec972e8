"""What the progress callback of nstyle.render costs per iteration (docs/python.md): the call
from C into Python (timed through libc's qsort, which calls a ctypes callback as the render
does), the package's own work in it (the Progress tuple, the user's function), and a render
with and without a user callback against `nstyle render` on the same images and settings.
    python bench/python_progress_overhead.py CONTENT STYLE [--model VGG19] [--size 128]
        [--iters 50] [--runs 3] [--content-layers L] [--style-layers L]
Run it with the Python of a venv where the package is installed."""

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import tempfile
import time

import nstyle
from nstyle import _capi, _render
from python_overhead import cpu_name  # bench/, beside this script


def trampoline_us(n=200000):
    """Microseconds per call of a ctypes callback made from C (qsort's comparisons)."""
    libc = ctypes.CDLL(None)
    cmp_t = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    calls = [0]

    def cmp(a, b):
        calls[0] += 1
        return 0

    f = cmp_t(cmp)
    arr = (ctypes.c_int * 20000)()
    t = time.perf_counter()
    while calls[0] < n:
        libc.qsort(arr, len(arr), 4, f)
    return 1e6 * (time.perf_counter() - t) / calls[0]


def wrapper_us(n=200000):
    """Microseconds per call of the package's callback around a user function doing nothing,
    called from Python (its own work, without the C-to-Python transition)."""
    cb = _render._Callback(lambda p: None, lambda p: _render.Progress(
        p.iteration, p.iterations, p.scale, p.scales, p.content_loss, p.style_loss, p.tv_loss,
        p.total_loss, p.seconds), _capi.RENDER_PROGRESS_FN)
    p = ctypes.pointer(_capi.RenderProgress(1, 2, 0, 1, 1.0, 2.0, 0.0, 3.0, 0.1))
    t = time.perf_counter()
    for _ in range(n):
        cb(p, None)
    return 1e6 * (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser()
    for name, default in (("content", None), ("style", None), ("--model", None),
                          ("--content-layers", "relu3_2"),
                          ("--style-layers", "relu1_1,relu2_1,relu3_1")):
        ap.add_argument(name, default=default)
    for name, default in (("--size", 128), ("--iters", 50), ("--runs", 3), ("--threads", 2)):
        ap.add_argument(name, type=int, default=default)
    a = ap.parse_args()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"C-to-Python callback call (qsort): {trampoline_us():.2f} us")
    print(f"the package's callback around a user function: {wrapper_us():.2f} us")
    opts = dict(size=a.size, iters=a.iters, threads=a.threads, device="cpu", model=a.model,
                content_layers=a.content_layers, style_layers=a.style_layers)
    args = ["render", "-c", a.content, "-s", a.style, "--size", str(a.size), "--iters",
            str(a.iters), "--threads", str(a.threads), "--device", "cpu", "--quiet",
            "--content-layers", a.content_layers, "--style-layers", a.style_layers]
    if a.model:
        args += ["--model", a.model]
    ms = {"cli": [], "api, progress=None": [], "api, a user callback": []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.runs):
            js = os.path.join(d, "s.json")
            subprocess.run([_capi.CLI_PATH, *args, "-o", os.path.join(d, "o.png"), "--json",
                            js], check=True)
            with open(js) as f:
                ms["cli"].append(1e3 * json.load(f)["s_per_iter"])
            r = nstyle.render(a.content, a.style, **opts)
            ms["api, progress=None"].append(1e3 * r.summary["s_per_iter"])
            r = nstyle.render(a.content, a.style, progress=lambda p: None, **opts)
            ms["api, a user callback"].append(1e3 * r.summary["s_per_iter"])
    base = statistics.median(ms["cli"])
    for k, v in ms.items():
        m = statistics.median(v)
        print(f"{k:24s} median {m:8.3f} ms/iteration ({m / base:.3f} of the CLI's), "
              f"runs {', '.join(f'{x:.3f}' for x in v)}")


if __name__ == "__main__":
    main()
