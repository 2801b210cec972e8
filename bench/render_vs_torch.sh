#!/usr/bin/env bash
# Whole-render time per iteration on the CPU: `nstyle render` against the same Gatys loop in
# Debian's PyTorch (bench/peer_render_loop.py), same weights (the partial VGG19 of
# ../shared/data: conv1_1..conv3_4), same layers (content relu3_2; style relu1_1, relu2_1,
# relu3_1), same images (astronaut.png in the style of starry_night.jpg), same thread count,
# at 256x256 and 512x512. The two run alternately, ROUNDS times, in this one script, so both see
# the same machine; each figure is the median over the rounds with its min..max, and the ratio
# is PyTorch's s/iter over nstyle's (above 1: nstyle faster).
#   bench/render_vs_torch.sh [BUILD] [THREADS] [ROUNDS] [OUT]
#   (defaults: build, 2, 3, bench/results/render.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
rounds=${3:-3}
out=${4:-bench/results/render.md}
data=../shared/data
weights=$data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
content=$data/images/content/astronaut.png
style=$data/images/style/starry_night.jpg
python=/usr/bin/python3
for f in "$build/nstyle" "$weights" "$content" "$style"; do
  [[ -r $f ]] || { echo "render_vs_torch.sh: $f is missing" >&2; exit 1; }
done
"$python" -c 'import torch' 2>/dev/null ||
  { echo "render_vs_torch.sh: $python has no torch (apt-get install python3-torch)" >&2; exit 1; }

layers=(--content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1)
declare -A iters=([256]=20 [512]=6)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json_field() { "$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

for ((r = 1; r <= rounds; r++)); do
  for size in 256 512; do
    "$build/nstyle" render -c "$content" -s "$style" -o "$tmp/out.png" --model "$weights" \
      --size "$size" --iters "${iters[$size]}" --device cpu --threads "$threads" "${layers[@]}" \
      --quiet --json "$tmp/nst.json"
    nst=$(json_field "$tmp/nst.json" s_per_iter)
    torch=$("$python" bench/peer_render_loop.py --weights "$weights" --content "$content" \
      --style "$style" --size "$size" --iters "${iters[$size]}" --threads "$threads" |
      "$python" -c 'import json, sys; print(json.load(sys.stdin)["s_per_iter"])')
    echo "$size $nst $torch" >> "$tmp/runs"
    printf 'round %d, %dx%d: nstyle %.3f s/iter, PyTorch %.3f s/iter\n' "$r" "$size" "$size" \
      "$nst" "$torch"
  done
done

mkdir -p "$(dirname "$out")"
"$python" - "$tmp/runs" "$out" "$threads" "$rounds" <<'EOF'
import os, platform, statistics, sys, torch
runs, out, threads, rounds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for line in open(runs):
    size, nst, tor = line.split()
    by.setdefault(int(size), []).append((float(nst), float(tor)))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
           platform.processor())
lines = ["# Gatys render, s/iteration on the CPU: nstyle against PyTorch", "",
         f"{cpu}, {os.cpu_count()} logical CPUs; {threads} threads each; PyTorch "
         f"{torch.__version__} (Debian python3-torch); {rounds} alternating rounds "
         "(bench/render_vs_torch.sh). Partial VGG19 (conv1_1..conv3_4, ../shared/data), content "
         "relu3_2, style relu1_1, relu2_1, relu3_1, Adam lr 0.01, astronaut.png styled by "
         "starry_night.jpg. s/iter = the iterations' time over their count (setup excluded), "
         "median of the rounds (min..max).", "",
         "| size | nstyle s/iter | PyTorch s/iter | PyTorch / nstyle |", "|---|---|---|---|"]
for size in sorted(by):
    n = [a for a, _ in by[size]]
    t = [b for _, b in by[size]]
    ratios = [b / a for a, b in by[size]]
    lines.append(f"| {size}x{size} | {statistics.median(n):.3f} ({min(n):.3f}..{max(n):.3f}) | "
                 f"{statistics.median(t):.3f} ({min(t):.3f}..{max(t):.3f}) | "
                 f"{statistics.median(ratios):.2f} ({min(ratios):.2f}..{max(ratios):.2f}) |")
lines += ["", "Above 1: nstyle is faster. The goal is 1.5.", "",
          "Every round, in the order run (s/iter):", "", "| size | nstyle | PyTorch |",
          "|---|---|---|"]
for line in open(runs):
    size, nst, tor = line.split()
    lines.append(f"| {size}x{size} | {float(nst):.3f} | {float(tor):.3f} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
