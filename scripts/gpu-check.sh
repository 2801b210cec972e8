#!/usr/bin/env bash
# Run first on any GPU machine, after scripts/gpu-bundle.sh built build-gpu/ and .device/lib/:
# the GPU's facts, every test (CPU and CUDA) of the sm_90 build, compute-sanitizer over the CUDA
# tests, and the benchmarks. Writes its logs into RESULTS_DIR (default: gpu-results/).
#   scripts/gpu-check.sh [RESULTS_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-gpu-results}
mkdir -p "$results"
export LD_LIBRARY_PATH="$PWD/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NST_SHARED_DATA=${NST_SHARED_DATA:-$PWD/shared/data}
b=build-gpu
status=0

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
  $b/nstyle --version
  $b/nstyle info
} 2>&1 | tee "$results/device.txt"

echo "=== tests" | tee "$results/tests.txt"
for t in $b/test_*; do
  [[ -x $t ]] || continue
  if out=$("$t" --jobs=8 2>&1); then r=ok; else r=FAILED; status=1; fi
  printf '%-28s %-6s %s\n' "$(basename "$t")" "$r" "$(echo "$out" | grep Synthesis | sed 's/.*Synthesis: //')" | tee -a "$results/tests.txt"
  [[ $r == ok ]] || echo "$out" | tail -40 >> "$results/tests.txt"
done

echo "=== compute-sanitizer" | tee "$results/sanitizer.txt"
san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
# the tests that open a CUDA context (the others run only CPU code)
gpu_tests=$(grep -l '"cuda' tests/test_*.c | xargs -n1 basename | sed 's/\.c$//')
for t in $(for n in $gpu_tests; do echo $b/$n; done); do
  [[ -x $t && -n $san ]] || continue
  for tool in memcheck racecheck synccheck initcheck; do
    log="$results/san-$(basename "$t")-$tool.log"
    if NST_UNDER_SANITIZER=1 "$san" --tool $tool --target-processes all --error-exitcode 99 "$t" --jobs=1 >"$log" 2>&1; then r=ok; else r=FAILED; status=1; fi
    printf '%-28s %-10s %s\n' "$(basename "$t")" "$tool" "$r" | tee -a "$results/sanitizer.txt"
    grep -E 'ERROR SUMMARY' "$log" | sort | uniq -c | tee -a "$results/sanitizer.txt"
  done
done

for bench in $b/bench_cuda_*; do
  [[ -x $bench ]] || continue
  echo "=== $(basename "$bench")" | tee -a "$results/bench.txt"
  "$bench" 2>&1 | tee -a "$results/bench.txt"
done
exit $status
