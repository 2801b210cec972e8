#!/usr/bin/env bash
# scripts/gpu-check.sh without a GPU: its preflight stops the run on a driver older than R580
# and on a missing CUDA library, naming it; with both right it says where each library was
# found; the parity tool's "no GPU" exit (77) is reported as UNAVAILABLE, never ok nor FAILED;
# the timing charts' step is SKIPPED without the bench programs, UNAVAILABLE without PyTorch
# with CUDA, and FAILED, its log kept, when scripts/timing-charts.sh finds no GPU.
# nvidia-smi, ldconfig, python3 and the build folder are stand-ins made here, first on PATH.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$root/tests/scripts/check.sh"
mkdir -p "$tmp/bin" "$tmp/lib" "$tmp/build"
driver() {
  printf '#!/bin/sh\necho %s\n' "$1" > "$tmp/bin/nvidia-smi"
  chmod +x "$tmp/bin/nvidia-smi"
}
printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/ldconfig" # the system's cache holds nothing
chmod +x "$tmp/bin/ldconfig"
run() { # run RESULTS: the script with the stand-ins, no Python wheels, no real CUDA libraries
  PATH="$tmp/bin:/usr/bin:/bin" LD_LIBRARY_PATH="$tmp/lib" NSTYLE_CUDA_LIBRARY_PATH="" \
    NST_GPU_CHECK_BUILD="$tmp/build" "$root/scripts/gpu-check.sh" --quick "$1" > "$1.out" 2>&1
}

# 1. a driver older than R580: stopped at the preflight, nothing else run
driver 575.51.03
touch "$tmp/lib/libcudnn.so.9" "$tmp/lib/libcublas.so.13" "$tmp/lib/libcublasLt.so.13"
run "$tmp/r1"; rc=$?
check "old driver: exit 1" test $rc -eq 1
check "old driver: named" grep -q "575.51.03, older than R580" "$tmp/r1/preflight.log"
check "old driver: preflight FAILED" grep -qE '^preflight +FAILED' "$tmp/r1/summary.txt"
check "old driver: no step after it" test "$(grep -cvE '^(preflight|gpu-check)' "$tmp/r1/summary.txt")" -eq 0

# 2. a missing library: named, with where it was looked for
driver 580.65.06
rm "$tmp/lib/libcublasLt.so.13"
run "$tmp/r2"; rc=$?
check "missing library: exit 1" test $rc -eq 1
check "missing library: named" grep -q "libcublasLt.so.13: MISSING" "$tmp/r2/preflight.log"
check "missing library: the others found" grep -q "libcudnn.so.9: $tmp/lib/libcudnn.so.9" "$tmp/r2/preflight.log"

# 3. all there, one in a CUDA 13 wheel's folder; the parity tool finds no GPU (exit 77)
mkdir -p "$tmp/site/nvidia/cu13/lib"
touch "$tmp/site/nvidia/cu13/lib/libcublasLt.so.13"
printf '#!/bin/sh\necho "no cuda: ERR_NO_DEVICE"\necho "0 passed, 0 failed"\nexit 77\n' > "$tmp/build/nst_parity"
chmod +x "$tmp/build/nst_parity"
PATH="$tmp/bin:/usr/bin:/bin" LD_LIBRARY_PATH="$tmp/lib" NSTYLE_CUDA_LIBRARY_PATH="$tmp/site" \
  NST_GPU_CHECK_BUILD="$tmp/build" "$root/scripts/gpu-check.sh" --quick "$tmp/r3" > "$tmp/r3.out" 2>&1
check "wheel folder: found there" grep -q "libcublasLt.so.13: $tmp/site/nvidia/cu13/lib/libcublasLt.so.13" "$tmp/r3/preflight.log"
check "preflight ok" grep -qE '^preflight +ok' "$tmp/r3/summary.txt"
check "parity 77: UNAVAILABLE" grep -qE '^parity +UNAVAILABLE' "$tmp/r3/summary.txt"
check "parity 77: not ok, not FAILED" test "$(grep -cE '^parity +(ok|FAILED)' "$tmp/r3/summary.txt")" -eq 0

run_ok() { # run_ok RESULTS: as in 3, every library found
  PATH="$tmp/bin:/usr/bin:/bin" LD_LIBRARY_PATH="$tmp/lib" NSTYLE_CUDA_LIBRARY_PATH="$tmp/site" \
    NST_GPU_CHECK_BUILD="$tmp/build" "$root/scripts/gpu-check.sh" --quick "$1" > "$1.out" 2>&1
}
check "no bench programs: timing-charts SKIPPED" \
  grep -qE '^timing-charts +SKIPPED .*was not built' "$tmp/r3/summary.txt"

# 4. the bench programs built, but no PyTorch with CUDA: the timing charts UNAVAILABLE
for f in nstyle bench_render bench_stylize bench_train; do
  printf '#!/bin/sh\nexit 0\n' > "$tmp/build/$f"
  chmod +x "$tmp/build/$f"
done
printf '#!/bin/sh\nexit 1\n' > "$tmp/bin/python3" # torch.cuda.is_available() is False
chmod +x "$tmp/bin/python3"
run_ok "$tmp/r4"
check "no CUDA PyTorch: timing-charts UNAVAILABLE" \
  grep -qE '^timing-charts +UNAVAILABLE .*no PyTorch with CUDA' "$tmp/r4/summary.txt"
check "no CUDA PyTorch: the script not run" test ! -e "$tmp/r4/timing-charts.log"

# 5. PyTorch with CUDA, but the GPU's name not answered (this stand-in gives the driver only):
#    timing-charts.sh stops saying why, the step FAILED with that in its log
printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/python3"
run_ok "$tmp/r5"; rc=$?
check "timing-charts.sh stops: step FAILED" grep -qE '^timing-charts +FAILED' "$tmp/r5/summary.txt"
check "timing-charts.sh stops: why, in its log" \
  grep -q "timing-charts.sh: --device cuda: no GPU found" "$tmp/r5/timing-charts.log"
check "timing-charts.sh stops: gpu-check exit 1" test $rc -eq 1

if (( fail )); then
  for f in "$tmp"/r*.out; do echo "--- $f"; cat "$f"; done
  exit 1
fi
echo "gpu-check.sh preflight and outcomes: all checks passed"
