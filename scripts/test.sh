#!/usr/bin/env bash
# Builds and runs every test, in two variants: the default build (with the CUDA backend when a
# CUDA toolkit is found) and a CPU-only build (NST_CUDA=OFF). GPU tests skip, saying why, on a
# machine without a GPU. Fails when any test fails in either variant.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
for variant in default cpu-only; do
  dir=build-test-$variant
  cuda=AUTO
  [[ $variant == cpu-only ]] && cuda=OFF
  echo "=== $variant build (NST_CUDA=$cuda) in $dir"
  NST_CUDA=$cuda scripts/build.sh "$dir"
  echo "=== $variant tests"
  if ! (cd "$dir" && ctest --output-on-failure -j"$(nproc)"); then
    fail=1
    echo "=== $variant: FAILED" >&2
  fi
done
exit $fail
