#!/usr/bin/env bash
# Prepares a GPU run on a machine that has the CUDA driver but not our build dependencies:
# builds for sm_90 (H100/H200) into build-gpu/ and copies the non-CUDA shared libraries the
# binaries need (Criterion, OpenBLAS, libgomp and their dependencies; never CUDA's own) into
# .device/lib/, and packs both into .device/bundle.tar.xz. Then, on the GPU machine:
#   tar -xJf .device/bundle.tar.xz && scripts/gpu-check.sh RESULTS_DIR
#   scripts/gpu-bundle.sh [CUDA_ARCHS]   (default 90)
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_ARCHS=${1:-90} NST_CUDA=ON scripts/build.sh build-gpu
mkdir -p .device/lib
rm -f .device/lib/*
for bin in build-gpu/nstyle build-gpu/test_* build-gpu/bench_*; do
  [[ -x $bin ]] || continue
  ldd "$bin" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|ld-linux*) ;;
    libcuda*|libcudnn*|libcublas*|libnvidia*) ;;
    *) cp -L "$lib" .device/lib/ ;;
  esac
done
# One compressed file travels: the executables and the libraries (the carried tree is limited).
tar -cf - build-gpu/nstyle build-gpu/test_* build-gpu/bench_* .device/lib | xz -T0 -6 > .device/bundle.tar.xz
du -sh .device/bundle.tar.xz
