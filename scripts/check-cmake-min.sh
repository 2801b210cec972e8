#!/usr/bin/env bash
# Configures and builds the CPU-only variant (tests included, warnings as errors) with the oldest
# CMake nstyle supports, 3.22 (Ubuntu 22.04's), taken from PyPI (cmake==3.22.6) into a venv
# inside BUILD_DIR, then runs the install and version tests with it. scripts/test.sh runs it as
# its cmake-3.22 step. Without python3's venv or PyPI it skips (exit 77), saying why.
#   scripts/check-cmake-min.sh [BUILD_DIR]      (default build-test-cmake-3.22)
# Exit: 0 pass, 1 fail, 77 skipped. Takes about 3 minutes on 2 cores (the venv is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-test-cmake-3.22}
want=3.22.6
venv=$dir/venv
skip() { echo "SKIPPED cmake-3.22: $*"; exit 77; }

# the pin follows the minimum CMakeLists.txt asks for
min=$(sed -n 's/^cmake_minimum_required(VERSION \([0-9.]*\)).*/\1/p' CMakeLists.txt)
if [[ ${want%.*} != "$min" ]]; then
  echo "check-cmake-min.sh: CMakeLists.txt asks for CMake $min but this script pins $want:" \
       "update the pin" >&2
  exit 1
fi

mkdir -p "$dir"
if ! "$venv/bin/cmake" --version 2> /dev/null | grep -q "version $want\$"; then
  rm -rf "$venv"
  python3 -m venv "$venv" > "$dir/venv.log" 2>&1 ||
    skip "no Python venv (install python3-venv): $(tail -n 1 "$dir/venv.log")"
  "$venv/bin/pip" install --disable-pip-version-check -q --timeout 20 --retries 1 \
      "cmake==$want" > "$dir/pip.log" 2>&1 ||
    skip "cmake==$want could not be installed from PyPI (unreachable?): $(tail -n 1 "$dir/pip.log")"
fi
cmake=$(cd "$venv/bin" && pwd)/cmake
"$cmake" --version | head -n 1
"$cmake" -S . -B "$dir/build" -DNST_CUDA=OFF -DCMAKE_BUILD_TYPE=Release -DNST_WERROR=ON
"$cmake" --build "$dir/build" -j"$(nproc)"
# the install rules and the package files, written by this CMake and used by it
(cd "$dir/build" && "$(dirname "$cmake")/ctest" --output-on-failure -R '^test_(install|version)$')
echo "check-cmake-min.sh: CMake $want configures, builds and installs the CPU-only variant"
