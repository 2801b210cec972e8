#!/usr/bin/env bash
# The main job on an example: what this nstyle can do and where it can run (nstyle info), then
# an example photo through the image path (decode, resize, encode) into out/.
# The photo comes from ../shared/data when that folder exists, else from Debian's
# python3-skimage package (public-domain sample photos; scripts/install-deps.sh --examples).
set -euo pipefail
cd "$(dirname "$0")/.."
nstyle=${NSTYLE:-build/nstyle}
[[ -x $nstyle ]] || { echo "example.sh: $nstyle not built (run scripts/build.sh)" >&2; exit 1; }

photo=""
for candidate in ../shared/data/images/content/astronaut.png \
                 /usr/lib/python3/dist-packages/skimage/data/astronaut.png; do
  [[ -r $candidate ]] && { photo=$candidate; break; }
done
[[ -n $photo ]] || { echo "example.sh: no example photo: run scripts/install-deps.sh --examples" >&2; exit 1; }

"$nstyle" info
mkdir -p out
"$nstyle" convert "$photo" out/astronaut-384.jpg --resize 384x384 --quality 92
"$nstyle" convert out/astronaut-384.jpg out/astronaut-384.png
