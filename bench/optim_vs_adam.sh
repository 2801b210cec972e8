#!/usr/bin/env bash
# L-BFGS against Adam, s per iteration (per loss + gradient evaluation) of the same render on
# the CPU: `nstyle render --json` (s_per_iter: the iterations' time over the evaluations, setup
# excluded) with --optimizer adam, with --optimizer lbfgs (history 100) and no line search, and
# with --optimizer lbfgs --line-search strong-wolfe. The brief's render (the full VGG19 found as
# nstyle render finds it, content relu4_2, style relu1_1..relu5_1) of chelsea.png in the style
# of starry_night.jpg from ../shared/data at SIZE px, ITERS evaluations each. The three run in
# turn, ROUNDS times, so all see the same machine; each figure is the median over the rounds
# (min..max), the ratio L-BFGS s/iter over Adam's of the same round (the target: at most 1.3).
#   bench/optim_vs_adam.sh [BUILD] [THREADS] [ROUNDS] [SIZE] [ITERS] [OUT]
#   (defaults: build, 2, 3, 256, 15, bench/results/lbfgs.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
threads=${2:-2}
rounds=${3:-3}
size=${4:-256}
iters=${5:-15}
out=${6:-bench/results/lbfgs.md}
data=../shared/data
content=$data/images/content/chelsea.png
style=$data/images/style/starry_night.jpg
python=/usr/bin/python3
for f in "$build/nstyle" "$content" "$style"; do
  [[ -r $f ]] || { echo "optim_vs_adam.sh: $f is missing" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=(adam lbfgs lbfgs-wolfe)
declare -A args=([adam]="--optimizer adam" [lbfgs]="--optimizer lbfgs"
                 [lbfgs-wolfe]="--optimizer lbfgs --line-search strong-wolfe")
: >"$tmp/rows"
for ((r = 1; r <= rounds; r++)); do
  for n in "${names[@]}"; do
    # shellcheck disable=SC2086 # args[] are word lists
    "$build/nstyle" render -c "$content" -s "$style" -o "$tmp/out.png" --size "$size" \
      --iters "$iters" --device cpu --threads "$threads" ${args[$n]} --quiet --json "$tmp/$n.json"
  done
  "$python" - "$tmp" "$r" >>"$tmp/rows" <<'PY'
import json, sys
d, r = sys.argv[1], sys.argv[2]
j = {n: json.load(open(f"{d}/{n}.json")) for n in ("adam", "lbfgs", "lbfgs-wolfe")}
print(r, *(f"{j[n]['s_per_iter']:.4f} {j[n]['evaluations']} {j[n]['total_loss']:.6g}"
           for n in j))
PY
  echo "optim_vs_adam.sh: round $r of $rounds: $(tail -n 1 "$tmp/rows")" >&2
done

machine=$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)
"$python" - "$tmp/rows" "$out" "$machine, $(nproc) logical CPUs" "$threads" "$size" \
  "$iters" <<'PY'
import statistics, sys
rows_path, out, machine, threads, size, iters = sys.argv[1:]
rows = [line.split() for line in open(rows_path) if line.strip()]
names = ("adam", "lbfgs", "lbfgs-wolfe")
labels = {"adam": "Adam", "lbfgs": "L-BFGS, no line search",
          "lbfgs-wolfe": "L-BFGS, strong Wolfe"}
spi = {n: [float(r[1 + 3 * k]) for r in rows] for k, n in enumerate(names)}
evals = {n: [int(r[2 + 3 * k]) for r in rows] for k, n in enumerate(names)}
loss = {n: [float(r[3 + 3 * k]) for r in rows] for k, n in enumerate(names)}

def fig(v, f="{:.3f}"):
    return f"{f.format(statistics.median(v))} ({f.format(min(v))}..{f.format(max(v))})"

with open(out, "w") as o:
    o.write("# L-BFGS against Adam: s per evaluation on the CPU\n\n")
    o.write(f"{machine}; {threads} threads; {len(rows)} rounds of the three in turn "
            f"(bench/optim_vs_adam.sh). The brief's render (full VGG19 q8 weights, content "
            f"relu4_2, style relu1_1..relu5_1, content 1 : style 100) of chelsea.png in the "
            f"style of starry_night.jpg at {size} px, {iters} evaluations each; Adam lr 0.01, "
            f"L-BFGS lr 1 and history 100. s/iter = the iterations' time over the evaluations "
            f"(setup excluded), median of the rounds (min..max); the ratio is L-BFGS's over "
            f"Adam's of the same round. Target: at most 1.3.\n\n")
    o.write("| optimiser | s/iter | evaluations | total loss at the end | / Adam |\n")
    o.write("|---|---|---|---|---|\n")
    for n in names:
        ratio = "1" if n == "adam" else fig([a / b for a, b in zip(spi[n], spi["adam"])], "{:.2f}")
        o.write(f"| {labels[n]} | {fig(spi[n])} | {statistics.median(evals[n]):g} | "
                f"{statistics.median(loss[n]):.4g} | {ratio} |\n")
    o.write("\nEvery round, in the order run (s/iter):\n\n| round | " +
            " | ".join(labels[n] for n in names) + " |\n|---|---|---|---|\n")
    for r in rows:
        o.write(f"| {r[0]} | " + " | ".join(r[1 + 3 * k] for k in range(3)) + " |\n")
print(open(out).read())
PY
