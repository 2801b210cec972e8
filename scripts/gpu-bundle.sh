#!/usr/bin/env bash
# Prepares a GPU run on a machine that has the CUDA driver but not our build dependencies:
# builds for sm_90 (H100/H200) into build-gpu/ and copies the non-CUDA shared libraries the
# binaries and the CUDA module need (Criterion, OpenBLAS, libgomp and their dependencies; never
# CUDA's own: the driver, cuDNN and cuBLAS come from the GPU machine, its system or its Python
# site-packages) into .device/lib/, and packs both into .device/bundle.tar.xz with what the
# timing charts' step needs (scripts/timing-charts.sh, bench/*.py, the TransformerNet of
# tests/golden, and from ../shared/data the candy weights and the partial VGG19, about 12 MiB,
# unpacked to shared/data where gpu-check.sh looks). It refuses a bundle over 64 MiB. Then, on
# the GPU machine:
#   tar -xJf .device/bundle.tar.xz && scripts/gpu-check.sh [--quick] RESULTS_DIR
#   scripts/gpu-bundle.sh [CUDA_ARCHS]   (default 90)
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_ARCHS=${1:-90} NST_CUDA=ON scripts/build.sh build-gpu
mkdir -p .device/lib
rm -f .device/lib/*
b=build-gpu
# what travels: executables, the CUDA module, the loader tests' stand-ins
files=($b/nstyle $b/libnstyle_cuda.so $b/nst_sanitizer_probe $b/libnst_test_stale_module.so
       $b/fake-cudnn8 $b/test_* $b/bench_* $b/nst_parity)
present=()
for f in "${files[@]}"; do [[ -e $f ]] && present+=("$f"); done
for bin in "${present[@]}"; do
  [[ -f $bin && -x $bin || $bin == *.so ]] || continue
  ldd "$bin" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|ld-linux*) ;;
    libcuda*|libcudnn*|libcublas*|libnvidia*|libcudart*) ;;
    *) cp -L "$lib" .device/lib/ ;;
  esac
done
# One compressed file travels: the executables and the libraries (the carried tree is limited),
# the timing charts' scripts and the weights they read
data=(shared/data/models/fast/candy.safetensors
      shared/data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors)
for f in "${data[@]}"; do
  [[ -r ../$f ]] || { echo "gpu-bundle.sh: ../$f is missing" >&2; exit 1; }
done
tar -cf - "${present[@]}" .device/lib scripts/gpu-check.sh scripts/timing-charts.sh bench/*.py \
  tests/golden/gen_transformer.py tests/golden/st_write.py -C .. "${data[@]}" |
  xz -T0 -6 > .device/bundle.tar.xz
bytes=$(stat -c %s .device/bundle.tar.xz)
echo "bundle: .device/bundle.tar.xz, $((bytes / 1024)) KiB"
if (( bytes > 64 * 1024 * 1024 )); then
  echo "gpu-bundle.sh: the bundle is over 64 MiB" >&2
  exit 1
fi
