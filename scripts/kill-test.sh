#!/usr/bin/env bash
# Kills nstyle with SIGKILL at random moments and checks that nothing is lost
# (docs/hardening.md). Four commands, on synthetic weights and images
# (tests/scripts/synthetic_models.py): stylize on a folder of 40 frames, stylize on a 40-frame
# video (skipped, saying why, without ffmpeg), render with --save-every, train with a checkpoint
# every 3 steps. Each runs once uninterrupted (the reference, and its time T); then, KILLS times,
# in a fresh folder: started, killed with SIGKILL after a seeded random delay in [0, T), every
# output that exists checked complete (tests/scripts/check_outputs.py: PNGs inflate whole,
# JSON parses, checkpoints' tensors all there; a video decodes without an error), and the same
# command run again (train: with --resume from the checkpoint when there is one), which must
# exit 0, leave no "*.tmp-*" file, keep the file planted next to the outputs
# ("keep.png.tmp-Keep01", not one of them), and give the reference's results bit for bit
# (images byte for byte, the video's decoded frames, the model's tensors). Prints the seed and
# every kill point; exits 1 when any check fails, 0 when all pass.
#   scripts/kill-test.sh NSTYLE [--kills N] [--seed S] [--report FILE]
# --kills: kills per command (default 20); --seed: default 1; --report: also write the table
# of kill points and outcomes, in Markdown, to FILE.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nst=$(realpath "$1")
shift
kills=20 seed=1 report=
while [[ $# -gt 0 ]]; do
  case $1 in
    --kills) kills=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --report) report=$(realpath -m "$2"); shift 2 ;;
    *) echo "kill-test.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
py=/usr/bin/python3
[[ -x $py ]] || py=python3
check="$py $root/tests/scripts/check_outputs.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir data
$py "$root/tests/scripts/synthetic_models.py" data >/dev/null
mkdir -p data/frames data/photos
for i in $(seq 1 40); do
  cp "data/content_$((i % 4)).png" "data/frames/frame_$(printf %04d "$i").png"
done
cp data/content_0.png data/content_1.png data/content_2.png data/photos/
video=1
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  video=0
  echo "kill-test: the video case is skipped: ffmpeg and ffprobe are not installed"
elif ! ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=10 -frames:v 40 \
     -pix_fmt yuv420p data/clip.mp4; then
  video=0
  echo "kill-test: the video case is skipped: ffmpeg could not make the clip"
fi
D=$work/data
# each case's command, writing into out/
cmd_of() {
  case $1 in
    frames) echo "stylize -m $D/tn.safetensors -i $D/frames -o out --threads 1 --quiet" ;;
    video) echo "stylize -m $D/tn.safetensors -i $D/clip.mp4 -o out/clip.mp4 --threads 1 --quiet" ;;
    render) echo "render -c $D/content_0.png -s $D/style_0.png -o out/r.png" \
                 "--model $D/vgg.safetensors --content-layers relu2_2" \
                 "--style-layers relu1_2,relu2_2 --iterations 12 --save-every 3 --threads 1" \
                 "--deterministic --quiet --json out/run.json" ;;
    train) echo "train -s $D/style_0.png --data $D/photos -o out/m.safetensors" \
                "-m $D/vgg.safetensors --style-layers relu1_2,relu2_2 --size 16 --batch 2" \
                "--steps 24 --checkpoint-every 3 --threads 1 --deterministic -q" \
                "--json out/t.json" ;;
  esac
}
# the results that must equal the reference's: their digests, one a line
digest() {
  local f
  for f in $(cd "$1" && ls | grep -v '\.tmp-' | grep -v '\.json$' | sort); do
    case $f in
      *.mp4) echo "$f $(ffmpeg -v error -i "$1/$f" -f framemd5 - | grep -v '^#' | md5sum)" ;;
      *.safetensors) echo "$f $($check digest "$1/$f")" ;;
      *) echo "$f $(md5sum <"$1/$f")" ;;
    esac
  done
}
# every output that exists is complete
valid() {
  local f bad=0
  for f in $(cd "$1" && ls | grep -v '\.tmp-' | grep -v '^keep'); do
    case $f in
      *.mp4) if ! ffmpeg -v error -xerror -i "$1/$f" -f null - >/dev/null 2>&1; then
               echo "$1/$f does not decode"; bad=1
             fi ;;
      *) $check valid "$1/$f" || bad=1 ;;
    esac
  done
  return $bad
}
RANDOM=$seed
echo "kill-test: seed $seed, $kills kills per command, nstyle $nst"
fail=0 rows=
for c in frames video render train; do
  if [[ $c == video && $video == 0 ]]; then
    rows+="| video | skipped: no ffmpeg | | | | |"$'\n'
    continue
  fi
  read -ra args <<<"$(cmd_of "$c")"
  mkdir -p "ref-$c/out"
  t0=$(date +%s%N)
  (cd "ref-$c" && "$nst" "${args[@]}" >/dev/null 2>ref.err) ||
    { echo "kill-test: $c: the reference run failed: $(cat "ref-$c/ref.err")"; exit 1; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  want=$(digest "ref-$c/out")
  echo "kill-test: $c: reference ${ms} ms, $(echo "$want" | wc -l) results"
  points= temps=0 complete=0 ok=0
  for k in $(seq 1 "$kills"); do
    at=$(( (RANDOM * 32768 + RANDOM) % ms ))
    points+="${points:+ }$at"
    run=$c-$k
    mkdir -p "$run/out"
    echo half >"$run/out/keep.png.tmp-Keep01"
    (cd "$run" && exec "$nst" "${args[@]}" >/dev/null 2>kill.err) &
    pid=$!
    sleep "$(printf '%d.%03d' $((at / 1000)) $((at % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    left=$(cd "$run/out" && ls | grep -c '\.tmp-' || true)
    left=$((left - 1)) # the planted one
    temps=$((temps + left))
    msg="kill $k at ${at} ms: $left temporaries"
    if ! valid "$run/out" >"$run/valid.log"; then
      msg+=", INCOMPLETE: $(head -c 300 "$run/valid.log")"
      fail=1
    else
      complete=$((complete + 1))
    fi
    again=("${args[@]}")
    if [[ $c == train && -f $run/out/m.ckpt.safetensors ]]; then
      again+=(--resume out/m.ckpt.safetensors)
      msg+=", resumed"
    fi
    rc=0
    (cd "$run" && "$nst" "${again[@]}" >/dev/null 2>rerun.err) || rc=$?
    after=$(cd "$run/out" && ls | grep '\.tmp-' | grep -v '^keep\.png\.tmp-Keep01$' || true)
    if [[ $rc != 0 ]]; then
      msg+=", RERUN FAILED ($rc): $(head -c 300 "$run/rerun.err")"
    elif [[ -n $after ]]; then
      msg+=", TEMPORARIES LEFT: $after"
    elif [[ ! -f $run/out/keep.png.tmp-Keep01 ]]; then
      msg+=", THE PLANTED FILE WAS REMOVED"
    elif [[ $(digest "$run/out" | grep -v '^keep') != "$want" ]]; then
      msg+=", RESULTS DIFFER"
    else
      msg+=", rerun equal"
      ok=$((ok + 1))
      rm -rf "$run"
    fi
    [[ $msg == *", rerun equal" && $msg != *INCOMPLETE* ]] || fail=1
    echo "kill-test: $c: $msg"
  done
  rows+="| $c | $ms | $points | $temps | $complete/$kills | $ok/$kills |"$'\n'
done
table="| command | reference ms | kill points (ms after the start) | temporaries left by kills \
| outputs complete after the kill | reruns clean and equal |
| --- | --- | --- | --- | --- | --- |
$rows"
echo "$table"
if [[ -n $report ]]; then
  { echo "seed $seed, $kills kills per command; $(date -u +%Y-%m-%d), $(lscpu |
      sed -n 's/^Model name: *//p'), $(nproc) cores"; echo; echo "$table"; } >"$report"
fi
[[ $fail == 0 ]] && echo "kill-test: all checks passed" || echo "kill-test: FAILED"
exit $fail
