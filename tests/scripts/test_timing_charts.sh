#!/usr/bin/env bash
# scripts/timing-charts.sh without running its benchmarks (they take minutes).
#   test_timing_charts.sh args    its argument handling and refusals; bench/peak_rss.py's
#                                 figure against a process that touches a known amount of memory
#   test_timing_charts.sh draw    bench/timing_charts.py on the raw files of a made-up run: the
#                                 medians and ratios worked out here by hand, a point past its
#                                 time cap left out and named, the four charts written as PNGs
#                                 (skipped, exit 77, when /usr/bin/python3 has no matplotlib)
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
  "$script" --device cuda >"$tmp/o" 2>&1; rc=$?
  check "--device cuda: exit 1" test $rc -eq 1
  check "--device cuda: says why" grep -q "only cpu is measured so far" "$tmp/o"
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
done
exit $fail
