"""The tables and charts of scripts/timing-charts.sh, from the raw files of one run.

    VENV/bin/python bench/timing_charts.py --raw DIR --out DIR --machine M --threads N
        --rounds N --quick 0|1 --vgg full|partial --versions V --load A B --stopped 0|1
        --seconds S [--device cpu|cuda]

Reads from --raw what the script's programs wrote: BENCH-SIZE-ROUND-IMPL.csv (the row of
bench_render / peer_render_loop.py, bench_stylize / peer_stylize.py, bench_train /
peer_train.py), .rss (the process's peak resident KiB, bench/peak_rss.py), .status (its exit
status), .out (its output), baseline-IMPL.rss and plan-SIZE.json (`nstyle plan --json`).
With --device cuda the memory figures are the GPU peaks the programs print ("tracker peak N
bytes": nstyle's tracker, the JSON summary's memory.peak_bytes.total; "cuda peak N bytes":
torch.cuda.max_memory_allocated); onnxruntime gives none.
Writes to --out: gatys.csv, stylize.csv, train.csv (every round), memory.csv and summary.csv
(the medians, spreads and ratios), summary.md, and gatys.png, stylize.png, memory.png,
ratios.png. Needs matplotlib and numpy.
"""
import argparse
import csv
import datetime
import glob
import json
import os
import re
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

SIZES = ["256x256", "512x512", "768x512", "1024x1024"]
# Johnson, Alahi and Fei-Fei 2016, Table 1 (GTX Titan X): Gatys et al. with 300 L-BFGS
# iterations, and the feed-forward network, in seconds
JOHNSON_GATYS = {"256x256": 9.52, "512x512": 32.90, "1024x1024": 128.66}
JOHNSON_FAST = {"256x256": 0.015, "512x512": 0.05, "1024x1024": 0.21}
BRIEF_MEMORY_MIB = 4096  # the brief's expectation for the render at 768x512
NAMES = {"nstyle": "nstyle", "torch": "PyTorch", "onnxruntime": "onnxruntime"}
COLOURS = {"nstyle": "tab:blue", "torch": "tab:orange", "onnxruntime": "tab:green",
           "johnson": "tab:gray", "plan": "tab:purple"}
TRAIN_COLS = ["impl", "size", "batch", "threads", "reps", "median_ms", "min_ms", "q1_ms",
              "q3_ms", "max_ms"]


def fmt(v):
    """4 significant digits, no exponent: 0.01234, 1.234, 1234, 53666."""
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def pixels(size):
    w, h = size.split("x")
    return int(w) * int(h)


def read_runs(raw, bench):
    """{(size, impl): [row dict per round, in round order]}; a row has 'rss_mib' added."""
    base = {}
    for path in glob.glob(os.path.join(raw, "baseline-*.rss")):
        base[os.path.basename(path)[9:-4]] = int(open(path).read())
    runs, missing = {}, []
    for path in sorted(glob.glob(os.path.join(raw, f"{bench}-*.status"))):
        name = os.path.basename(path)[:-7]
        _, size, rnd, impl = name.split("-")
        status = int(open(path).read())
        csv_path = os.path.join(raw, name + ".csv")
        if status != 0 or not os.path.exists(csv_path):
            why = {124: "ran past its time cap", 200: "not started, the run's time budget spent",
                   77: "unavailable here"}.get(status, f"exit {status}")
            missing.append(f"{bench} {size} round {rnd} {NAMES[impl]}: {why}")
            continue
        if bench == "train":
            row = next(csv.DictReader(open(csv_path), fieldnames=TRAIN_COLS))
        else:
            row = next(csv.DictReader(open(csv_path)))
        row["round"] = int(rnd)
        rss = int(open(os.path.join(raw, name + ".rss")).read())
        row["rss_mib"] = (rss - base.get(impl, 0)) / 1024
        out = open(os.path.join(raw, name + ".out")).read()
        m = re.search(r"^(?:tracker|cuda) peak ([0-9]+) bytes", out, re.M)
        row["dev_mib"] = int(m.group(1)) / 2**20 if m else None
        m = re.search(r"plan ([0-9.]+) MiB", out)
        row["plan_mib"] = float(m.group(1)) if m else (
            int(row["plan_bytes"]) / 2**20 if int(row.get("plan_bytes") or 0) else "")
        runs.setdefault((size, impl), []).append(row)
    for v in runs.values():
        v.sort(key=lambda r: r["round"])
    return runs, missing, base


def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)


def spread(rows, key):
    vals = [float(r[key]) for r in rows]
    return min(vals), max(vals)


def summarise(runs, key, scale, peers):
    """Rows of the summary: per size and peer, nstyle's and the peer's median over the rounds
    of the per-round medians (times scale), their min..max, and the ratio peer / nstyle with the
    min..max of the per-round ratios (rounds where both ran)."""
    out = []
    sizes = sorted({s for s, _ in runs}, key=pixels)
    for size in sizes:
        n = runs.get((size, "nstyle"))
        for peer in peers:
            p = runs.get((size, peer))
            if not n or not p:
                continue
            by_round = {r["round"]: float(r[key]) for r in n}
            ratios = [float(r[key]) / by_round[r["round"]] for r in p if r["round"] in by_round]
            out.append({"size": size, "peer": peer,
                        "nstyle": med(n, key) * scale, "nstyle_min": spread(n, key)[0] * scale,
                        "nstyle_max": spread(n, key)[1] * scale,
                        "peer_median": med(p, key) * scale, "peer_min": spread(p, key)[0] * scale,
                        "peer_max": spread(p, key)[1] * scale,
                        "ratio": med(p, key) / med(n, key),
                        "ratio_min": min(ratios) if ratios else "",
                        "ratio_max": max(ratios) if ratios else "", "rounds": len(ratios)})
    return out


def write_rounds(path, runs, cols):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["round"] + cols + ["rss_above_baseline_mib", "plan_mib"])
        for key in sorted(runs, key=lambda k: (pixels(k[0]), k[1])):
            for r in runs[key]:
                w.writerow([r["round"]] + [r[c] for c in cols]
                           + [f"{r['rss_mib']:.1f}", r["plan_mib"] and f"{r['plan_mib']:.1f}"])


def precision(a):
    return ("fp32" if a.device == "cpu" else
            "fp32 with TF32 convolutions, fp32 matmul (nstyle's defaults, set so in PyTorch)")


def where(a):
    return "CPU" if a.device == "cpu" else "CUDA"


def title(a, what):
    day = datetime.date.today().isoformat()
    rounds = f"{a.rounds} alternating round{'s' if a.rounds != 1 else ''}"
    mode = f"--quick: {rounds}, fewer sizes and repeats" if a.quick else rounds
    threads = f"{a.threads} threads, " if a.device == "cpu" else ""
    return (f"{what}\n{a.machine}, {threads}{precision(a)}, {day}\n{mode}; load average "
            f"{a.load[0].split()[0]} before, {a.load[1].split()[0]} after\n{a.versions}")


def errbar(ax, xs, ys, lo, hi, **kw):
    ax.errorbar(xs, ys, yerr=[[y - l for y, l in zip(ys, lo)], [h - y for y, h in zip(ys, hi)]],
                marker="o", capsize=3, **kw)


def log_axis(ax):
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def size_axis(ax, sizes):
    ax.set_xticks(range(len(sizes)), sizes)
    ax.set_xlim(-0.4, len(sizes) - 0.6)
    ax.set_xlabel("image size (W x H)")
    ax.grid(True, which="both", axis="y", alpha=0.3)


def time_chart(a, path, rows, johnson, what, ylabel, unit_scale, note):
    fig, ax = plt.subplots(figsize=(9.5, 6), dpi=110)
    sizes = [s for s in SIZES if any(r["size"] == s for r in rows) or s in johnson]
    x = {s: i for i, s in enumerate(sizes)}
    n = {r["size"]: r for r in rows}  # nstyle's figures repeat per peer
    ns = [s for s in sizes if s in n]
    errbar(ax, [x[s] for s in ns], [n[s]["nstyle"] * unit_scale for s in ns],
           [n[s]["nstyle_min"] * unit_scale for s in ns],
           [n[s]["nstyle_max"] * unit_scale for s in ns], color=COLOURS["nstyle"],
           label=f"nstyle ({where(a)})")
    for peer in ("torch", "onnxruntime"):
        pr = [r for r in rows if r["peer"] == peer]
        if pr:
            errbar(ax, [x[r["size"]] for r in pr], [r["peer_median"] * unit_scale for r in pr],
                   [r["peer_min"] * unit_scale for r in pr],
                   [r["peer_max"] * unit_scale for r in pr], color=COLOURS[peer],
                   label=f"{NAMES[peer]} ({where(a)})")
    js = [s for s in sizes if s in johnson]
    ax.plot([x[s] for s in js], [johnson[s] for s in js], "s--", color=COLOURS["johnson"],
            label="Johnson et al. 2016, Table 1 (L-BFGS, Titan X)" if "Gatys" in what
            else "Johnson et al. 2016, Table 1 (Titan X)")
    for s in ns:
        ax.annotate(fmt(n[s]["nstyle"] * unit_scale), (x[s], n[s]["nstyle"] * unit_scale),
                    textcoords="offset points", xytext=(6, -12), fontsize=8,
                    color=COLOURS["nstyle"])
    log_axis(ax)
    ax.set_ylabel(ylabel)
    size_axis(ax, sizes)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title(a, what), fontsize=9)
    what = title(a, what)
    fig.text(0.01, 0.01, note, fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, metadata={"Title": what.replace("\n", " | ")})
    plt.close(fig)


def mem_mib(a, rows):
    """The median over the rounds of the memory figure (None when the program gave none)."""
    key = "rss_mib" if a.device == "cpu" else "dev_mib"
    vals = [r[key] for r in rows if r[key] is not None]
    return statistics.median(vals) if vals else None


def mem_label(a, impl):
    if a.device == "cpu":
        return f"{NAMES[impl]} peak RSS above baseline"
    return {"nstyle": "nstyle tracker peak on the GPU",
            "torch": "PyTorch max_memory_allocated"}.get(impl, f"{NAMES[impl]} (none)")


def memory_chart(a, path, plans, gatys, stylize):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 6), dpi=110)
    x = {s: i for i, s in enumerate(SIZES)}
    ps = [s for s in SIZES if s in plans]
    ax1.plot([x[s] for s in ps], [plans[s] for s in ps], "D-", color=COLOURS["plan"],
             label="nstyle plan (exact, `nstyle plan`)")
    for runs, ax in ((gatys, ax1), (stylize, ax2)):
        for impl in ("nstyle", "torch", "onnxruntime"):
            ss = [s for s in SIZES if (s, impl) in runs and mem_mib(a, runs[(s, impl)])]
            if not ss:
                continue
            ys = [mem_mib(a, runs[(s, impl)]) for s in ss]
            ax.plot([x[s] for s in ss], ys, "o-", color=COLOURS[impl], label=mem_label(a, impl))
    ax1.plot([x["768x512"]], [BRIEF_MEMORY_MIB], "r_", markersize=30, mew=2)
    ax1.annotate("the brief: about 4 GB at 768x512", (x["768x512"], BRIEF_MEMORY_MIB),
                 textcoords="offset points", xytext=(-95, -16), fontsize=8, color="red")
    ax1.set_title("Gatys render (weights, image, Adam state, activations)", fontsize=9)
    ax2.set_title("Fast style, one frame (candy TransformerNet)", fontsize=9)
    for ax in (ax1, ax2):
        log_axis(ax)
        ax.set_ylabel("MiB")
        size_axis(ax, SIZES)
        ax.legend(fontsize=7, loc="upper left")
    ax1.set_ylim(top=2 * BRIEF_MEMORY_MIB)
    if a.device == "cpu":
        what = "Peak memory by size (CPU: resident memory above each process's baseline)"
        note = ("Baseline: the same program started with nothing to do (nstyle's bench program "
                "stopped at its usage line; python with torch or onnxruntime imported). Peak "
                "RSS: the kernel's ru_maxrss of the process, median over the rounds.")
    else:
        what = "Peak GPU memory by size"
        note = ("nstyle: its tracker's peak, the most bytes allocated at once on the GPU (the "
                "JSON summary's memory.peak_bytes.total; the CUDA context and libraries' own "
                "memory not included). PyTorch: torch.cuda.max_memory_allocated (its caching "
                "allocator's reserve not included). onnxruntime gives no figure. Median over "
                "the rounds.")
    what = title(a, what)
    fig.suptitle(what, fontsize=9)
    fig.text(0.01, 0.01, note, fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, metadata={"Title": what.replace("\n", " | ")})
    plt.close(fig)


def ratio_chart(a, path, groups):
    fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
    labels = [g[0] for g in groups]
    width = 0.38
    for k, peer in enumerate(("torch", "onnxruntime")):
        xs, ys, lo, hi = [], [], [], []
        for i, (_, rows) in enumerate(groups):
            r = next((r for r in rows if r["peer"] == peer), None)
            if r:
                xs.append(i + (k - 0.5) * width)
                ys.append(r["ratio"])
                lo.append(r["ratio"] - (r["ratio_min"] if r["ratio_min"] != "" else r["ratio"]))
                hi.append((r["ratio_max"] if r["ratio_max"] != "" else r["ratio"]) - r["ratio"])
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=COLOURS[peer],
                   label=f"{NAMES[peer]} time / nstyle time")
            for xx, yy, h in zip(xs, ys, hi):
                ax.annotate(f"{yy:.2f}", (xx, yy + h), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=8)
    ax.axhline(1.0, color="black", lw=1)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("time ratio, peer / nstyle (above 1: nstyle faster)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    what = title(a, "Speed ratios, median over the rounds (bars: min..max of the per-round "
                    "ratios)")
    ax.set_title(what, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Title": what.replace("\n", " | ")})
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    for name in ("raw", "out", "machine", "versions", "vgg"):
        ap.add_argument("--" + name, required=True)
    for name in ("threads", "rounds", "quick", "stopped", "seconds"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--load", nargs=2, required=True)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()

    gatys, miss_g, base = read_runs(a.raw, "gatys")
    stylize, miss_s, _ = read_runs(a.raw, "stylize")
    train, miss_t, _ = read_runs(a.raw, "train")
    plans = {}
    for s in SIZES:
        p = os.path.join(a.raw, f"plan-{s}.json")
        if os.path.exists(p):
            plans[s] = json.load(open(p))["plan"]["total_bytes"] / 2**20
    g_sum = summarise(gatys, "median_s", 1.0, ["torch"])
    s_sum = summarise(stylize, "median_ms", 1.0, ["torch", "onnxruntime"])
    t_sum = summarise(train, "median_ms", 1.0, ["torch"])

    write_rounds(os.path.join(a.out, "gatys.csv"), gatys,
                 ["impl", "size", "threads", "warmup", "reps", "median_s", "min_s", "q1_s",
                  "q3_s", "max_s", "setup_s"])
    write_rounds(os.path.join(a.out, "stylize.csv"), stylize,
                 ["impl", "size", "threads", "reps", "median_ms", "min_ms", "q1_ms", "q3_ms",
                  "max_ms"])
    write_rounds(os.path.join(a.out, "train.csv"), train, TRAIN_COLS[:1] + TRAIN_COLS[2:])
    with open(os.path.join(a.out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        cols = ["size", "peer", "nstyle", "nstyle_min", "nstyle_max", "peer_median", "peer_min",
                "peer_max", "ratio", "ratio_min", "ratio_max", "rounds"]
        w.writerow(["bench", "unit"] + cols)
        for bench, unit, rows in (("gatys", "s per iteration", g_sum),
                                  ("stylize", "ms per frame", s_sum),
                                  ("train", "ms per step (batch 4)", t_sum)):
            for r in rows:
                w.writerow([bench, unit] + [f"{r[c]:.4g}" if isinstance(r[c], float) else r[c]
                                            for c in cols])
    with open(os.path.join(a.out, "memory.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["bench", "size", "what", "mib"])
        for s, v in plans.items():
            w.writerow(["gatys", s, "nstyle plan", f"{v:.1f}"])
        for bench, runs in (("gatys", gatys), ("stylize", stylize), ("train", train)):
            for (s, impl), rows in sorted(runs.items(), key=lambda k: (pixels(k[0][0]), k[0][1])):
                if mem_mib(a, rows) is not None:
                    w.writerow([bench, s, mem_label(a, impl), f"{mem_mib(a, rows):.1f}"])
        for impl, kib in sorted(base.items()):
            w.writerow(["baseline", "", f"{NAMES[impl]} baseline RSS", f"{kib / 1024:.1f}"])

    layers = ("the brief's defaults: content relu4_2, style relu1_1..relu5_1 (full VGG19, "
              "models/fetch-vgg19.sh)" if a.vgg == "full" else
              "content relu3_2, style relu1_1,relu2_1,relu3_1 (the partial VGG19 of "
              "../shared/data: conv1_1..conv3_4; not the brief's default layers)")
    g_note = (f"Adam lr 0.01, {layers}, random pixels. Each iteration timed after the warm-up "
              "ones; 300 iterations = 300 x the median iteration (extrapolated, not run). "
              "Johnson et al.'s figures are L-BFGS on a GTX Titan X GPU. Error bars: min..max "
              "of the rounds' medians.")
    s_note = ("candy TransformerNet, batch 1, random pixels, uint8 in and out for nstyle; "
              "onnxruntime runs the same network exported to ONNX by Debian's torch (opset 13). "
              "Warm-up frame first. Error bars: min..max of the rounds' medians.")
    if a.device == "cuda":
        s_note = s_note.replace("Debian's torch", "torch")
        g_note = g_note.replace("Johnson", "nstyle and PyTorch: TF32 convolutions, fp32 "
                                "matmul. Johnson")
        s_note += (" TF32 convolutions, fp32 matmul; host copies in and out timed." +
                   ("" if any(r["peer"] == "onnxruntime" for r in s_sum) else
                    " onnxruntime left out: no onnxruntime-gpu with its CUDAExecutionProvider "
                    "here."))
    time_chart(a, os.path.join(a.out, "gatys.png"),
               [dict(r, nstyle=r["nstyle"] * 300, nstyle_min=r["nstyle_min"] * 300,
                     nstyle_max=r["nstyle_max"] * 300, peer_median=r["peer_median"] * 300,
                     peer_min=r["peer_min"] * 300, peer_max=r["peer_max"] * 300) for r in g_sum],
               JOHNSON_GATYS, "Gatys render, 300 iterations (extrapolated)", "seconds", 1.0,
               g_note)
    time_chart(a, os.path.join(a.out, "stylize.png"), s_sum, JOHNSON_FAST,
               "Fast style (feed-forward TransformerNet), one frame", "seconds per frame", 1e-3,
               s_note)
    memory_chart(a, os.path.join(a.out, "memory.png"), plans, gatys, stylize)
    groups = ([(f"Gatys iteration {r['size']}", [r]) for r in g_sum]
              + [(f"stylize {s}", [r for r in s_sum if r["size"] == s])
                 for s in sorted({r["size"] for r in s_sum}, key=pixels)]
              + [("train step, batch 4, 256x256", t_sum)] * bool(t_sum))
    ratio_chart(a, os.path.join(a.out, "ratios.png"), groups)

    # summary.md
    day = datetime.date.today().isoformat()
    lines = ["# Timing charts: nstyle against PyTorch and onnxruntime", "",
             f"{a.machine}; " + (f"{a.threads} threads each; " if a.device == "cpu" else "")
             + f"{precision(a)}; {day}; {a.versions}. "
             f"Written by `scripts/timing-charts.sh{' --quick' if a.quick else ''}` in "
             f"{a.seconds // 60} min {a.seconds % 60} s: {a.rounds} alternating round(s) (odd "
             "rounds nstyle first, even rounds the peers first); load average "
             f"{a.load[0]} before, {a.load[1]} after.", ""]
    if a.stopped:
        lines += ["**Stopped by a signal before the last round: the figures are those of the "
                  "rounds that finished.**", ""]
    lines += [f"Gatys render: {g_note}", "", f"Fast style: {s_note}", "",
              "Training step: batch 4 of 256x256, nstyle's with VGG19 "
              + ("(fetched) style layers relu1_2,relu2_2,relu3_4,relu4_4" if a.vgg == "full"
                 else "(partial) style layers relu1_2,relu2_2,relu3_4")
              + ", PyTorch's with random VGG19 weights of the same shapes; Adam lr 1e-3.", "",
              "Figures: the median over the rounds of each round's median (min..max of the "
              "rounds' medians); ratio = peer / nstyle (above 1: nstyle faster), with the "
              "min..max of the per-round ratios.", "",
              "| what | size | nstyle | peer | peer's | ratio |", "|---|---|---:|---|---:|---:|"]
    for bench, unit, rows in (("Gatys, s per iteration", 1, g_sum),
                              ("stylize, ms per frame", 1, s_sum),
                              ("train, ms per step", 1, t_sum)):
        for r in rows:
            rng = (f" ({r['ratio_min']:.2f}..{r['ratio_max']:.2f})" if r["ratio_min"] != ""
                   else "")
            lines.append(f"| {bench} | {r['size']} | {fmt(r['nstyle'])} ({fmt(r['nstyle_min'])}.."
                         f"{fmt(r['nstyle_max'])}) | {NAMES[r['peer']]} | {fmt(r['peer_median'])} "
                         f"({fmt(r['peer_min'])}..{fmt(r['peer_max'])}) | **{r['ratio']:.2f}**"
                         f"{rng} |")
    mem = ("peak resident memory above each process's baseline" if a.device == "cpu" else
           "peak on the GPU: nstyle's tracker, PyTorch's max_memory_allocated")
    col = "RSS" if a.device == "cpu" else "GPU"
    lines += ["", f"Memory (MiB; {mem}, median of the rounds; the render's plan is exact): see "
              "memory.csv.", ""]
    lines += [f"| what | size | nstyle plan | nstyle {col} | PyTorch {col} | onnxruntime {col} |",
              "|---|---|---:|---:|---:|---:|"]
    for bench, runs in (("Gatys", gatys), ("stylize", stylize), ("train", train)):
        for s in sorted({k[0] for k in runs} | (set(plans) if bench == "Gatys" else set()),
                        key=pixels):
            cells = [f"{plans[s]:.0f}" if bench == "Gatys" and s in plans else ""]
            for impl in ("nstyle", "torch", "onnxruntime"):
                m = mem_mib(a, runs.get((s, impl), []))
                cells.append(f"{m:.0f}" if m is not None else "")
            lines.append(f"| {bench} | {s} | " + " | ".join(cells) + " |")
    if miss_g + miss_s + miss_t:
        lines += ["", "Left out:", ""] + [f"- {m}" for m in miss_g + miss_s + miss_t]
    lines += ["", "Charts: [gatys.png](gatys.png), [stylize.png](stylize.png), "
              "[memory.png](memory.png), [ratios.png](ratios.png); every round in gatys.csv, "
              "stylize.csv, train.csv; the medians and ratios in summary.csv.", ""]
    open(os.path.join(a.out, "summary.md"), "w").write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
