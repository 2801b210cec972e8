#!/usr/bin/env bash
# Builds and runs every test, in three variants: the default build (with the CUDA backend when
# a CUDA toolkit is found), a CPU-only build (NST_CUDA=OFF), and a CPU-only debug build under
# AddressSanitizer and UndefinedBehaviorSanitizer, each with warnings as errors (NST_WERROR);
# then the fuzz smoke run: every fuzz target (fuzz/run.sh, docs/fuzzing.md) for 20 seconds,
# built with clang apart from the rest, skipped with the reason when clang's libFuzzer runtime
# is missing; then cmake-3.22: the CPU-only build with the oldest CMake supported
# (scripts/check-cmake-min.sh; skipped, saying why, without PyPI); then slurm: batch manifests
# sharded over a real single-node Slurm with the CPU-only build's nstyle
# (tests/scripts/test_slurm.sh, docs/cluster.md; skipped, saying why, where Slurm cannot start);
# then kill-disk: the kill smoke (scripts/kill-test.sh, one SIGKILL at a seeded random moment in
# each of stylize on a folder and on a video, render and train, then the rerun) and the disk
# smoke (tests/test_cli_hardening.c: RLIMIT_FSIZE and a full tmpfs) with the CPU-only build
# (docs/hardening.md).
# GPU tests skip, saying why, on a machine without a GPU; ctest lists every skip, and the
# reasons are printed after each variant's tests. Fails when any test fails in any variant,
# or a fuzz target finds anything.
#   scripts/test.sh [default|cpu-only|sanitize|fuzz|cmake-3.22|slurm|kill-disk ...]
#   (default: all seven)
# Environment: NST_TEST_DIR_SUFFIX is appended to the build folders (build-test-<variant>);
# NST_FUZZ_SECONDS (default 20) is each fuzz target's time.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=("$@")
[[ ${#variants[@]} -gt 0 ]] ||
  variants=(default cpu-only sanitize fuzz cmake-3.22 slurm kill-disk)
# stb_image_write shifts negative ints left (well defined in GCC, flagged by UBSan): not ours.
san_flags="-fsanitize=address,undefined -fno-sanitize=shift-base -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fail=0
# A step's outcome from its exit code: 77 skipped (the step has said why), others failed.
step_outcome() {
  if [[ $2 == 77 ]]; then
    echo "=== $1: skipped (the reason is above)"
  elif [[ $2 != 0 ]]; then
    fail=1
    echo "=== $1: FAILED" >&2
  fi
}
for variant in "${variants[@]}"; do
  dir=build-test-$variant${NST_TEST_DIR_SUFFIX:-}
  if [[ $variant == fuzz ]]; then
    echo "=== fuzz smoke run in $dir (${NST_FUZZ_SECONDS:-20} s a target)"
    rc=0
    # the sanitize variant's ASAN_OPTIONS are not libFuzzer's
    ASAN_OPTIONS= NST_FUZZ_DIR=$dir fuzz/run.sh --seconds "${NST_FUZZ_SECONDS:-20}" all || rc=$?
    step_outcome fuzz $rc
    continue
  fi
  if [[ $variant == cmake-3.22 ]]; then
    echo "=== $variant build and install tests in $dir"
    rc=0
    scripts/check-cmake-min.sh "$dir" || rc=$?
    step_outcome "$variant" $rc
    continue
  fi
  if [[ $variant == slurm ]]; then
    dir=build-test-cpu-only${NST_TEST_DIR_SUFFIX:-}
    echo "=== slurm: batch manifests on a single-node Slurm, with $dir/nstyle"
    rc=0
    # nothing to do when the cpu-only variant has just built it
    NST_CUDA=OFF scripts/build.sh "$dir" -DNST_WERROR=ON >/dev/null || rc=$?
    [[ $rc != 0 ]] || tests/scripts/test_slurm.sh "$dir/nstyle" || rc=$?
    step_outcome slurm $rc
    continue
  fi
  if [[ $variant == kill-disk ]]; then
    dir=build-test-cpu-only${NST_TEST_DIR_SUFFIX:-}
    echo "=== kill-disk: SIGKILL at random moments and full disks, with $dir/nstyle"
    rc=0
    NST_CUDA=OFF scripts/build.sh "$dir" -DNST_WERROR=ON >/dev/null || rc=$?
    [[ $rc != 0 ]] || scripts/kill-test.sh "$dir/nstyle" --kills 1 --seed "$RANDOM" || rc=$?
    # a skipped test (no tmpfs can be mounted here) has printed why; the rest still counts
    [[ $rc != 0 ]] || (cd "$dir" && ./test_cli_hardening --jobs=2) || { r=$?; [[ $r == 77 ]] ||
      rc=$r; }
    step_outcome kill-disk $rc
    continue
  fi
  case $variant in
    default) cuda=AUTO; extra=() ;;
    cpu-only) cuda=OFF; extra=() ;;
    sanitize) cuda=OFF
      extra=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS=$san_flags"
             "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined"
             "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined")
      # a test asks for an impossible allocation on purpose: let it fail instead of aborting
      export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 ;;
    *) echo "test.sh: unknown variant '$variant' (default, cpu-only, sanitize, fuzz," \
            "cmake-3.22, slurm, kill-disk)" >&2
       exit 2 ;;
  esac
  echo "=== $variant build (NST_CUDA=$cuda) in $dir"
  NST_CUDA=$cuda scripts/build.sh "$dir" -DNST_WERROR=ON "${extra[@]}"
  echo "=== $variant tests"
  if ! (cd "$dir" && ctest --output-on-failure --no-tests=error -j"$(nproc)"); then
    fail=1
    echo "=== $variant: FAILED" >&2
  fi
  # tests/support/test_main.c prints a SKIPPED line with the reason for every skipped test
  echo "=== $variant skips:"
  grep -h '^SKIPPED ' "$dir/Testing/Temporary/LastTest.log" || echo "(none)"
done
exit $fail
