#!/usr/bin/env bash
# Our CPU conv2d against OpenBLAS sgemm and PyTorch's CPU conv (oneDNN), same machine, same
# thread count, same run: the two programs alternate ROUNDS times so drift in the machine's load
# hits both alike, and the table takes each row's median over the rounds.
#   bench/cpu_conv_vs_torch.sh [BUILD_DIR] [THREADS] [ROUNDS] [OUT_DIR]
# Needs /usr/bin/python3 with torch (Debian python3-torch) and matplotlib for the chart.
# Writes OUT_DIR/cpu_conv.csv, cpu_conv.md and cpu_conv.png.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
rounds=${3:-3}
out=${4:-bench/results}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# OpenBLAS picks slow generic kernels on CPU models it does not know; use the fast ones the
# CPU's features allow, as the nstyle CLI does (bench programs do not re-exec themselves).
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
for r in $(seq "$rounds"); do
  "$build/bench_cpu_ops" --quick --threads "$threads" --csv "$tmp/ours-$r.csv" >/dev/null
  /usr/bin/python3 bench/peer_cpu_conv.py --quick --threads "$threads" --csv "$tmp/torch-$r.csv" >/dev/null
done
/usr/bin/python3 - "$tmp" "$out" "$threads" "$rounds" <<'PY'
import csv, glob, os, statistics, sys
tmp, out, threads, rounds = sys.argv[1:]
rows = {}
for path in sorted(glob.glob(os.path.join(tmp, "*.csv"))):
    for r in csv.DictReader(open(path)):
        rows.setdefault((r["op"], r["shape"]), []).append((float(r["median_ms"]), float(r["gflops"])))
med = {k: (statistics.median(m for m, _ in v), statistics.median(g for _, g in v)) for k, v in rows.items()}
kinds = [("forward", "conv2d_forward", "sgemm (fwd shape)", "torch conv2d_forward"),
         ("backward-data", "conv2d_backward_data", "sgemm (bwd-data shape)", "torch conv2d_backward_data"),
         ("backward-filter", "conv2d_backward_filter", "sgemm (bwd-filter shape)", "torch conv2d_backward_filter")]
shape = next(s for (_, s) in med)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
machine = f"{cpu}, {os.cpu_count()} cores"
lines = [f"conv2d {shape}, {threads} threads, median of {rounds} alternating rounds "
         f"(OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'auto')})", f"machine: {machine}", "",
         "| pass | nstyle ms | nstyle GFLOP/s | OpenBLAS sgemm GFLOP/s | PyTorch ms | PyTorch GFLOP/s | PyTorch / nstyle time |",
         "|---|---|---|---|---|---|---|"]
table = []
for name, ours, gemm, torch in kinds:
    o, g, t = med[(ours, shape)], med[(gemm, shape)], med[(torch, shape)]
    table.append((name, o, g, t))
    lines.append(f"| {name} | {o[0]:.1f} | {o[1]:.0f} | {g[1]:.0f} | {t[0]:.1f} | {t[1]:.0f} | {t[0] / o[0]:.2f} |")
open(os.path.join(out, "cpu_conv.md"), "w").write("\n".join(lines) + "\n")
with open(os.path.join(out, "cpu_conv.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["pass", "nstyle_ms", "nstyle_gflops", "sgemm_gflops", "torch_ms", "torch_gflops"])
    for name, o, g, t in table:
        w.writerow([name, o[0], o[1], g[1], t[0], t[1]])
print("\n".join(lines))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    xs = range(len(table))
    width = 0.27
    for i, (label, idx) in enumerate([("nstyle (im2col + sgemm)", 0), ("OpenBLAS sgemm alone", 1), ("PyTorch CPU (oneDNN)", 2)]):
        vals = [r[1][1] if idx == 0 else r[2][1] if idx == 1 else r[3][1] for r in table]
        ax.bar([x + (i - 1) * width for x in xs], vals, width, label=label)
    ax.set_xticks(list(xs), [r[0] for r in table])
    ax.set_ylabel("GFLOP/s (higher is better)")
    ax.set_title(f"CPU conv2d 64->64 3x3, 256x256, {threads} threads\n{machine}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cpu_conv.png"))
except ImportError:
    print("matplotlib missing: no chart")
PY
