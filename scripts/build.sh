#!/usr/bin/env bash
# Configures and builds nstyle into a build folder (default: build).
#   scripts/build.sh [BUILD_DIR] [extra cmake options...]
# Environment: NST_CUDA=AUTO|ON|OFF (default AUTO: CUDA when a toolkit is found),
#              CUDA_ARCHS (e.g. 90) to build for fewer GPU architectures, faster.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
opts=(-DNST_CUDA="${NST_CUDA:-AUTO}" -DCMAKE_BUILD_TYPE=Release)
[[ -n "${CUDA_ARCHS:-}" ]] && opts+=(-DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
# the configure output stays in the log: what was found (CUDA, OpenBLAS, Criterion) and how
cmake -S . -B "$dir" "${opts[@]}" "$@"
cmake --build "$dir" -j"$(nproc)"
