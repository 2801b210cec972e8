#!/usr/bin/env bash
# CPU ms per training step: nstyle's (bench/bench_train.c, nst_trainer_step_on) against the same
# step in PyTorch (bench/peer_train.py, Debian's python3-torch): TransformerNet forward, VGG19 on
# the output and the batch, content and Gram style losses, both backwards and Adam (lr 1e-3),
# same batch, crop size, layers and threads. The two alternate ROUNDS times in this one run so
# drift in the machine's load hits both alike; each round times REPS steps after a warm-up step,
# and the table takes the median over the rounds of each side's per-round median.
#   bench/train_vs_torch.sh [BUILD_DIR] [THREADS] [ROUNDS] [SIZE] [BATCH] [OUT_DIR]
# Defaults: build, all cores, 3 rounds, 256, 4, bench/results. Weights: $VGG, else the fetched
# ~/.cache/nstyle/vgg19-imagenet-caffe-q8.safetensors with train's default style layers
# (relu1_2,relu2_2,relu3_4,relu4_4), else the partial VGG19 of ../shared/data with
# relu1_2,relu2_2,relu3_4 (STYLE_LAYERS overrides). Writes OUT_DIR/train.md and train.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-$(nproc)}
rounds=${3:-3}
size=${4:-256}
batch=${5:-4}
out=${6:-bench/results}
reps=${REPS:-3}
python=/usr/bin/python3
vgg=${VGG:-$HOME/.cache/nstyle/vgg19-imagenet-caffe-q8.safetensors}
layers=relu1_2,relu2_2,relu3_4,relu4_4
if [[ ! -r $vgg ]]; then
  vgg=../shared/data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
  layers=relu1_2,relu2_2,relu3_4
fi
layers=${STYLE_LAYERS:-$layers}
for f in "$build/bench_train" "$build/nstyle" "$vgg"; do
  [[ -r $f ]] || { echo "train_vs_torch.sh: $f is missing (build it, or fetch VGG19 with models/fetch-vgg19.sh)" >&2; exit 1; }
done
"$python" -c 'import torch' 2>/dev/null ||
  { echo "train_vs_torch.sh: $python has no torch (apt-get install python3-torch)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# as bench/stylize_vs_torch.sh: the OpenBLAS kernels `nstyle info` names
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')}
export OPENBLAS_CORETYPE
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
  "$build/bench_train" --vgg "$vgg" --size "$size" --batch "$batch" --threads "$threads" \
      --style-layers "$layers" --reps "$reps" --csv "$tmp/nstyle-$r.csv"
  "$python" bench/peer_train.py --size "$size" --batch "$batch" --threads "$threads" \
      --style-layers "$layers" --reps "$reps" --csv "$tmp/torch-$r.csv"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
"$python" - "$tmp" "$out" "$threads" "$rounds" "$reps" "$vgg" "$layers" "$load_before" "$load_after" <<'PY'
import csv, glob, os, statistics, sys
tmp, out, threads, rounds, reps, vgg, layers, load0, load1 = sys.argv[1:]
cols = ["impl", "size", "batch", "threads", "reps", "median_ms", "min_ms", "q1_ms", "q3_ms", "max_ms"]
rows = {"nstyle": [], "torch": []}
for path in sorted(glob.glob(os.path.join(tmp, "*.csv")), key=lambda p: int(p.rsplit("-", 1)[1][:-4])):
    for r in csv.DictReader(open(path), fieldnames=cols):
        rows[r["impl"]].append(r)
size, batch = rows["nstyle"][0]["size"], rows["nstyle"][0]["batch"]
med = {k: statistics.median(float(r["median_ms"]) for r in v) for k, v in rows.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ratio = med["torch"] / med["nstyle"]
with open(os.path.join(out, "train.csv"), "w") as f:
    w = csv.writer(f)
    w.writerow(["round"] + cols)
    for k, v in rows.items():
        for i, r in enumerate(v):
            w.writerow([i + 1] + [r[c] for c in cols])
lines = [f"# Training: ms per step, batch {batch} of {size}x{size} crops, nstyle vs PyTorch (CPU)", "",
         f"Machine: {cpu}, {os.cpu_count()} cores; {threads} threads each; "
         f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
         f"load average {load0} before, {load1} after.",
         f"VGG19: {os.path.basename(vgg)} for nstyle, random weights of the same shapes for PyTorch; "
         f"content relu2_2, style {layers}; Adam lr 1e-3. {rounds} alternating rounds of {reps} "
         f"timed steps after one warm-up step each. Written by bench/train_vs_torch.sh.", "",
         "| round | nstyle median ms (min..max) | PyTorch median ms (min..max) | PyTorch / nstyle |",
         "|---|---:|---:|---:|"]
for i in range(len(rows["nstyle"])):
    a, b = rows["nstyle"][i], rows["torch"][i]
    lines.append(f"| {i + 1} | {float(a['median_ms']):.0f} ({float(a['min_ms']):.0f}..{float(a['max_ms']):.0f}) "
                 f"| {float(b['median_ms']):.0f} ({float(b['min_ms']):.0f}..{float(b['max_ms']):.0f}) "
                 f"| {float(b['median_ms']) / float(a['median_ms']):.2f} |")
lines += ["", f"Median of the rounds: nstyle {med['nstyle']:.0f} ms, PyTorch {med['torch']:.0f} ms "
          f"per step; time ratio PyTorch / nstyle = **{ratio:.2f}** (above 1: nstyle faster).", ""]
open(os.path.join(out, "train.md"), "w").write("\n".join(lines))
print("\n".join(lines))
PY
