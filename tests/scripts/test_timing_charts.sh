#!/usr/bin/env bash
# scripts/timing-charts.sh without running its benchmarks (they take minutes).
#   test_timing_charts.sh args    its argument handling and refusals (--device cuda where no
#                                 GPU answers: stopped first, saying why); bench/peak_rss.py's
#                                 figure against a process that touches a known amount of memory
#   test_timing_charts.sh draw    bench/timing_charts.py on the raw files of a made-up run: the
#                                 medians and ratios worked out here by hand, a point past its
#                                 time cap left out and named, the four charts written as PNGs;
#                                 then a made-up GPU run: the GPU named in every chart's title,
#                                 its memory the programs' device peaks, onnxruntime's absence
#                                 said (skipped, exit 77, when /usr/bin/python3 has no matplotlib)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap '[[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT
. "$root/tests/scripts/check.sh"
script=$root/scripts/timing-charts.sh
mode=${1:-args}

if [[ $mode == args ]]; then
  "$script" --bogus >"$tmp/o" 2>&1; rc=$?
  check "unknown argument: exit 2" test $rc -eq 2
  check "unknown argument: named, usage shown" grep -q "unknown argument: --bogus" "$tmp/o"
  check "usage lists --quick" grep -q -- "--quick" "$tmp/o"
  "$script" --threads two >"$tmp/o" 2>&1; rc=$?
  check "--threads two: exit 2" test $rc -eq 2
  "$script" --rounds >"$tmp/o" 2>&1; rc=$?
  check "--rounds without a value: exit 2" test $rc -eq 2
  "$script" --device tpu >"$tmp/o" 2>&1; rc=$?
  check "--device tpu: exit 1" test $rc -eq 1
  check "--device tpu: says cpu or cuda" grep -q "device tpu: cpu or cuda" "$tmp/o"
  # a driver that does not answer (nvidia-smi's own words), before anything else is looked at
  mkdir -p "$tmp/bin"
  printf '#!/bin/sh\necho "NVIDIA-SMI has failed because it couldn'"'"'t communicate with the' \
    > "$tmp/bin/nvidia-smi"
  printf ' NVIDIA driver."\nexit 9\n' >> "$tmp/bin/nvidia-smi"
  chmod +x "$tmp/bin/nvidia-smi"
  PATH="$tmp/bin:$PATH" "$script" --device cuda --build "$tmp/none" >"$tmp/o" 2>&1; rc=$?
  check "--device cuda, no driver: exit 1" test $rc -eq 1
  check "--device cuda, no driver: says so" \
    grep -q "no GPU found: nvidia-smi says \"NVIDIA-SMI has failed.*driver" "$tmp/o"
  check "--device cuda, no driver: one line" test "$(wc -l <"$tmp/o")" -eq 1
  if ! command -v nvidia-smi >/dev/null; then
    "$script" --device cuda --quick >"$tmp/o" 2>&1; rc=$?
    check "--device cuda, no nvidia-smi: exit 1" test $rc -eq 1
    check "--device cuda, no nvidia-smi: says so" grep -q "no NVIDIA driver on this machine" \
      "$tmp/o"
  fi
  # a GPU that answers but no PyTorch with CUDA (Debian's is CPU-only)
  printf '#!/bin/sh\necho "NVIDIA H100 80GB HBM3, 580.65.06"\n' > "$tmp/bin/nvidia-smi"
  if ! /usr/bin/python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null &&
     ! python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    PATH="$tmp/bin:$PATH" NST_TIMING_PYTHON=/usr/bin/python3 "$script" --device cuda \
      >"$tmp/o" 2>&1; rc=$?
    check "--device cuda, no CUDA PyTorch: exit 1" test $rc -eq 1
    check "--device cuda, no CUDA PyTorch: says so" \
      grep -q "no python here has PyTorch with CUDA" "$tmp/o"
  fi
  # a GPU and PyTorch with CUDA (stand-ins), but an nstyle built without CUDA
  printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/cuda-python" # every check passes
  mkdir -p "$tmp/build"
  for f in bench_render bench_stylize bench_train; do
    cp "$tmp/bin/cuda-python" "$tmp/build/$f"
  done
  printf '#!/bin/sh\necho "GPUs: none usable: this nstyle was built without CUDA"\n' \
    > "$tmp/build/nstyle"
  chmod +x "$tmp/bin/cuda-python" "$tmp/build"/*
  PATH="$tmp/bin:$PATH" NST_TIMING_PYTHON="$tmp/bin/cuda-python" "$script" --device cuda \
    --build "$tmp/build" >"$tmp/o" 2>&1; rc=$?
  check "--device cuda, nstyle without CUDA: exit 1" test $rc -eq 1
  check "--device cuda, nstyle without CUDA: says so" \
    grep -q "nstyle info says \"GPUs: none usable: this nstyle was built without CUDA\"" "$tmp/o"
  check "--device cuda, nstyle without CUDA: one line" test "$(wc -l <"$tmp/o")" -eq 1
  "$script" --build "$tmp/none" >"$tmp/o" 2>&1; rc=$?
  check "missing build: exit 1" test $rc -eq 1
  check "missing build: named" grep -q "$tmp/none/nstyle is missing" "$tmp/o"
  check "missing build: one line" test "$(wc -l <"$tmp/o")" -eq 1

  # 96 MiB touched page by page: the peak is at least that, and the exit status passes through
  /usr/bin/python3 "$root/bench/peak_rss.py" "$tmp/rss" /usr/bin/python3 -c \
    'import sys; b = bytearray(96 << 20); b[::4096] = b"x" * len(b[::4096]); sys.exit(3)'
  rc=$?
  check "peak_rss: the command's exit status" test $rc -eq 3
  kib=$(cat "$tmp/rss")
  check "peak_rss: at least 96 MiB ($kib KiB)" test "$kib" -ge $((96 * 1024))
  check "peak_rss: under 96 MiB + 64 MiB of interpreter" test "$kib" -lt $((160 * 1024))
  /usr/bin/python3 "$root/bench/peak_rss.py" "$tmp/rss" "$tmp/none" 2>"$tmp/o"; rc=$?
  check "peak_rss: a missing program: exit 1" test $rc -eq 1
  check "peak_rss: a missing program: named" grep -q "cannot run $tmp/none" "$tmp/o"
  exit $fail
fi

[[ $mode == draw ]] || { echo "test_timing_charts.sh: unknown mode $mode" >&2; exit 2; }
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null ||
  { echo "SKIPPED: /usr/bin/python3 has no matplotlib (apt-get install python3-matplotlib)"
    exit 77; }
raw=$tmp/raw out=$tmp/out
mkdir -p "$raw" "$out"
echo 102400 >"$raw/baseline-nstyle.rss" # 100 MiB
echo 307200 >"$raw/baseline-torch.rss"  # 300 MiB
echo 204800 >"$raw/baseline-onnxruntime.rss"
echo '{"plan": {"total_bytes": 157286400}}' >"$raw/plan-256x256.json" # 150 MiB
echo '{"plan": {"total_bytes": 618135040}}' >"$raw/plan-768x512.json" # 589.5 MiB
point() { # point NAME STATUS RSS_KIB CSV_LINES...
  echo "$2" >"$raw/$1.status"
  echo "$3" >"$raw/$1.rss"
  echo "... plan 12.5 MiB (sum of buffers 20.0 MiB)" >"$raw/$1.out"
  printf '%s\n' "${@:4}" >"$raw/$1.csv"
}
gh=impl,size,threads,warmup,reps,median_s,min_s,q1_s,q3_s,max_s,setup_s,plan_bytes
# nstyle 2.0 and 2.4 s/iter, PyTorch 3.0 and 3.0: medians 2.2 and 3.0, ratio 3.0 / 2.2 = 1.36,
# per-round ratios 1.50 and 1.25
point gatys-256x256-1-nstyle 0 204800 $gh nstyle,256x256,2,1,2,2.0,1.9,1.95,2.05,2.1,1,157286400
point gatys-256x256-2-nstyle 0 215040 $gh nstyle,256x256,2,1,2,2.4,2.3,2.35,2.45,2.5,1,157286400
point gatys-256x256-1-torch 0 512000 $gh torch,256x256,2,1,2,3.0,2.9,2.95,3.05,3.1,1,0
point gatys-256x256-2-torch 0 512000 $gh torch,256x256,2,1,2,3.0,2.9,2.95,3.05,3.1,1,0
point gatys-512x512-1-torch 124 0 # ran past its cap
sh=impl,size,batch,threads,reps,median_ms,min_ms,q1_ms,q3_ms,max_ms
point stylize-768x512-1-nstyle 0 153600 $sh nstyle,768x512,1,2,2,700,690,695,705,710
point stylize-768x512-1-torch 0 409600 $sh torch,768x512,1,2,2,840,830,835,845,850
point stylize-768x512-1-onnxruntime 0 256000 $sh onnxruntime,768x512,1,2,2,630,620,625,635,640
point train-256x256-1-nstyle 0 409600 nstyle,256,4,2,2,2900,2800,2850,2950,3000
point train-256x256-1-torch 0 614400 torch,256,4,2,2,3625,3600,3610,3640,3650
machine="Intel(R) Xeon(R) Processor (AVX-512), 2 logical CPUs" # names as long as real ones
versions="nstyle 0.1.0-208-g1677274, PyTorch 1.13.0a0, onnxruntime 1.32.0, OpenBLAS 0.3.21"
/usr/bin/python3 "$root/bench/timing_charts.py" --raw "$raw" --out "$out" --machine "$machine" \
  --threads 2 --rounds 2 --quick 1 --vgg full --versions "$versions" --load 1 2 \
  --stopped 0 --seconds 61 >"$tmp/o" 2>&1; rc=$?
check "draw: exit 0" test $rc -eq 0
((rc == 0)) || cat "$tmp/o"
check "gatys 256x256: medians 2.2 and 3, ratio 1.364 (1.25..1.5)" \
  grep -q "^gatys,s per iteration,256x256,torch,2.2,2,2.4,3,3,3,1.364,1.25,1.5,2$" \
  "$out/summary.csv"
check "stylize 768x512 vs onnxruntime: 0.9" \
  grep -q "^stylize,ms per frame,768x512,onnxruntime,700,700,700,630,.*,0.9,0.9,0.9,1$" \
  "$out/summary.csv"
check "stylize 768x512 vs PyTorch: 1.2" grep -q "^stylize,.*,768x512,torch,.*,1.2,1.2,1.2,1$" \
  "$out/summary.csv"
check "train: 1.25" grep -q "^train,.*,256x256,torch,2900,.*,1.25,1.25,1.25,1$" "$out/summary.csv"
check "memory: gatys nstyle RSS above baseline, median of 100 and 110 MiB" \
  grep -q "^gatys,256x256,nstyle peak RSS above baseline,105.0$" "$out/memory.csv"
check "memory: PyTorch above its own baseline" \
  grep -q "^gatys,256x256,PyTorch peak RSS above baseline,200.0$" "$out/memory.csv"
check "memory: the plan" grep -q "^gatys,768x512,nstyle plan,589.5$" "$out/memory.csv"
check "the capped point is named" grep -q "gatys 512x512 round 1 PyTorch: ran past its time cap" \
  "$out/summary.md"
check "summary names the machine" grep -qF "$machine; 2 threads each; fp32" "$out/summary.md"
for png in gatys stylize memory ratios; do
  check "$png.png is a PNG" test "$(head -c 8 "$out/$png.png" | od -An -tx1 | tr -d ' \n')" = \
    89504e470d0a1a0a
  check "$png.png: its title names the CPU" grep -qaF "$machine, 2 threads, fp32" "$out/$png.png"
done

# a made-up GPU run: memory from the lines the programs print, no onnxruntime, no baselines
rm -rf "$raw" "$out"
mkdir -p "$raw" "$out"
echo '{"plan": {"total_bytes": 157286400}}' >"$raw/plan-512x512.json"
point gatys-512x512-1-nstyle 0 999999 $gh nstyle,512x512,2,2,5,0.02,0.019,0.0195,0.0205,0.021,1,0
tracker="on cuda:0 (NVIDIA H100 80GB HBM3)"
echo "tracker peak 524288000 bytes $tracker" >>"$raw/gatys-512x512-1-nstyle.out"
point gatys-512x512-1-torch 0 999999 $gh torch,512x512,2,2,5,0.03,0.029,0.0295,0.0305,0.031,1,0
echo "cuda peak 1048576000 bytes" >>"$raw/gatys-512x512-1-torch.out"
point stylize-512x512-1-nstyle 0 999999 $sh nstyle,512x512,1,2,5,4,3.9,3.95,4.05,4.1
echo "tracker peak 104857600 bytes $tracker" >>"$raw/stylize-512x512-1-nstyle.out"
point stylize-512x512-1-torch 0 999999 $sh torch,512x512,1,2,5,5,4.9,4.95,5.05,5.1
echo "cuda peak 209715200 bytes" >>"$raw/stylize-512x512-1-torch.out"
point stylize-1024x1024-1-torch 200 0 # not started: the budget was spent
gpu="NVIDIA H100 80GB HBM3 (driver 580.65.06)"
/usr/bin/python3 "$root/bench/timing_charts.py" --raw "$raw" --out "$out" --machine "$gpu" \
  --threads 16 --rounds 1 --quick 1 --vgg partial --versions "nstyle 0.1.0, PyTorch 2.9.0" \
  --load 1 2 --stopped 0 --seconds 150 --device cuda >"$tmp/o" 2>&1; rc=$?
check "cuda draw: exit 0" test $rc -eq 0
((rc == 0)) || cat "$tmp/o"
check "cuda: gatys 512x512 ratio 1.5" \
  grep -q "^gatys,s per iteration,512x512,torch,0.02,.*,1.5,1.5,1.5,1$" "$out/summary.csv"
check "cuda memory: nstyle's tracker peak, 500 MiB" \
  grep -q "^gatys,512x512,nstyle tracker peak on the GPU,500.0$" "$out/memory.csv"
check "cuda memory: PyTorch's max_memory_allocated, 200 MiB" \
  grep -q "^stylize,512x512,PyTorch max_memory_allocated,200.0$" "$out/memory.csv"
check "cuda memory: no RSS figure" test "$(grep -c RSS "$out/memory.csv")" -eq 0
check "cuda: the unstarted point named" \
  grep -q "stylize 1024x1024 round 1 PyTorch: not started, the run's time budget spent" \
  "$out/summary.md"
check "cuda: onnxruntime's absence said" grep -q "onnxruntime left out: no onnxruntime-gpu" \
  "$out/summary.md"
check "cuda: TF32 said" grep -qF "$gpu; fp32 with TF32 convolutions, fp32 matmul" \
  "$out/summary.md"
for png in gatys stylize memory ratios; do
  check "cuda $png.png: its title names the GPU" grep -qaF "$gpu, fp32 with TF32" "$out/$png.png"
  check "cuda $png.png: no CPU threads in it" test "$(grep -caF "2 threads" "$out/$png.png")" -eq 0
done
exit $fail
