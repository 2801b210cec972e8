#!/usr/bin/env bash
# nstyle's timing charts on this machine, in one run: nstyle against PyTorch (Debian's
# python3-torch) and onnxruntime (PyPI, in a venv this script makes), by size, in alternating
# rounds (odd rounds nstyle first, even rounds the peers first, so both see the same load):
#   gatys    the Gatys render with the brief's defaults (Adam lr 0.01, content relu4_2, style
#            relu1_1..relu5_1) in bench/bench_render against the same loop in
#            bench/peer_render_loop.py; each iteration timed after warm-up iterations, the
#            median times 300 is the 300-iteration figure (extrapolated, said on the chart)
#   stylize  the candy TransformerNet, one frame, bench/bench_stylize against
#            bench/peer_stylize.py in PyTorch and in onnxruntime (the network exported to ONNX
#            by Debian's torch)
#   train    one training step, batch 4 of 256x256, bench/bench_train against bench/peer_train.py
#   memory   each process's peak resident memory above its baseline (the same program started
#            with nothing to do; bench/peak_rss.py), and the render's memory plan by size
# Each figure is the median over the rounds with its spread (min..max), and the ratio peer /
# nstyle (above 1: nstyle faster). Writes CSVs, PNG charts (matplotlib) and summary.md to
# bench/results/MACHINE/ (MACHINE: the CPU model and the thread count, or the GPU's name),
# every chart's title naming the machine, threads, precision, date and versions.
#
#   scripts/timing-charts.sh [--device cpu|cuda] [--quick] [--threads N] [--rounds N]
#                            [--build DIR] [--out DIR]
#     --device   cuda: every program on the first GPU (a build with CUDA; PyTorch with CUDA,
#                TF32 on for convolutions and off for matmul as nstyle's defaults; onnxruntime
#                only when onnxruntime-gpu offers its CUDAExecutionProvider); memory is the
#                peak on the GPU (nstyle's tracker, torch.cuda.max_memory_allocated)
#     --quick    2 rounds, fewer sizes and iterations (sized for under 10 minutes on a quiet
#                2-core machine; with --device cuda, 3 minutes in all: 30 s a program, and what
#                the budget leaves unstarted is named); the charts say so
#     --threads  threads for every program (default: all cores)
#     --rounds   alternating rounds (default 3; 2 with --quick)
#     --build    the build folder with nstyle and the bench programs (default build)
#     --out      where the results go (default bench/results/MACHINE)
# Needs: the build (scripts/build.sh), /usr/bin/python3 with torch (apt-get install
# python3-torch), pip access to PyPI for the venv (NST_TIMING_VENV, default
# ~/.cache/nstyle/timing-venv: onnxruntime, matplotlib, numpy), the fast-style weights
# (../shared/data/models/fast/candy.safetensors, or NST_STYLE_MODEL) and VGG19: the full one
# from models/fetch-vgg19.sh (~/.cache/nstyle, or $VGG), else the partial one of
# ../shared/data (conv1_1..conv3_4; the render then uses content relu3_2 and style
# relu1_1,relu2_1,relu3_1, and the charts say so); the data folder is $NST_SHARED_DATA when
# set. With --device cuda: nvidia-smi answering, a python with CUDA PyTorch
# ($NST_TIMING_PYTHON, else python3, else /usr/bin/python3), and no pip (GPU machines may be
# offline): the venv is used when it exists, else that python draws the charts when it has
# matplotlib, else the raw files and draw.sh go to the results to draw elsewhere. Each
# program runs under a time cap; one
# that runs past it leaves its point out of the charts, and summary.md says which.
# Ctrl-C stops the rounds and still writes the charts of what finished.
# Exit: 0 done, 1 failure (one message says what), 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
me=timing-charts.sh
usage() {
  sed -n '/^#   scripts\/timing-charts.sh/,/^#     --out/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
die() { echo "$me: $*" >&2; exit 1; }

device=cpu quick=0 threads=$(nproc) rounds= build=build out=
while (($#)); do
  case $1 in
    --device) [[ $# -ge 2 ]] || usage; device=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --threads) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; threads=$2; shift 2 ;;
    --rounds) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; rounds=$2; shift 2 ;;
    --build) [[ $# -ge 2 ]] || usage; build=$2; shift 2 ;;
    --out) [[ $# -ge 2 ]] || usage; out=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "$me: unknown argument: $1" >&2; usage ;;
  esac
done
start=$(date +%s)
python=/usr/bin/python3
gpu= driver=
case $device in
  cpu) ;;
  cuda)
    # the GPU first: without one nothing else matters
    command -v nvidia-smi >/dev/null ||
      die "--device cuda: no NVIDIA driver on this machine (no nvidia-smi): run it where a GPU is"
    gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null |
          head -1) || gpu=
    [[ $gpu == *,* ]] || die "--device cuda: no GPU found: nvidia-smi says" \
      "\"$(nvidia-smi 2>&1 | head -1)\" (is the NVIDIA driver loaded?)"
    driver=${gpu##*, } gpu=${gpu%, *}
    python=
    for p in ${NST_TIMING_PYTHON:-} python3 /usr/bin/python3; do
      if command -v "$p" >/dev/null &&
         "$p" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        python=$(command -v "$p"); break
      fi
    done
    [[ -n $python ]] || die "--device cuda: no python here has PyTorch with CUDA (tried" \
      "${NST_TIMING_PYTHON:-} python3 /usr/bin/python3; set NST_TIMING_PYTHON)" ;;
  *) die "--device $device: cpu or cuda" ;;
esac
data=${NST_SHARED_DATA:-../shared/data}
venv=${NST_TIMING_VENV:-$HOME/.cache/nstyle/timing-venv}
model=${NST_STYLE_MODEL:-$data/models/fast/candy.safetensors}
vgg=${VGG:-$HOME/.cache/nstyle/vgg19-imagenet-caffe-q8.safetensors}
vgg_kind=full
render_layers=() train_layers=relu1_2,relu2_2,relu3_4,relu4_4
peer_layers=(--content-layers relu4_2 --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)
if [[ ! -r $vgg ]]; then
  vgg=$data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
  vgg_kind=partial
  render_layers=(--content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1)
  peer_layers=("${render_layers[@]}")
  train_layers=relu1_2,relu2_2,relu3_4
fi
for f in nstyle bench_render bench_stylize bench_train; do
  [[ -x $build/$f ]] || die "$build/$f is missing (scripts/build.sh $build)"
done
if [[ $device == cuda ]]; then
  gpus=$("$build/nstyle" info 2>&1 | grep '^GPUs:') || gpus="GPUs: no answer"
  [[ $gpus != "GPUs: none usable"* && $gpus != "GPUs: no answer" ]] ||
    die "--device cuda: $build/nstyle info says \"$gpus\" (NST_CUDA=ON scripts/build.sh" \
      "build-gpu, then --build build-gpu)"
fi
for f in "$model" "$vgg"; do
  [[ -r $f ]] || die "$f is missing (VGG19: models/fetch-vgg19.sh; the rest: ../shared/data)"
done
"$python" -c 'import torch' 2>/dev/null ||
  die "$python has no torch (apt-get install python3-torch)"

if [[ $device == cpu ]]; then
  # the venv with onnxruntime and matplotlib, made once
  if ! "$venv/bin/python" -c 'import onnxruntime, matplotlib, numpy' 2>/dev/null; then
    echo "$me: making $venv (pip install onnxruntime matplotlib numpy)"
    "$python" -m venv "$venv" || die "cannot make the venv $venv (apt-get install python3-venv)"
    "$venv/bin/pip" install -q onnxruntime matplotlib numpy ||
      die "pip install onnxruntime matplotlib numpy failed in $venv"
  fi
  vpython=$venv/bin/python dpython=$vpython
else
  # no pip: the venv when there is one (pip install onnxruntime-gpu matplotlib numpy), else
  # the torch python; onnxruntime only with its CUDAExecutionProvider
  vpython= dpython=
  for p in "$venv/bin/python" "$python"; do
    [[ -z $vpython && -x $p ]] && "$p" -c 'import onnxruntime as o, numpy
assert "CUDAExecutionProvider" in o.get_available_providers()' 2>/dev/null && vpython=$p
    [[ -z $dpython && -x $p ]] && "$p" -c 'import matplotlib, numpy' 2>/dev/null && dpython=$p
  done
  [[ -n $vpython ]] || echo "$me: no onnxruntime with CUDAExecutionProvider (onnxruntime-gpu):" \
    "its series is left out"
fi

# the OpenBLAS kernels `nstyle info` names (OpenBLAS falls back to slow generic ones on CPU
# models it does not know; the CLI re-execs itself with these, the bench programs do not)
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  OPENBLAS_CORETYPE=$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')
fi
export OPENBLAS_CORETYPE

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa="no AVX2"
grep -qw avx2 /proc/cpuinfo && isa=AVX2
grep -qw avx512f /proc/cpuinfo && isa=AVX-512
machine="$cpu ($isa), $(nproc) logical CPUs"
name=$cpu tail=-${threads}t
[[ $device == cuda ]] && machine="$gpu (driver $driver)" name=$gpu tail=
slug=$(echo "$name" | sed -e 's/([^)]*)//g' -e 's/ CPU / /; s/@.*//' | tr 'A-Z' 'a-z' |
       sed -e 's/[^a-z0-9]\{1,\}/-/g' -e 's/^-//; s/-$//')$tail
out=${out:-bench/results/$slug}

budget=0 # seconds for everything before the drawing (0: no limit)
if [[ $device == cuda ]] && ((quick)); then
  # 3 minutes in all: the programs start in a few seconds each on a GPU; 30 s caps and a
  # budget of 150 s leave the drawing its time
  rounds=${rounds:-2}
  gatys_sizes=(512x512 1024x1024) gatys_warmup=2 gatys_reps=5
  stylize_sizes=(512x512 1024x1024) stylize_reps=5
  train_reps=3 cap=30 budget=150
elif ((quick)); then
  rounds=${rounds:-2}
  gatys_sizes=(256x256 512x512) gatys_warmup=1 gatys_reps=2
  stylize_sizes=(256x256 512x512 768x512) stylize_reps=2
  train_reps=2 cap=300
else
  rounds=${rounds:-3}
  gatys_sizes=(256x256 512x512 768x512 1024x1024) gatys_warmup=2 gatys_reps=5
  stylize_sizes=(256x256 512x512 768x512 1024x1024) stylize_reps=5
  train_reps=3 cap=1200
  if [[ $device == cuda ]]; then cap=300; fi
fi
plan_sizes=(256x256 512x512 768x512 1024x1024)

mkdir -p "$out"
raw=$(mktemp -d "${TMPDIR:-/tmp}/timing-charts.XXXXXX")
trap 'rm -rf "$raw"' EXIT
stop=0
trap 'stop=1' INT TERM
echo "$me: $machine, $threads threads, $rounds rounds$( ((quick)) && echo ", quick"); VGG19" \
  "$vgg_kind; results in $out"

# run NAME CMD...: the command under the time cap (and what the budget leaves) with its peak
# RSS, its output in $raw/NAME.out; a failure or a cap is recorded (NAME.status; 200: not
# started, the budget spent) and the rounds go on
run() {
  local name=$1 rc=0 c=$cap
  shift
  ((stop)) && return 0
  if ((budget)); then
    c=$((budget - ($(date +%s) - start)))
    ((c < 5)) && { echo 200 >"$raw/$name.status"; echo "  $name: not started (budget)"; return; }
    ((c > cap)) && c=$cap
  fi
  timeout "$c" "$python" bench/peak_rss.py "$raw/$name.rss" "$@" >"$raw/$name.out" 2>&1 ||
    rc=$?
  echo "$rc" >"$raw/$name.status"
  if ((rc == 124)); then
    echo "  $name: ran past the cap of $c s, left out"
  elif ((rc != 0)); then
    echo "  $name: failed (exit $rc), left out:"
    tail -3 "$raw/$name.out" | sed 's/^/    /'
  else
    tail -1 "$raw/$name.out" | sed "s/^/  /"
  fi
}

# baselines: each program started with nothing to do (bench_stylize stops at its usage line);
# on a GPU the figures are the device's peaks, no baseline needed
if [[ $device == cpu ]]; then
  "$python" bench/peak_rss.py "$raw/baseline-nstyle.rss" "$build/bench_stylize" --none \
    >/dev/null 2>&1 || true
  "$python" bench/peak_rss.py "$raw/baseline-torch.rss" "$python" -c \
    'import numpy, torch, torch.nn.functional, PIL.Image' || die "$python cannot import torch"
  "$python" bench/peak_rss.py "$raw/baseline-onnxruntime.rss" "$vpython" -c \
    'import numpy, onnxruntime' || die "$vpython cannot import onnxruntime"
fi
if [[ -n $vpython ]] && ! "$python" bench/peer_stylize.py --model "$model" \
     --export-onnx "$raw/net.onnx" >"$raw/export.log" 2>&1; then
  cat "$raw/export.log" >&2
  [[ $device == cpu ]] && die "the ONNX export failed"
  echo "$me: the ONNX export failed: the onnxruntime series is left out"
  vpython=
fi
for s in "${plan_sizes[@]}"; do
  "$build/nstyle" plan --size "$s" "${render_layers[@]}" --json "$raw/plan-$s.json" \
    >/dev/null || die "nstyle plan --size $s failed"
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for ((r = 1; r <= rounds && !stop; r++)); do
  echo "round $r of $rounds"
  for s in "${gatys_sizes[@]}"; do
    iters=$((gatys_warmup + gatys_reps))
    nst=(run "gatys-$s-$r-nstyle" "$build/bench_render" --vgg "$vgg" --size "$s"
         --device "$device" --threads "$threads" --warmup "$gatys_warmup" --reps "$gatys_reps"
         "${render_layers[@]}"
         --csv "$raw/gatys-$s-$r-nstyle.csv")
    peer=(run "gatys-$s-$r-torch" "$python" bench/peer_render_loop.py --weights "$vgg" --random
          --size "$s" --iters "$iters" --warmup "$gatys_warmup" --threads "$threads"
          --device "$device" "${peer_layers[@]}" --csv "$raw/gatys-$s-$r-torch.csv")
    if ((r % 2)); then "${nst[@]}"; "${peer[@]}"; else "${peer[@]}"; "${nst[@]}"; fi
  done
  for s in "${stylize_sizes[@]}"; do
    nst=(run "stylize-$s-$r-nstyle" "$build/bench_stylize" --model "$model" --size "$s"
         --device "$device" --threads "$threads" --reps "$stylize_reps"
         --csv "$raw/stylize-$s-$r-nstyle.csv")
    peer1=(run "stylize-$s-$r-torch" "$python" bench/peer_stylize.py --model "$model" --size "$s"
           --device "$device" --threads "$threads" --reps "$stylize_reps"
           --csv "$raw/stylize-$s-$r-torch.csv")
    peer2=(run "stylize-$s-$r-onnxruntime" "$vpython" bench/peer_stylize.py --onnx "$raw/net.onnx"
           --size "$s" --device "$device" --threads "$threads" --reps "$stylize_reps"
           --csv "$raw/stylize-$s-$r-onnxruntime.csv")
    [[ -n $vpython ]] || peer2=(:)
    if ((r % 2)); then "${nst[@]}"; "${peer1[@]}"; "${peer2[@]}"
    else "${peer2[@]}"; "${peer1[@]}"; "${nst[@]}"; fi
  done
  nst=(run "train-256x256-$r-nstyle" "$build/bench_train" --vgg "$vgg" --size 256 --batch 4
       --device "$device" --threads "$threads" --style-layers "$train_layers" --reps "$train_reps"
       --csv "$raw/train-256x256-$r-nstyle.csv")
  peer=(run "train-256x256-$r-torch" "$python" bench/peer_train.py --size 256 --batch 4
        --device "$device" --threads "$threads" --style-layers "$train_layers" --reps "$train_reps"
        --csv "$raw/train-256x256-$r-torch.csv")
  if ((r % 2)); then "${nst[@]}"; "${peer[@]}"; else "${peer[@]}"; "${nst[@]}"; fi
done
trap - INT TERM
# the run failed when no nstyle program finished (the results still say what happened)
finished=$(cat "$raw"/*-nstyle.status 2>/dev/null | grep -cx 0) || finished=0
nothing="no nstyle program finished (see the failures above)"

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
versions="nstyle $("$build/nstyle" --version | head -1 | cut -d' ' -f2)"
if [[ $device == cpu ]]; then
  versions+=", PyTorch $("$python" -c 'import torch; print(torch.__version__)')"
else
  versions+=", PyTorch $("$python" -c 'import torch
print(torch.__version__, "(CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(),
      end=")")')"
fi
[[ -n $vpython ]] &&
  versions+=", onnxruntime $("$vpython" -c 'import onnxruntime; print(onnxruntime.__version__)')"
[[ $device == cpu ]] &&
  versions+=", OpenBLAS $("$build/nstyle" --version | sed -n 's/^OpenBLAS: \([^,]*\).*/\1/p')" &&
  versions+=" ($OPENBLAS_CORETYPE)"
draw=(bench/timing_charts.py --device "$device" --machine "$machine" --threads "$threads"
      --rounds "$rounds" --quick "$quick" --vgg "$vgg_kind" --versions "$versions"
      --load "$load_before" "$load_after" --stopped "$stop" --seconds "$(($(date +%s) - start))")
if [[ -z $dpython ]]; then
  # no matplotlib here: the raw files and the command that draws them, for another machine
  rm -rf "$out/raw" && cp -r "$raw" "$out/raw"
  { printf '#!/bin/bash\n# the charts from raw/: run in the repository; PYTHON: matplotlib\n'
    printf 'd=$(cd "$(dirname "$0")" \&\& pwd)\nexec "${PYTHON:-python3}"'
    printf ' %q' "${draw[@]}"
    printf ' --raw "$d/raw" --out "$d"\n'; } >"$out/draw.sh"
  chmod +x "$out/draw.sh"
  echo "$me: no python with matplotlib here: raw files in $out/raw, charts by $out/draw.sh"
  ((finished)) || die "$nothing"
  exit $((stop ? 130 : 0))
fi
# the charts are drawn into a folder beside the results and moved in when complete
stage=$(mktemp -d "$out/.timing-charts.XXXXXX")
trap 'rm -rf "$raw" "$stage"' EXIT
"$dpython" "${draw[@]}" --raw "$raw" --out "$stage" || die "drawing the charts failed"
for f in "$stage"/*; do mv -f "$f" "$out/"; done
echo "$me: wrote $out ($(($(date +%s) - start)) s)"
((finished)) || die "$nothing"
((stop == 0)) || exit 130
