#!/usr/bin/env bash
# Run first on any GPU machine, after scripts/gpu-bundle.sh built build-gpu/ and .device/lib/.
# Steps in priority order, each under its own time cap (timeout), so the most important results
# exist even when the GPU lease ends early; everything lands in RESULTS_DIR (default
# gpu-results/): one log per step and summary.txt with one line per step:
#   STEP  ok | FAILED | TIMEOUT | UNAVAILABLE | SKIPPED  seconds  note
#  0 preflight    the NVIDIA driver's version (CUDA 13 needs R580 or newer) and where each
#                 library the CUDA module needs was found (libcudnn.so.9, libcublas.so.13,
#                 libcublasLt.so.13); when one is missing or the driver is too old, it says
#                 which and the script stops there: nothing after it could be trusted
#  1 facts        nvidia-smi, nstyle --version and info (the CUDA libraries found)
#  2 parity       the parity tool: every op on CUDA against the CPU, strict fp32 then TF32;
#                 its "no GPU" exit (77) is UNAVAILABLE, never ok nor FAILED
#    cuda-tests   the other tests that open a CUDA context (backend, loader, tracker); a
#                 program that skips for want of a GPU (77) makes the step UNAVAILABLE
#  3 san-probe    compute-sanitizer on a planted out-of-bounds write: when it does not report it
#                 (no sanitizer, or it cannot check this device), the sanitizer steps are
#                 UNAVAILABLE, never ok
#  4 memcheck, racecheck, synccheck   our kernels and cuDNN/cuBLAS calls on the smallest cases
#  5 bench        bench_gpu_conv (VGG19 convs, FP32/TF32, SGEMM ceiling), PyTorch's peer beside it
#    timing-charts  scripts/timing-charts.sh --device cuda --quick (3 minutes at most): nstyle
#                 against PyTorch (and onnxruntime-gpu when installed) by size, the charts or,
#                 without matplotlib, their raw files, in RESULTS_DIR/timing-charts/; no PyTorch
#                 with CUDA makes it UNAVAILABLE
#  6 all-tests    every other test of the build
# cuDNN and cuBLAS: the system's, else Python's site-packages (nvidia/cu13/lib, where the CUDA
# 13 wheels put cuBLAS, nvidia/cudnn/lib, nvidia/cublas/lib), found here and handed to nstyle's
# loader (NSTYLE_CUDA_LIBRARY_PATH).
#   scripts/gpu-check.sh [--quick] [RESULTS_DIR]     (--quick: about 5 minutes instead of 12)
# Environment: NST_GPU_CHECK_BUILD, the build folder (default build-gpu).
set -uo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ ${1:-} == --quick ]] && { quick=1; shift; }
results=${1:-gpu-results}
mkdir -p "$results"
summary=$results/summary.txt
: > "$summary"
b=${NST_GPU_CHECK_BUILD:-build-gpu}
export LD_LIBRARY_PATH="$PWD/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NST_SHARED_DATA=${NST_SHARED_DATA:-$PWD/shared/data}
# Python's NVIDIA wheels, when there are any: their lib folders for the loader and the linker
pylibs=$(python3 - 2>/dev/null <<'PY'
import importlib.util, os
for name in ("nvidia.cu13", "nvidia.cudnn", "nvidia.cublas", "nvidia.cuda_runtime"):
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
  case $rc in 0) r=ok ;; 77) r=UNAVAILABLE ;; 124|137) r=TIMEOUT ;; *) r=FAILED ;; esac
  printf '%-12s %-11s %4ds  %s\n' "$name" "$r" $((SECONDS - t0)) "${note:-}" | tee -a "$summary"
  note=""
  [[ $r == ok ]]
}
mark() { printf '%-12s %-11s %4ds  %s\n' "$1" "$2" 0 "$3" | tee -a "$summary"; }

# where a library would be loaded from: LD_LIBRARY_PATH, then NSTYLE_CUDA_LIBRARY_PATH's
# folders and their wheel folders, then the system's cache (the loader's order)
find_lib() {
  local lib=$1 d sub
  local IFS=:
  for d in ${LD_LIBRARY_PATH:-}; do [[ -n $d && -e $d/$lib ]] && { echo "$d/$lib"; return 0; }; done
  for d in ${NSTYLE_CUDA_LIBRARY_PATH:-}; do
    for sub in "" /nvidia/cu13/lib /nvidia/cudnn/lib /nvidia/cublas/lib; do
      [[ -n $d && -e $d$sub/$lib ]] && { echo "$d$sub/$lib"; return 0; }
    done
  done
  unset IFS
  ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l { print $NF; exit }' | grep . && return 0
  return 1
}

preflight() {
  local drv="" ok=1 lib where
  if command -v nvidia-smi > /dev/null; then
    drv=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1 | tr -d ' ')
  fi
  if [[ -z $drv && -r /proc/driver/nvidia/version ]]; then
    drv=$(grep -oE '[0-9]{3}\.[0-9]+(\.[0-9]+)?' /proc/driver/nvidia/version | head -1)
  fi
  if [[ -z $drv ]]; then
    echo "driver: none found (no answer from nvidia-smi, no /proc/driver/nvidia/version)"; ok=0
  elif (( ${drv%%.*} < 580 )); then
    echo "driver: $drv, older than R580, which CUDA 13 needs: update the NVIDIA driver"; ok=0
  else
    echo "driver: $drv (CUDA 13 needs R580 or newer)"
  fi
  for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13; do
    if where=$(find_lib "$lib"); then
      echo "$lib: $where"
    else
      echo "$lib: MISSING (looked in LD_LIBRARY_PATH, NSTYLE_CUDA_LIBRARY_PATH with its" \
           "nvidia/{cu13,cudnn,cublas}/lib, and ldconfig's cache): install it, or put its folder on" \
           "LD_LIBRARY_PATH"; ok=0
    fi
  done
  (( ok ))
}

if preflight > "$results/preflight.log" 2>&1; then
  cat "$results/preflight.log"
  mark preflight ok "driver and CUDA libraries found: preflight.log"
else
  cat "$results/preflight.log"
  mark preflight FAILED "$(grep -E 'MISSING|older|none found' "$results/preflight.log" | cut -d' ' -f1-2 | paste -sd';')"
  echo "gpu-check: stopped at the preflight (see above): nothing after it could be trusted" | tee -a "$summary"
  exit 1
fi

note="" step facts 60 bash -c "nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm --format=csv; $b/nstyle --version; $b/nstyle info; echo NSTYLE_CUDA_LIBRARY_PATH=\${NSTYLE_CUDA_LIBRARY_PATH:-}"

# the parity tool first: every op on CUDA against the CPU (77: it found no GPU)
if [[ -x $b/nst_parity ]]; then
  note="strict fp32, then TF32: parity.log" step parity "$(cap 180 120)" "$b/nst_parity"
else
  mark parity SKIPPED "nst_parity was not built"
fi
# the other tests that open a CUDA context; 77 from a program means it skipped for want of one
gpu_tests=()
for t in $b/test_parity $b/test_cuda_* $b/test_tracker $b/test_arena; do
  [[ -x $t ]] && gpu_tests+=("$t")
done
if (( ${#gpu_tests[@]} )); then
  note="${#gpu_tests[@]} programs" step cuda-tests "$(cap 240 120)" bash -c '
    fail=0 skipped=0
    for t in "$@"; do
      echo "=== $t"
      "$t" --jobs=4; rc=$?
      case $rc in 0) ;; 77) skipped=1 ;; *) fail=1 ;; esac
    done
    (( fail )) && exit 1
    (( skipped )) && exit 77
    exit 0' _ "${gpu_tests[@]}"
else
  mark cuda-tests SKIPPED "no CUDA test programs in $b"
fi

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

# the timing charts: 150 s of programs (each capped at 30 s) and the drawing, within 180 s
if [[ -x $b/nstyle && -x $b/bench_render && -x $b/bench_stylize && -x $b/bench_train ]]; then
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    note="charts and CSVs: timing-charts/" step timing-charts 180 \
      env NST_TIMING_PYTHON="$(command -v python3)" scripts/timing-charts.sh --device cuda \
      --quick --build "$b" --out "$results/timing-charts"
  else
    mark timing-charts UNAVAILABLE "no PyTorch with CUDA on this machine"
  fi
else
  mark timing-charts SKIPPED "bench_render, bench_stylize or bench_train was not built"
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
