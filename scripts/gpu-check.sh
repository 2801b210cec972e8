#!/usr/bin/env bash
# Run first on any GPU machine, after scripts/gpu-bundle.sh built build-gpu/ and .device/lib/.
# Steps in priority order, each under its own time cap (timeout), so the most important results
# exist even when the GPU lease ends early; everything lands in RESULTS_DIR (default
# gpu-results/): one log per step and summary.txt with one line per step:
#   STEP  ok | FAILED | TIMEOUT | UNAVAILABLE | SKIPPED  seconds  note
#  1 facts        nvidia-smi, nstyle --version and info (the CUDA libraries found)
#  2 cuda-tests   the tests that open a CUDA context (parity tool, backend, loader, tracker)
#  3 san-probe    compute-sanitizer on a planted out-of-bounds write: when it does not report it
#                 (no sanitizer, or it cannot check this device), the sanitizer steps are
#                 UNAVAILABLE, never ok
#  4 memcheck, racecheck, synccheck   our kernels and cuDNN/cuBLAS calls on the smallest cases
#  5 bench        bench_gpu_conv (VGG19 convs, FP32/TF32, SGEMM ceiling), PyTorch's peer beside it
#  6 all-tests    every other test of the build
# cuDNN and cuBLAS: the system's, else Python's site-packages (nvidia/cudnn/lib,
# nvidia/cublas/lib), found here and handed to nstyle's loader (NSTYLE_CUDA_LIBRARY_PATH).
#   scripts/gpu-check.sh [--quick] [RESULTS_DIR]     (--quick: about 5 minutes instead of 12)
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ ${1:-} == --quick ]] && { quick=1; shift; }
results=${1:-gpu-results}
mkdir -p "$results"
summary=$results/summary.txt
: > "$summary"
b=build-gpu
export LD_LIBRARY_PATH="$PWD/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NST_SHARED_DATA=${NST_SHARED_DATA:-$PWD/shared/data}
# Python's NVIDIA wheels, when there are any: their lib folders for the loader and the linker
pylibs=$(python3 - 2>/dev/null <<'PY'
import importlib.util, os
for name in ("nvidia.cudnn", "nvidia.cublas", "nvidia.cuda_runtime"):
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        lib = os.path.join(loc, "lib")
        if os.path.isdir(lib):
            print(lib)
PY
)
if [[ -n $pylibs ]]; then
  pyp=$(echo "$pylibs" | paste -sd:)
  export NSTYLE_CUDA_LIBRARY_PATH="$pyp${NSTYLE_CUDA_LIBRARY_PATH:+:$NSTYLE_CUDA_LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$pyp"
fi
cap() { (( quick )) && echo "$2" || echo "$1"; } # cap FULL QUICK (seconds)

# step NAME SECONDS CMD...: runs CMD under timeout into NAME.log; records the outcome
step() {
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS r
  timeout -k 10 "$secs" "$@" > "$results/$name.log" 2>&1
  local rc=$?
  case $rc in 0) r=ok ;; 124|137) r=TIMEOUT ;; *) r=FAILED ;; esac
  printf '%-12s %-11s %4ds  %s\n' "$name" "$r" $((SECONDS - t0)) "${note:-}" | tee -a "$summary"
  note=""
  [[ $r == ok ]]
}
mark() { printf '%-12s %-11s %4ds  %s\n' "$1" "$2" 0 "$3" | tee -a "$summary"; }

note="" step facts 60 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm --format=csv; $b/nstyle --version; $b/nstyle info; echo NSTYLE_CUDA_LIBRARY_PATH=\${NSTYLE_CUDA_LIBRARY_PATH:-}"

# tests that open a CUDA context: the parity tool first (every op on CUDA against the CPU)
gpu_tests=()
for t in $b/nst_parity $b/test_parity $b/test_cuda_* $b/test_tracker $b/test_arena; do
  [[ -x $t ]] && gpu_tests+=("$t")
done
note="${#gpu_tests[@]} programs" step cuda-tests "$(cap 240 120)" bash -c '
  fail=0
  for t in "$@"; do
    echo "=== $t"
    case $(basename "$t") in nst_parity) "$t" || fail=1 ;; *) "$t" --jobs=4 || fail=1 ;; esac
  done
  exit $fail' _ "${gpu_tests[@]}"

san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
san_ok=0
if [[ -z $san ]]; then
  mark san-probe UNAVAILABLE "no compute-sanitizer on this machine"
elif [[ ! -x $b/nst_sanitizer_probe ]]; then
  mark san-probe UNAVAILABLE "nst_sanitizer_probe was not built"
else
  timeout -k 5 60 "$san" --tool memcheck --error-exitcode 99 $b/nst_sanitizer_probe > "$results/san-probe.log" 2>&1
  rc=$?
  if (( rc == 99 )) && grep -q "Invalid __global__ write" "$results/san-probe.log"; then
    san_ok=1; mark san-probe ok "the planted out-of-bounds write was reported"
  else
    mark san-probe UNAVAILABLE "exit $rc and no report of the planted write: the sanitizer cannot check this device (see san-probe.log)"
  fi
fi
# the smallest cases: the parity tool's (our kernels, cuDNN and cuBLAS calls) and the backend's
san_targets=()
for t in $b/nst_parity $b/test_cuda_backend; do [[ -x $t ]] && san_targets+=("$t"); done
tools=(memcheck racecheck synccheck)
(( quick )) && tools=(memcheck)
for tool in "${tools[@]}"; do
  if (( ! san_ok )); then mark "$tool" UNAVAILABLE "the probe step could not check this device"; continue; fi
  note="${san_targets[*]}" step "$tool" "$(cap 150 90)" bash -c '
    tool=$1 san=$2; shift 2; fail=0
    for t in "$@"; do
      echo "=== $t"
      args=(); [[ $(basename "$t") == test_* ]] && args=(--jobs=1)
      NST_UNDER_SANITIZER=1 "$san" --tool "$tool" --target-processes all --error-exitcode 99 "$t" "${args[@]}" || fail=1
    done
    exit $fail' _ "$tool" "$san" "${san_targets[@]}"
  grep -h "ERROR SUMMARY" "$results/$tool.log" | sort | uniq -c >> "$summary"
done

if [[ -x $b/bench_gpu_conv ]]; then
  qa=(); (( quick )) && qa=(--quick)
  note="ms and TFLOP/s: bench.log, bench.csv" step bench "$(cap 300 120)" \
    $b/bench_gpu_conv "${qa[@]}" --csv "$results/bench.csv"
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    note="PyTorch beside ours: peer.log" step peer "$(cap 300 120)" \
      python3 bench/peer_gpu_conv.py "${qa[@]}" --csv "$results/peer.csv" --ours "$results/bench.csv"
  else
    mark peer UNAVAILABLE "no PyTorch with CUDA on this machine"
  fi
else
  mark bench SKIPPED "bench_gpu_conv was not built"
fi

if (( quick )); then
  mark all-tests SKIPPED "--quick"
else
  note="every test program" step all-tests 240 bash -c '
    fail=0
    for t in '"$b"'/test_*; do
      [[ -x $t ]] || continue
      if out=$("$t" --jobs=8 2>&1); then r=ok; else r=FAILED; fail=1; fi
      printf "%-28s %-6s %s\n" "$(basename "$t")" "$r" "$(echo "$out" | grep Synthesis | sed "s/.*Synthesis: //")"
      [[ $r == ok ]] || echo "$out" | tail -40
    done
    exit $fail'
fi
echo "results in $results/ (summary: $summary)"
! grep -qE ' (FAILED|TIMEOUT) ' "$summary"
