#!/usr/bin/env bash
# A real tiled stylize of a large image on the CPU: `nstyle stylize --tile TILE` on chelsea.png
# (../shared/data) resized to SIZE, under /usr/bin/time -v. Writes OUT_DIR/stylize_tiled_SIZE.md
# with the CPU, the load average, the tiling and plan from the run's --json (per tile, and the
# untiled plan of the same image), the process's peak resident memory and the wall time, and
# the run's output as stylize_tiled_SIZE.log. While it runs, stylize_tiled_SIZE.progress gets
# the window passes done, the seconds so far and the peak resident memory so far (VmHWM) once a
# minute.
#   bench/stylize_tiled.sh [BUILD_DIR] [MODEL] [OUT_DIR]
# Environment: SIZE (8192x8192), TILE (1024), THREADS (all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-../shared/data/models/fast/candy.safetensors}
out=${3:-bench/results}
size=${SIZE:-8192x8192}
tile=${TILE:-1024}
threads=${THREADS:-$(nproc)}
photo=../shared/data/images/content/chelsea.png
[[ -f $photo && -f $model ]] || { echo "stylize_tiled.sh: needs $photo and $model" >&2; exit 77; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/nstyle" convert "$photo" "$tmp/in.png" --resize "$size" >/dev/null
progress=$out/stylize_tiled_$size.progress
: >"$progress"
start=$(date +%s)
/usr/bin/time -v -o "$tmp/time.txt" "$build/nstyle" stylize -m "$model" -i "$tmp/in.png" \
  -o "$tmp/out.png" --tile "$tile" --threads "$threads" --json "$tmp/run.json" \
  >"$tmp/summary.txt" 2>"$tmp/log.txt" &
timer=$!
while kill -0 "$timer" 2>/dev/null; do
  sleep 60
  nst=$(pgrep -P "$timer" || true)
  hwm=$( [[ -n $nst ]] && grep VmHWM "/proc/$nst/status" 2>/dev/null | awk '{print $2}' || true)
  pass=$(tr '\r' '\n' <"$tmp/log.txt" | grep -o 'window pass [0-9]*/[0-9]*' | tail -1 || true)
  echo "$(($(date +%s) - start)) s, ${pass:-no pass yet}, VmHWM ${hwm:-?} kB, load $(cut -d' ' \
    -f1-3 /proc/loadavg)" >>"$progress"
done
rc=0
wait "$timer" || rc=$?
tr '\r' '\n' <"$tmp/log.txt" | cat - "$tmp/summary.txt" >"$out/stylize_tiled_$size.log"
if [[ $rc -ne 0 ]]; then
  echo "stylize_tiled.sh: nstyle failed ($rc)" >&2
  cat "$tmp/log.txt" >&2
  exit 1
fi
num() { grep -o "\"$1\": [0-9.]*" "$tmp/run.json" | head -1 | awk '{print $2}'; }
rss_kb=$(grep 'Maximum resident set size' "$tmp/time.txt" | awk '{print $NF}')
wall=$(grep 'Elapsed (wall clock)' "$tmp/time.txt" | awk '{print $NF}')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
{
  echo "# Tiled stylize of a ${size} image on the CPU"
  echo
  echo "\`bench/stylize_tiled.sh\` ($(date -u +%Y-%m-%d)): candy, chelsea.png resized to ${size},"
  echo "\`--tile ${tile} --threads ${threads}\`."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores |"
  echo "| load average at the end | $(cut -d' ' -f1-3 /proc/loadavg) |"
  echo "| tiles | $(num across) x $(num down) of $(num tile) px, windows $(num window_width) x" \
    "$(num window_height), $(num window_passes) window passes |"
  echo "| plan per tile | $(mib "$(num plan_bytes_per_tile)") MiB |"
  echo "| untiled plan of the same image | $(mib "$(num untiled_plan_bytes)") MiB |"
  echo "| 8-bit image in and out | $(mib "$(num image_bytes)") MiB |"
  rss=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
  echo "| peak resident memory (/usr/bin/time -v) | $rss MiB |"
  echo "| wall time | ${wall} |"
} >"$out/stylize_tiled_$size.md"
cat "$out/stylize_tiled_$size.md"
