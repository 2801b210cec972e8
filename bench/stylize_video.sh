#!/usr/bin/env bash
# A video file through `nstyle stylize -i clip.mp4 -o out.mp4` (ffmpeg on pipes, src/host/cli/
# video.c) against the frames-folder path of docs/stylize.md (ffmpeg to PNGs, nstyle on the
# folder, ffmpeg back to MP4 with the sound), same model, threads and clip: wall seconds of each
# step, the CPU seconds of all its processes (ffmpeg's included), and nstyle's own ms per frame,
# compute only and with decoding and encoding. The clip is
# SECONDS of coffee.png (../shared/data, else ffmpeg's testsrc2) panned at WxH and FPS, with a
# sine as its sound. The two paths alternate ROUNDS times (video first in odd rounds), so drift
# in the machine's load hits both alike.
#   bench/stylize_video.sh [BUILD_DIR] [MODEL] [OUT_DIR]
# Environment: SECONDS_LONG (10), SIZE (768x432), FPS (10), ROUNDS (1), THREADS (all cores).
# Defaults: build, ../shared/data/models/fast/candy.safetensors (else a name nstyle looks up),
# bench/results. Writes OUT_DIR/stylize_video.md.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-../shared/data/models/fast/candy.safetensors}
out=${3:-bench/results}
seconds=${SECONDS_LONG:-10}
size=${SIZE:-768x432}
fps=${FPS:-10}
rounds=${ROUNDS:-1}
threads=${THREADS:-$(nproc)}
w=${size%x*}
h=${size#*x}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
photo=../shared/data/images/content/coffee.png
if [[ -f $photo ]]; then
  src=(-loop 1 -framerate "$fps" -i "$photo")
  vf="scale=$((2 * w)):-2,crop=$w:$h:x='t*($w/$seconds)':y=(ih-$h)/2"
else
  src=(-f lavfi -i "testsrc2=size=${size}:rate=$fps")
  vf=null
fi
ffmpeg -nostdin -v error -y "${src[@]}" -f lavfi -i "sine=frequency=330:sample_rate=48000" \
  -t "$seconds" -vf "$vf" -r "$fps" -c:v libx264 -pix_fmt yuv420p -crf 18 -c:a aac "$tmp/clip.mp4"
frames=$(ffprobe -v error -select_streams v:0 -show_entries stream=nb_frames -of csv=p=0 \
  "$tmp/clip.mp4")
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
# nstyle's ms per frame, compute only and with I/O, from its JSON summary
ms() {
  python3 -c "import json, sys; j = json.load(open(sys.argv[1]))
print('%.0f %.0f' % (j['ms_per_image_compute'], j['ms_per_image_total']))" "$1"
}
# CPU seconds (user + system) of a command and every child it waited for, ffmpeg's included
TIMEFORMAT='%U %S'
cpu_of() { tail -1 "$1" | awk '{ printf "%.1f", $1 + $2 }'; }
video_path() {
  local t0 t1
  t0=$(now)
  { time "$build/nstyle" stylize -m "$model" -i "$tmp/clip.mp4" -o "$tmp/out-video.mp4" \
      --threads "$threads" --quiet --json "$tmp/video.json"; } 2> "$tmp/cpu"
  t1=$(now)
  echo "$(sub "$t1" "$t0") $(cpu_of "$tmp/cpu") $(ms "$tmp/video.json")" >> "$tmp/video.txt"
}
folder_path() {
  local t0 t1 t2 t3
  rm -rf "$tmp/frames" "$tmp/styled"
  mkdir -p "$tmp/frames"
  { time {
    t0=$(now)
    ffmpeg -nostdin -v error -i "$tmp/clip.mp4" "$tmp/frames/frame_%06d.png"
    t1=$(now)
    "$build/nstyle" stylize -m "$model" -i "$tmp/frames" -o "$tmp/styled" --threads "$threads" \
      --quiet --json "$tmp/folder.json"
    t2=$(now)
    ffmpeg -nostdin -v error -y -framerate "$fps" -i "$tmp/styled/frame_%06d.png" \
      -i "$tmp/clip.mp4" -map 0:v -map 1:a? -c:v libx264 -pix_fmt yuv420p -crf 18 -c:a copy \
      "$tmp/out-folder.mp4"
    t3=$(now)
  }; } 2> "$tmp/cpu"
  echo "$(sub "$t3" "$t0") $(cpu_of "$tmp/cpu") $(sub "$t1" "$t0") $(sub "$t2" "$t1")" \
    "$(sub "$t3" "$t2") $(ms "$tmp/folder.json")" >> "$tmp/folder.txt"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
  if (( r % 2 )); then video_path; folder_path; else folder_path; video_path; fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
blas=$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')
{
  echo "# A video file through ffmpeg pipes against the frames-folder path"
  echo
  echo "\`bench/stylize_video.sh\`: a ${seconds}-second ${size} clip at ${fps} fps (${frames}" \
       "frames, H.264 with AAC sound), model $(basename "$model"), $threads threads, CPU" \
       "backend, $rounds round(s); $cpu ($blas kernels), $(nproc) cores, load average" \
       "$load_before before and $load_after after. Seconds are wall clock; ms per frame are" \
       "nstyle's own (compute only / with decoding and encoding); CPU seconds are user +" \
       "system of each path's processes, ffmpeg's included."
  echo
  echo "| round | video path s | CPU s | ms/frame compute | ms/frame with I/O |" \
       "folder path s (extract + stylize + encode) | CPU s | ms/frame compute |" \
       "ms/frame with I/O | video / folder, wall | video / folder, CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  paste -d' ' "$tmp/video.txt" "$tmp/folder.txt" | awk '{
    printf "| %d | %.1f | %.1f | %s | %s | %.1f (%.1f + %.1f + %.1f) | %.1f | %s | %s",
           NR, $1, $2, $3, $4, $5, $7, $8, $9, $6, $10, $11
    printf " | %.3f | %.3f |\n", $1 / $5, $2 / $6 }'
} > "$out/stylize_video.md"
cat "$out/stylize_video.md"
