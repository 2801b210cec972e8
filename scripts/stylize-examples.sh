#!/usr/bin/env bash
# Renders the five pretrained fast styles (candy, mosaic, pointilism, rain_princess, udnie) on a
# real photo with `nstyle stylize` and tiles the photo and the five results into one JPEG.
#   scripts/stylize-examples.sh [BUILD_DIR] [OUT]      (defaults: build, docs/stylize-examples.jpg)
# The photo is ../shared/data/images/content/astronaut.png when that folder exists next to the
# checkout, else scikit-image's copy of the same photo (Debian python3-skimage). The models are
# looked up by name as nstyle does ($NSTYLE_MODELS, ./models, ~/.cache/nstyle); when
# NSTYLE_MODELS is unset and ../shared/data/models/fast exists, that folder is used. Tiling needs
# /usr/bin/python3 with PIL (Debian python3-pil).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-docs/stylize-examples.jpg}
side=${SIDE:-320}
shared=../shared/data
content=$shared/images/content/astronaut.png
[[ -f $content ]] || content=/usr/lib/python3/dist-packages/skimage/data/astronaut.png
[[ -f $content ]] || { echo "no photo: neither $shared nor python3-skimage is here" >&2; exit 1; }
if [[ -z ${NSTYLE_MODELS:-} && -d $shared/models/fast ]]; then
  NSTYLE_MODELS=$(cd "$shared/models/fast" && pwd)
  export NSTYLE_MODELS
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
styles=(candy mosaic pointilism rain_princess udnie)
"$build/nstyle" convert "$content" "$tmp/photo.png" --max-side "$side" >/dev/null
for s in "${styles[@]}"; do
  "$build/nstyle" stylize -m "$s" -i "$tmp/photo.png" -o "$tmp/$s.png" --quiet
done
mkdir -p "$(dirname "$out")"
/usr/bin/python3 - "$tmp" "$out" "$(basename "$content")" "${styles[@]}" <<'PY'
import os, sys
from PIL import Image, ImageDraw
tmp, out, photo, styles = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
names = ["photo"] + styles
tiles = [Image.open(os.path.join(tmp, n + ".png")).convert("RGB") for n in names]
w, h = tiles[0].size
cols = 3
rows = (len(tiles) + cols - 1) // cols
sheet = Image.new("RGB", (cols * w, rows * h), "white")
draw = ImageDraw.Draw(sheet)
for i, (name, t) in enumerate(zip(names, tiles)):
    x, y = (i % cols) * w, (i // cols) * h
    sheet.paste(t, (x, y))
    label = f"{photo} (input)" if name == "photo" else name
    draw.rectangle([x, y + h - 16, x + 7 * len(label) + 8, y + h], fill="black")
    draw.text((x + 4, y + h - 14), label, fill="white")
sheet.save(out, quality=88)
print(f"wrote {out} ({sheet.size[0]}x{sheet.size[1]}, {os.path.getsize(out)} bytes)")
PY
