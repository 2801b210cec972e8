#!/usr/bin/env bash
# CPU profiles of the three timed workloads with perf (Debian's linux-perf): a stylize frame
# (candy TransformerNet, 768x512), Gatys iterations (512x512, the brief's layers) and training
# steps (batch 4 of 256x256), each by function (self time) and by caller (children: the OpenMP
# bodies name their op, e.g. conv_forward._omp_fn.0). The reports go to OUT (default
# bench/results/profile), one text file per workload, the top entries also to stdout.
#   scripts/profile-cpu.sh [--build DIR] [--out DIR] [--threads N] [--top N]
# Needs: perf (apt-get install linux-perf), the build (scripts/build.sh), the candy weights of
# ../shared/data (or $NST_STYLE_MODEL) and VGG19 (models/fetch-vgg19.sh, or $VGG).
# Exit: 0 done, 1 failure (one message says what), 2 usage.
set -euo pipefail
cd "$(dirname "$0")/.."
me=profile-cpu.sh
die() { echo "$me: $*" >&2; exit 1; }
usage() { sed -n '/^#   scripts\/profile-cpu.sh/p' "$0" | sed 's/^# *//' >&2; exit 2; }
build=build out=bench/results/profile threads=$(nproc) top=25
while (($#)); do
  case $1 in
    --build) [[ $# -ge 2 ]] || usage; build=$2; shift 2 ;;
    --out) [[ $# -ge 2 ]] || usage; out=$2; shift 2 ;;
    --threads) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; threads=$2; shift 2 ;;
    --top) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage; top=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "$me: unknown argument: $1" >&2; usage ;;
  esac
done
command -v perf >/dev/null || die "perf is not installed (apt-get install linux-perf)"
data=${NST_SHARED_DATA:-../shared/data}
model=${NST_STYLE_MODEL:-$data/models/fast/candy.safetensors}
vgg=${VGG:-$HOME/.cache/nstyle/vgg19-imagenet-caffe-q8.safetensors}
[[ -f $model ]] || die "no style model at $model (set NST_STYLE_MODEL)"
[[ -f $vgg ]] || die "no full VGG19 at $vgg (run models/fetch-vgg19.sh, or set VGG)"
for f in bench_stylize bench_render bench_train; do
  [[ -x $build/$f ]] || die "$build/$f is missing: build first (scripts/build.sh $build)"
done
mkdir -p "$out"
# the OpenBLAS kernels the CLI would pick (it re-runs itself with them; the benches do not)
if [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
  OPENBLAS_CORETYPE=$("$build/nstyle" info | sed -n 's/^OpenBLAS kernels: \([^ ]*\).*/\1/p')
  [[ -n $OPENBLAS_CORETYPE ]] || unset OPENBLAS_CORETYPE
fi
export OPENBLAS_CORETYPE
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
profile() { # name, command...
  local name=$1 data_file
  shift
  data_file=$(mktemp "${TMPDIR:-/tmp}/nst-perf.XXXXXX")
  perf record -q -F 499 -g -o "$data_file" -- "$@" >/dev/null 2>"$out/$name.log" ||
    { rm -f "$data_file"; die "$name: the workload failed (see $out/$name.log)"; }
  {
    echo "# $name: $* ($cpu, $threads threads, OpenBLAS ${OPENBLAS_CORETYPE:-default} kernels, $(date -u +%F))"
    echo "## by function (self)"
    perf report -i "$data_file" --no-children --sort symbol --percent-limit 0.5 --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -n "$top"
    echo "## by caller (children)"
    perf report -i "$data_file" --children --sort symbol --percent-limit 2 --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -n "$top"
  } >"$out/$name.txt"
  rm -f "$data_file"
  [[ -s $out/$name.log ]] || rm -f "$out/$name.log" # the workload's stderr, kept when it said anything
  cat "$out/$name.txt"
}
profile stylize-768x512 "$build/bench_stylize" --model "$model" --size 768x512 \
  --threads "$threads" --reps 3
profile gatys-512x512 "$build/bench_render" --vgg "$vgg" --size 512x512 --threads "$threads" \
  --warmup 1 --reps 2
profile train-256x256 "$build/bench_train" --vgg "$vgg" --size 256 --batch 4 \
  --threads "$threads" --style-layers relu1_2,relu2_2,relu3_4,relu4_4 --reps 1
