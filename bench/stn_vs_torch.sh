#!/usr/bin/env bash
# Spatial transformer forward + backward, ms per call: nstyle (bench/bench_stn.c) against the
# same module in PyTorch (bench/peer_stn.py, Debian's python3-torch) at the same size, channel
# counts and threads. The two programs alternate ROUNDS times so drift in the machine's load
# hits both alike; the table takes the median over the rounds of each side's per-round median.
#   bench/stn_vs_torch.sh [BUILD_DIR] [THREADS[,THREADS...]] [ROUNDS] [SIZE] [CHANNELS] [OUT_DIR]
# Defaults: build, all cores, 3 rounds, 768x512, 3,64, bench/results. Writes OUT_DIR/stn.md and
# stn.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads_list=${2:-$(nproc)}
rounds=${3:-3}
size=${4:-768x512}
channels=${5:-3,64}
out=${6:-bench/results}
reps=${REPS:-7}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the OpenBLAS kernels the nstyle CLI would pick (bench programs do not re-exec themselves)
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')}
export OPENBLAS_CORETYPE
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for t in ${threads_list//,/ }; do
  for r in $(seq "$rounds"); do
    "$build/bench_stn" --size "$size" --channels "$channels" --threads "$t" --reps "$reps" \
        --csv "$tmp/nstyle-$t-$r.csv"
    /usr/bin/python3 bench/peer_stn.py --size "$size" --channels "$channels" --threads "$t" \
        --reps "$reps" --csv "$tmp/torch-$t-$r.csv"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$tmp" "$out" "$rounds" "$reps" "$load_before" "$load_after" <<'PY'
import csv, glob, os, statistics, sys
tmp, out, rounds, reps, load0, load1 = sys.argv[1:]
rows = {}
for path in sorted(glob.glob(os.path.join(tmp, "*.csv"))):
    for r in csv.DictReader(open(path)):
        rows.setdefault((int(r["threads"]), int(r["channels"]), r["size"]), {}).setdefault(r["impl"], []).append(r)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
with open(os.path.join(out, "stn.csv"), "w") as f:
    w = csv.writer(f)
    w.writerow(["threads", "size", "channels", "round", "impl", "median_ms", "min_ms", "max_ms"])
    for (t, c, s), v in sorted(rows.items()):
        for impl, rs in v.items():
            for i, r in enumerate(rs):
                w.writerow([t, s, c, i + 1, impl, r["median_ms"], r["min_ms"], r["max_ms"]])
lines = ["# Spatial transformer: forward + backward ms, nstyle vs PyTorch (CPU)", "",
         f"Machine: {cpu}, {os.cpu_count()} cores; "
         f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
         f"load average {load0} before, {load1} after.",
         f"One call: resample to 48x48, localisation network, affine grid, bilinear sampler (zeros), "
         f"and the backward to the input and every weight; batch 1. {rounds} alternating rounds of "
         f"{reps} timed calls after warm-up. Written by bench/stn_vs_torch.sh.", "",
         "| size x channels | threads | nstyle ms: median of rounds (round medians; min..max) | "
         "PyTorch ms: median of rounds (round medians; min..max) | PyTorch / nstyle |",
         "|---|---:|---:|---:|---:|"]
def cell(rs):
    meds = [float(r["median_ms"]) for r in rs]
    lo = min(float(r["min_ms"]) for r in rs)
    hi = max(float(r["max_ms"]) for r in rs)
    return statistics.median(meds), f"{statistics.median(meds):.1f} ({', '.join(f'{m:.0f}' for m in meds)}; {lo:.0f}..{hi:.0f})"
for (t, c, s), v in sorted(rows.items(), key=lambda k: (k[0][1], k[0][0])):
    a, ta = cell(v["nstyle"])
    b, tb = cell(v["torch"])
    lines.append(f"| {s}x{c} | {t} | {ta} | {tb} | **{b / a:.2f}** |")
lines += ["", "Ratio above 1: nstyle faster.", ""]
open(os.path.join(out, "stn.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
