#!/usr/bin/env bash
# An nstyle installed into a temporary prefix P works on its own, from a clean environment
# (env -i with PATH=/usr/bin:/bin and a HOME of its own). Two ctest entries:
#   test_install.sh install BUILD_DIR   (test_install) `cmake --install BUILD_DIR --prefix P`;
#       the layout: bin/nstyle, both libraries, the CUDA module in a CUDA build, every public
#       header as in include/nstyle/, nstyle.pc, the CMake package, the model scripts; nothing
#       installed that names the build or source folder (package files, RUNPATH); then
#       P/bin/nstyle --version (the build's VERSION) and info (in a CUDA build naming P's own
#       module), and tests/install/consumer.c built and run through pkg-config and through
#       find_package(nstyle) (tests/install/CMakeLists.txt: shared and static).
#   test_install.sh render BUILD_DIR    (test_install:render) installs, then P/bin/nstyle renders
#       32x32 with the partial VGG19 of ../shared/data (content relu3_2, style relu1_1,relu2_1,
#       relu3_1) and the image and JSON summary are checked; exits 77 (skipped), saying why,
#       when ../shared/data is absent ($NST_SHARED_DATA names another folder).
# What it needs to know of the build is in BUILD_DIR/install_test.env (written by
# CMakeLists.txt). Exit: 0 pass, 1 fail (each failed check named), 77 skipped.
set -uo pipefail
mode=${1:?usage: test_install.sh install|render BUILD_DIR}
build=${2:?usage: test_install.sh install|render BUILD_DIR}
# shellcheck source=/dev/null
source "$build/install_test.env" || { echo "FAIL  $build/install_test.env unreadable"; exit 1; }
me=test_install
[[ $mode == render ]] && me=test_install:render

if [[ $mode == render ]]; then
  data=${NST_SHARED_DATA:-$SHARED_DATA_DIR}
  model=$data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
  photo=$data/images/content/chelsea.png
  painting=$data/images/style/starry_night.jpg
  for f in "$model" "$photo" "$painting"; do
    if [[ ! -r $f ]]; then
      echo "SKIPPED $me: ../shared/data is absent ($f): no VGG19 weights or photos to render"
      exit 77
    fi
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P=$tmp/prefix
mkdir -p "$tmp/home" "$tmp/work"
fail=0
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1"; fail=1; }
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then ok "$1"; else bad "$1"; fi
}
# the clean environment; run from a folder of its own, so nothing is found by accident in the
# build or source folder
clean() { (cd "$tmp/work" && env -i PATH=/usr/bin:/bin HOME="$tmp/home" "$@"); }
cuda_env=()
[[ $HAVE_CUDA == ON ]] && cuda_env=(NSTYLE_CUDA_LIBRARY_PATH="$CUDA_LIB_DIR")

if ! "$CMAKE" --install "$build" --prefix "$P" > "$tmp/install.log" 2>&1; then
  cat "$tmp/install.log"
  echo "FAIL  cmake --install $build --prefix $P"
  exit 1
fi
ok "cmake --install into $P"
nstyle=$P/$BINDIR/nstyle
libdir=$P/$LIBDIR
version=$(cat "$BUILD_DIR/VERSION")
out=$(clean "$nstyle" --version 2>&1) || bad "nstyle --version exits 0: $out"
check "nstyle --version says 'nstyle $version' first" \
  test "$(head -n 1 <<< "$out")" = "nstyle $version"

if [[ $mode == render ]]; then
  json=$tmp/work/run.json
  png=$tmp/work/styled.png
  if clean "$nstyle" render -c "$photo" -s "$painting" -o "$png" --model "$model" \
        --device cpu --size 32x32 --iters 20 --content-layers relu3_2 \
        --style-layers relu1_1,relu2_1,relu3_1 --json "$json" --quiet > "$tmp/render.log" 2>&1; then
    ok "nstyle render 32x32 from the install"
  else
    cat "$tmp/render.log"
    bad "nstyle render 32x32 from the install"
  fi
  # the PNG's IHDR: width and height, big-endian, at bytes 16..23
  size=$(od -An -tu1 -j16 -N8 "$png" 2>/dev/null | awk '{print $3*256+$4 "x" $7*256+$8}')
  check "the image is 32x32 (got ${size:-none})" test "$size" = 32x32
  j=$(cat "$json" 2>/dev/null)
  for field in '"ok": true' "\"nstyle_version\": \"$version\"" '"width": 32' '"height": 32' \
               '"iterations": 20'; do
    check "JSON has $field" grep -qF "$field" <<< "$j"
  done
  s0=$(sed -n 's/.*"initial_style_loss": \([^,]*\),*/\1/p' <<< "$j")
  s1=$(sed -n 's/.*"style_loss": \([^,]*\),*/\1/p' <<< "$j" | head -n 1)
  check "the style loss falls ($s0 -> $s1)" awk -v a="$s0" -v b="$s1" 'BEGIN { exit !(b < a) }'
  (( fail )) && { echo "$j"; exit 1; }
  echo "$me: the installed nstyle renders"
  exit 0
fi

# ---- the layout ---------------------------------------------------------------------------------
check "bin: nstyle" test -x "$nstyle"
check "lib: libnstyle.a" test -f "$libdir/libnstyle.a"
check "lib: libnstyle.so" test -e "$libdir/libnstyle.so"
if [[ $HAVE_CUDA == ON ]]; then
  check "lib: libnstyle_cuda.so" test -f "$libdir/libnstyle_cuda.so"
else
  check "lib: no CUDA module in a CPU-only build" test ! -e "$libdir/libnstyle_cuda.so"
fi
for h in "$SOURCE_DIR"/include/nstyle/*.h; do
  check "include: nstyle/${h##*/}" cmp -s "$h" "$P/$INCLUDEDIR/nstyle/${h##*/}"
done
n_src=$(ls "$SOURCE_DIR"/include/nstyle/*.h | wc -l)
n_inst=$(ls "$P/$INCLUDEDIR"/nstyle/*.h 2>/dev/null | wc -l)
check "include: $n_inst headers, as many as include/nstyle/ ($n_src)" test "$n_src" = "$n_inst"
check "pkg-config: nstyle.pc" test -f "$libdir/pkgconfig/nstyle.pc"
check "cmake: nstyleConfig.cmake" test -f "$libdir/cmake/nstyle/nstyleConfig.cmake"
for f in "$SOURCE_DIR"/models/*; do
  inst=$P/$DATADIR/nstyle/models/${f##*/}
  check "models: ${f##*/}" cmp -s "$f" "$inst"
  [[ -x $f ]] && check "models: ${f##*/} executable" test -x "$inst"
done
for f in "$libdir"/pkgconfig/nstyle.pc "$libdir"/cmake/nstyle/*.cmake; do
  check "${f#"$P"/} names neither the build nor the source folder" \
    test -z "$(grep -lF -e "$BUILD_DIR" -e "$SOURCE_DIR" "$f")"
done
for f in "$nstyle" "$libdir"/libnstyle.so "$libdir"/libnstyle_cuda.so; do
  [[ -e $f ]] || continue
  check "${f#"$P"/}: no RUNPATH into the build" \
    test -z "$(readelf -d "$f" | grep -E 'RPATH|RUNPATH' | grep -F "$BUILD_DIR")"
done

# ---- the installed nstyle -----------------------------------------------------------------------
info=$(clean "$nstyle" info 2>&1)
check "nstyle info exits 0 in a clean environment" test $? -eq 0
check "nstyle info: the version and the CPU" \
  grep -q "^nstyle $version .*CPU: " <<< "$(tr '\n' ' ' <<< "$info")"
# where the module found lies: 'CUDA: module PATH; ...'
module_of() { sed -n 's/^\(CUDA: \|cuda ok: \)module \([^;]*\);.*/\2/p' <<< "$1"; }
if [[ $HAVE_CUDA == ON ]]; then
  info=$(clean "${cuda_env[@]}" "$nstyle" info 2>&1)
  found=$(module_of "$info")
  if [[ -n $found ]]; then
    check "nstyle info: the installed module ($found)" \
      test "$(realpath "$found")" = "$(realpath "$libdir/libnstyle_cuda.so")"
  elif grep -q "could not be loaded" <<< "$info"; then
    echo "note  the CUDA libraries are not loadable here: the module's place is not checked"
  else
    bad "nstyle info: the installed module: $info"
  fi
fi

# ---- programs built against the install -------------------------------------------------------
consumer_ok() { # consumer_ok DESCRIPTION SHARED(yes|no) PROGRAM: run it, check what it says
  local what=$1 shared=$2 prog=$3 said
  said=$(clean "${cuda_env[@]}" LD_LIBRARY_PATH="$libdir" "$prog" 2>&1)
  check "$what runs" test $? -eq 0
  check "$what: 'nstyle $version'" grep -qxF "nstyle $version" <<< "$said"
  check "$what: relu 0 2 0 4" grep -qxF "relu 0 2 0 4" <<< "$said"
  if [[ $HAVE_CUDA == ON && $shared == yes ]]; then
    local m
    m=$(module_of "$said")
    if [[ -n $m ]]; then
      check "$what: the module beside libnstyle.so ($m)" \
        test "$(realpath "$m")" = "$(realpath "$libdir/libnstyle_cuda.so")"
    elif ! grep -q "could not be loaded" <<< "$said"; then
      bad "$what: the module beside libnstyle.so: $said"
    fi
  fi
}
src=$SOURCE_DIR/tests/install
pc=(env -i PATH=/usr/bin:/bin PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config)
if cflags=$("${pc[@]}" --cflags nstyle) && libs=$("${pc[@]}" --libs nstyle); then
  ok "pkg-config --cflags --libs nstyle: $cflags $libs"
  # shellcheck disable=SC2086  # the flags are words
  if clean "$CC" $C_FLAGS -std=c11 -Wall -Wextra -Wpedantic -Werror "$src/consumer.c" \
       -o "$tmp/consumer_pc" $cflags $libs $EXE_LINKER_FLAGS > "$tmp/pc.log" 2>&1; then
    ok "consumer.c builds through pkg-config"
    consumer_ok "consumer (pkg-config, libnstyle.so)" yes "$tmp/consumer_pc"
  else
    cat "$tmp/pc.log"
    bad "consumer.c builds through pkg-config"
  fi
else
  bad "pkg-config finds nstyle in $libdir/pkgconfig"
fi
if clean "$CMAKE" -S "$src" -B "$tmp/cmake" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
     -DCMAKE_C_COMPILER="$CC" "-DCMAKE_C_FLAGS=$C_FLAGS -Wall -Wextra -Wpedantic -Werror" \
     "-DCMAKE_EXE_LINKER_FLAGS=$EXE_LINKER_FLAGS" > "$tmp/cmake.log" 2>&1 &&
   clean "$CMAKE" --build "$tmp/cmake" >> "$tmp/cmake.log" 2>&1; then
  ok "tests/install builds through find_package(nstyle)"
  grep -F -- "-- nstyle " "$tmp/cmake.log"
  consumer_ok "consumer (find_package, nstyle::nstyle)" yes "$tmp/cmake/consumer"
  consumer_ok "consumer_static (find_package, nstyle::nstyle_static)" no \
    "$tmp/cmake/consumer_static"
else
  cat "$tmp/cmake.log"
  bad "tests/install builds through find_package(nstyle)"
fi

if (( fail )); then
  echo "$me: FAILED (the checks marked FAIL above)"
  exit 1
fi
echo "$me: the install works from a clean environment"
