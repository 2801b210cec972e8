#!/usr/bin/env bash
# Fast-style ms per frame: nstyle's TransformerNet (bench/bench_stylize.c) against the same
# network in PyTorch (bench/peer_stylize.py, Debian's python3-torch, oneDNN on the CPU) with the
# same weights, size, batch and threads. The two programs alternate ROUNDS times so drift in the
# machine's load hits both alike; each round times REPS frames after a warm-up frame, and the
# table takes the median over the rounds of each side's per-round median.
#   bench/stylize_vs_torch.sh [BUILD_DIR] [THREADS] [ROUNDS] [MODEL] [SIZE] [OUT_DIR]
# Defaults: build, all cores, 3 rounds, ../shared/data/models/fast/candy.safetensors, 768x512,
# bench/results. Writes OUT_DIR/stylize.md and stylize.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
rounds=${3:-3}
model=${4:-../shared/data/models/fast/candy.safetensors}
size=${5:-768x512}
out=${6:-bench/results}
reps=${REPS:-3}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# OpenBLAS picks slow generic kernels on CPU models it does not know; the nstyle CLI then runs
# with the ones the CPU's features allow, and `nstyle info` names them: the benchmark uses the
# same (bench programs do not re-exec themselves).
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')}
export OPENBLAS_CORETYPE
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
  "$build/bench_stylize" --model "$model" --size "$size" --threads "$threads" --reps "$reps" \
      --csv "$tmp/nstyle-$r.csv"
  /usr/bin/python3 bench/peer_stylize.py --model "$model" --size "$size" --threads "$threads" \
      --reps "$reps" --csv "$tmp/torch-$r.csv"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$tmp" "$out" "$threads" "$rounds" "$reps" "$model" "$load_before" "$load_after" <<'PY'
import csv, glob, os, statistics, sys
tmp, out, threads, rounds, reps, model, load0, load1 = sys.argv[1:]
rows = {"nstyle": [], "torch": []}
for path in sorted(glob.glob(os.path.join(tmp, "*.csv"))):
    for r in csv.DictReader(open(path)):
        rows[r["impl"]].append(r)
size = rows["nstyle"][0]["size"]
med = {k: statistics.median(float(r["median_ms"]) for r in v) for k, v in rows.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ratio = med["torch"] / med["nstyle"]
with open(os.path.join(out, "stylize.csv"), "w") as f:
    w = csv.writer(f)
    w.writerow(["round", "impl", "median_ms", "min_ms", "max_ms"])
    for k, v in rows.items():
        for i, r in enumerate(v):
            w.writerow([i + 1, k, r["median_ms"], r["min_ms"], r["max_ms"]])
lines = [f"# Fast style: ms per {size} frame, nstyle vs PyTorch (CPU)", "",
         f"Machine: {cpu}, {os.cpu_count()} cores; {threads} threads each; "
         f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
         f"load average {load0} before, {load1} after.",
         f"Model: {os.path.basename(model)}; batch 1; {rounds} alternating rounds of {reps} timed "
         f"frames after one warm-up frame each. Written by bench/stylize_vs_torch.sh.", "",
         "| round | nstyle median ms (min..max) | PyTorch median ms (min..max) |", "|---|---:|---:|"]
for i in range(len(rows["nstyle"])):
    a, b = rows["nstyle"][i], rows["torch"][i]
    lines.append(f"| {i + 1} | {float(a['median_ms']):.0f} ({float(a['min_ms']):.0f}..{float(a['max_ms']):.0f}) "
                 f"| {float(b['median_ms']):.0f} ({float(b['min_ms']):.0f}..{float(b['max_ms']):.0f}) |")
lines += ["", f"Median of the rounds: nstyle {med['nstyle']:.0f} ms, PyTorch {med['torch']:.0f} ms "
          f"per frame; time ratio PyTorch / nstyle = **{ratio:.2f}** (above 1: nstyle faster).", ""]
open(os.path.join(out, "stylize.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
