#!/usr/bin/env bash
# The soak (docs/hardening.md), on synthetic weights and 64x48 images
# (tests/scripts/synthetic_models.py), each part in one process:
#  1. `nstyle stylize` on a folder of 2,000 frames, its resident memory (VmRSS), open file
#     descriptors and threads read from /proc/PID every 0.2 s (compared from the first sample
#     after a tenth of the frames, when the pipeline's threads run, to the last before the end);
#     the last frame's input is the first one's, and the two outputs must be the same bytes;
#  2. bench_soak stylize: 2,000 frames through nst_stylize_images;
#  3. bench_soak render: 200 renders through nst_render_gatys (5 iterations each).
# Prints the slope of the resident memory (least squares after the first tenth), the fds and
# threads at the first and last sample, and whether the first and last outputs are equal; with
# --report FILE writes that in Markdown too. Exits 1 when an output differs, or the fds or
# threads grew.
#   scripts/soak.sh BUILD_DIR [--frames N] [--renders N] [--report FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "$1")
shift
frames=2000 renders=200 report=
while [[ $# -gt 0 ]]; do
  case $1 in
    --frames) frames=$2; shift 2 ;;
    --renders) renders=$2; shift 2 ;;
    --report) report=$(realpath -m "$2"); shift 2 ;;
    *) echo "soak.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
[[ -x $py ]] || py=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir data frames
$py "$root/tests/scripts/synthetic_models.py" data >/dev/null
for i in $(seq 1 "$frames"); do
  ln "$work/data/content_$((i % 4)).png" "frames/frame_$(printf %05d "$i").png"
done
ln -f "$work/data/content_1.png" "frames/frame_$(printf %05d "$frames").png"
fail=0
# 1. the CLI
"$build/nstyle" stylize -m data/tn.safetensors -i frames -o styled --threads 1 --quiet &
pid=$!
: >samples.csv
while kill -0 "$pid" 2>/dev/null; do
  rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
  thr=$(sed -n 's/^Threads:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
  done=$(ls styled 2>/dev/null | wc -l)
  [[ -n $rss && -n $thr ]] && echo "$done,$rss,$fds,$thr" >>samples.csv
  sleep 0.2
done
wait "$pid" || { echo "soak: nstyle stylize failed"; exit 1; }
first=styled/frame_00001.png last=styled/frame_$(printf %05d "$frames").png
same=no
cmp -s "$first" "$last" && same=yes
# frames done (x) against resident KiB (y), after the first tenth of the frames
cli=$(awk -F, -v n="$frames" '
  $1 >= n / 10 && $1 < n { k++; sx += $1; sy += $2; sxx += $1 * $1; sxy += $1 * $2
                           if (k == 1) { r0 = $2; f0 = $3; t0 = $4 }
                           r1 = $2; f1 = $3; t1 = $4 }
  END { s = k > 1 ? (k * sxy - sx * sy) / (k * sxx - sx * sx) * 1000 : 0
        printf "%.1f KiB per 1000 frames (%d samples; %d -> %d KiB)|%d -> %d|%d -> %d", s, k,
               r0, r1, f0, f1, t0, t1 }' samples.csv)
IFS='|' read -r cli_slope cli_fds cli_thr <<<"$cli"
echo "soak: nstyle stylize, $frames frames: resident memory $cli_slope; fds $cli_fds;" \
     "threads $cli_thr; the last frame equals the first: $same"
[[ $same == yes ]] || fail=1
[[ $(echo "$cli_fds" | awk '{print ($3 > $1)}') == 0 ]] || fail=1
[[ $(echo "$cli_thr" | awk '{print ($3 > $1)}') == 0 ]] || fail=1
# 2. and 3. the library
lib_s=$("$build/bench_soak" stylize --model data/tn.safetensors --content data/content_0.png \
        --count "$frames") || fail=1
echo "$lib_s"
lib_r=$("$build/bench_soak" render --model data/vgg.safetensors --content data/content_0.png \
        --style data/style_0.png --count "$renders" --iterations 5) || fail=1
echo "$lib_r"
if [[ -n $report ]]; then
  {
    echo "$(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores" \
         "(a machine shared with other work)"
    echo
    echo "| part | resident memory slope | fds first -> last | threads first -> last |" \
         "last output = first |"
    echo "| --- | --- | --- | --- | --- |"
    echo "| nstyle stylize, $frames frames (sampled every 0.2 s) | $cli_slope | $cli_fds |" \
         "$cli_thr | $same |"
    for out in "$lib_s" "$lib_r"; do
      echo "$out" | awk '
        NR == 1 { what = $0 } /^resident/ { sub(/^resident memory: /, ""); mem = $0 }
        /^file/ { split($0, a, /[:;] /); fds = a[2]; thr = a[4] }
        /^the last/ { same = $NF }
        END { printf "| bench_soak %s | %s | %s | %s | %s |\n", what, mem, fds, thr, same }'
    done
  } >"$report"
fi
[[ $fail == 0 ]] && echo "soak: passed" || echo "soak: FAILED"
exit $fail
