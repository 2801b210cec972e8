#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (fuzz/CMakeLists.txt, into build-fuzz/) and runs them:
#   fuzz/run.sh TARGET EXECUTIONS        run TARGET for exactly EXECUTIONS inputs (-runs=N)
#   fuzz/run.sh --seconds S TARGET       run TARGET for S seconds (the CI smoke run: S = 20)
#   fuzz/run.sh ... all                  every target in turn: json, safetensors, image, models
# TARGET is json, safetensors or image (C, libFuzzer under ASan and UBSan) or models (the Python
# mutation harness fuzz/fuzz_models.py over models/nst_pickle.py and the converters; with
# EXECUTIONS it runs that many inputs, with --seconds for that long). Each C target starts from
# build-fuzz/corpus/TARGET (what earlier runs found) and the committed seeds in
# fuzz/corpus/TARGET; a failing input is written to build-fuzz/artifacts/TARGET/ and the script
# exits 1. Prints, per target, the executions, the seconds and the result, then a closing line
# "fuzz: N passed, N failed". Without clang or its fuzzer runtime (libclang-rt-14-dev) the C
# targets are skipped, saying why, and the script exits 77 when nothing else was asked for
# (scripts/test.sh reports that as a skip).
# Environment: NST_FUZZ_DIR (default build-fuzz), NST_FUZZ_ARGS (extra libFuzzer options),
# NST_FUZZ_PYTHON (default python3; with atheris importable the models harness is coverage-guided).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
seconds=""
if [[ "${1:-}" == "--seconds" ]]; then
    [[ $# -ge 3 ]] || usage
    seconds=$2
    shift 2
fi
[[ $# -ge 1 ]] || usage
target=$1
runs=${2:-}
[[ -n "$seconds" || -n "$runs" ]] || usage
[[ -z "$runs" || "$runs" =~ ^[0-9]+$ ]] || usage
[[ -z "$seconds" || "$seconds" =~ ^[0-9]+$ ]] || usage
case $target in
    all) targets=(json safetensors image models) ;;
    json|safetensors|image|models) targets=("$target") ;;
    *) echo "fuzz/run.sh: unknown target '$target' (json, safetensors, image, models, all)" >&2
       exit 2 ;;
esac

dir=${NST_FUZZ_DIR:-build-fuzz}
# this run's scratch folder (the targets' input files, fuzz_support.c; the clang probe), removed
# at the end even when a target stopped on a finding
shm=/dev/shm
[[ -d $shm ]] || shm=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$shm/nstyle-fuzz-run-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch
need_c=0
for t in "${targets[@]}"; do [[ $t == models ]] || need_c=1; done
skipped=0
skip_c() { # libFuzzer cannot be used here: the C targets are skipped, the Python one still runs
    echo "fuzz/run.sh: SKIPPED the C targets: $1"
    local kept=()
    for t in "${targets[@]}"; do
        if [[ $t == models ]]; then kept+=("$t"); else skipped=$((skipped + 1)); fi
    done
    [[ ${#kept[@]} -gt 0 ]] || exit 77
    targets=("${kept[@]}")
    need_c=0
}
if [[ $need_c == 1 ]] && ! command -v clang >/dev/null; then
    skip_c "clang is not installed (scripts/install-deps.sh installs it)"
fi
if [[ $need_c == 1 ]]; then
    # clang with libFuzzer's runtime (libclang_rt.fuzzer): a one-line program must link
    probe=$scratch/probe
    mkdir "$probe"
    printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }\n' \
        >"$probe/p.c"
    if ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err"; then
        skip_c "clang cannot link -fsanitize=fuzzer (libFuzzer's runtime, Debian \
libclang-rt-14-dev, is missing): $(head -1 "$probe/err")"
    fi
fi
if [[ $need_c == 1 ]]; then
    mkdir -p "$dir"
    CC=clang cmake -S fuzz -B "$dir" -DNST_FUZZ=ON >"$dir/configure.log" 2>&1 ||
        { cat "$dir/configure.log" >&2; exit 1; }
    cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 ||
        { cat "$dir/build.log" >&2; exit 1; }
fi

passed=0
failed=0
for t in "${targets[@]}"; do
    start=$EPOCHREALTIME
    log="$dir/$t.log"
    mkdir -p "$dir"
    if [[ $t == models ]]; then
        args=()
        [[ -n "$runs" ]] && args+=(--runs "$runs")
        [[ -n "$seconds" ]] && args+=(--seconds "$seconds")
        python=${NST_FUZZ_PYTHON:-python3}
        # coverage-guided when the interpreter has atheris (a virtual environment: docs)
        "$python" -c 'import atheris' 2>/dev/null && args+=(--atheris)
        set +e
        "$python" fuzz/fuzz_models.py "${args[@]}" --artifacts "$dir/artifacts/models" \
            >"$log" 2>&1
        rc=$?
        set -e
        executed=$(sed -n -e 's/^fuzz_models: \([0-9]*\) inputs.*/\1/p' \
            -e 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    else
        mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t"
        limits=(-print_final_stats=1 -timeout=30 -rss_limit_mb=3072
                "-artifact_prefix=$dir/artifacts/$t/")
        [[ -f fuzz/dict/$t.dict ]] && limits+=("-dict=fuzz/dict/$t.dict")
        if [[ -n "$seconds" ]]; then
            limits+=(-runs=-1 "-max_total_time=$seconds")
        else
            limits+=("-runs=$runs")
        fi
        set +e
        # shellcheck disable=SC2086 # NST_FUZZ_ARGS: extra options, split on spaces
        "$dir/fuzz_$t" "${limits[@]}" ${NST_FUZZ_ARGS:-} "$dir/corpus/$t" "fuzz/corpus/$t" \
            >"$log" 2>&1
        rc=$?
        set -e
        executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    fi
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if [[ $rc == 0 ]]; then
        passed=$((passed + 1))
        printf 'fuzz %-12s %10s executions in %7.1f s: clean\n' "$t" "${executed:-?}" "$secs"
    else
        failed=$((failed + 1))
        printf 'fuzz %-12s %10s executions in %7.1f s: FAILED (exit %d), log %s\n' "$t" \
            "${executed:-?}" "$secs" "$rc" "$log"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written|fuzz check failed|FINDING' "$log" |
            head -20 || true
    fi
done
if [[ $skipped -gt 0 ]]; then
    echo "fuzz: $passed passed, $failed failed, $skipped skipped"
else
    echo "fuzz: $passed passed, $failed failed"
fi
[[ $failed == 0 ]]
