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
# then python: the Python package's wheel built, made manylinux, installed into a fresh venv and
# its tests run there (scripts/check-python.sh; skipped, saying why, without PyPI); then
# kill-disk: the kill smoke (scripts/kill-test.sh, one SIGKILL at a seeded random moment in
# each of stylize on a folder and on a video, render and train, then the rerun) and the disk
# smoke (tests/test_cli_hardening.c: RLIMIT_FSIZE and a full tmpfs) with the CPU-only build
# (docs/hardening.md); then container: the Dockerfile built with podman on a Debian base made
# with debootstrap, CPU-only, and its commands run (scripts/check-container.sh,
# docs/container.md; skipped, saying why, where podman cannot run).
# GPU tests skip, saying why, on a machine without a GPU; ctest lists every skip, and the
# reasons are printed after each variant's tests. Fails when any test fails in any variant,
# or a fuzz target finds anything.
#   scripts/test.sh [default|cpu-only|sanitize|fuzz|cmake-3.22|slurm|python|kill-disk|container
#   ...]   (default: all nine)
# Environment: NST_TEST_DIR_SUFFIX is appended to the build folders (build-test-<variant>);
# NST_FUZZ_SECONDS (default 20) is each fuzz target's time.
set -euo pipefail
cd "$(dirname "$0")/.."
variants=("$@")
[[ ${#variants[@]} -gt 0 ]] ||
  variants=(default cpu-only sanitize fuzz cmake-3.22 slurm python kill-disk container)
# stb_image_write shifts negative ints left (well defined in GCC, flagged by UBSan): not ours.
san_flags="-fsanitize=address,undefined -fno-sanitize=shift-base -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fail=0
# a step that builds apart: exit 77 is a skip (the step printed why), any other failure fails
step() { # step NAME COMMAND...
  local rc=0
  "${@:2}" || rc=$?
  if [[ $rc == 77 ]]; then
    echo "=== $1: skipped (the reason is above)"
  elif [[ $rc != 0 ]]; then
    fail=1
    echo "=== $1: FAILED" >&2
  fi
}
for variant in "${variants[@]}"; do
  dir=build-test-$variant${NST_TEST_DIR_SUFFIX:-}
  case $variant in
    fuzz)
      echo "=== fuzz smoke run in $dir (${NST_FUZZ_SECONDS:-20} s a target)"
      # the sanitize variant's ASAN_OPTIONS are not libFuzzer's
      step fuzz env ASAN_OPTIONS= NST_FUZZ_DIR="$dir" \
        fuzz/run.sh --seconds "${NST_FUZZ_SECONDS:-20}" all
      continue ;;
    cmake-3.22)
      echo "=== $variant build and install tests in $dir"
      step "$variant" scripts/check-cmake-min.sh "$dir"
      continue ;;
    slurm)
      dir=build-test-cpu-only${NST_TEST_DIR_SUFFIX:-}
      echo "=== slurm: batch manifests on a single-node Slurm, with $dir/nstyle"
      # nothing to do when the cpu-only variant has just built it
      step slurm bash -c 'NST_CUDA=OFF scripts/build.sh "$1" -DNST_WERROR=ON >/dev/null &&
                          tests/scripts/test_slurm.sh "$1/nstyle"' _ "$dir"
      continue ;;
    python)
      echo "=== $variant build and tests in $dir"
      step "$variant" scripts/check-python.sh "$dir"
      continue ;;
    kill-disk)
      dir=build-test-cpu-only${NST_TEST_DIR_SUFFIX:-}
      echo "=== kill-disk: SIGKILL at random moments and full disks, with $dir/nstyle"
      # a skipped test (no tmpfs can be mounted here) has printed why; the rest still counts
      step kill-disk bash -c 'NST_CUDA=OFF scripts/build.sh "$1" -DNST_WERROR=ON >/dev/null &&
        scripts/kill-test.sh "$1/nstyle" --kills 1 --seed "$2" || exit
        cd "$1" && ./test_cli_hardening --jobs=2 || { r=$?; [[ $r == 77 ]] && exit 0; exit $r; }' \
        _ "$dir" "$RANDOM"
      continue ;;
    container)
      echo "=== $variant: the Dockerfile built and run with podman"
      step "$variant" scripts/check-container.sh
      continue ;;
  esac
  case $variant in
    default) cuda=AUTO; extra=() ;;
    cpu-only) cuda=OFF; extra=() ;;
    sanitize) cuda=OFF
      extra=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_C_FLAGS=$san_flags"
             "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined"
             "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined")
      # a test asks for an impossible allocation on purpose: let it fail instead of aborting
      export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 ;;
    *) echo "test.sh: unknown variant '$variant' (default, cpu-only, sanitize, fuzz, cmake-3.22," \
       "slurm, python, kill-disk, container)" >&2
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
