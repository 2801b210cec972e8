#!/usr/bin/env bash
# Contact sheets of the light networks (docs/light-networks.md) on a real photo, made with
# `nstyle stylize`:
#   OUT_DIR/light-26-styles.jpg     the photo and --builtin 0 .. 25, labelled
#   OUT_DIR/light-paintings.jpg     each painting of ../shared/data/images/style above the photo
#                                   stylised with --style PAINTING
#   OUT_DIR/light-working-size.jpg  --style starry_night.jpg with the photo at several working
#                                   sizes (--size), each shown at the same display size
#   scripts/light-contact-sheets.sh [BUILD_DIR] [OUT_DIR]     (defaults: build, docs)
# The photo is ../shared/data/images/content/chelsea.png (PHOTO= to change); the networks are
# found as nstyle finds models (models/fetch-light.sh). Tiling needs /usr/bin/python3 with PIL
# (Debian python3-pil).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=${2:-docs}
shared=../shared/data
photo=${PHOTO:-$shared/images/content/chelsea.png}
tile=${TILE:-224}
[[ -f $photo ]] || { echo "no photo at $photo (../shared/data)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nst() { "$build/nstyle" stylize --quiet "$@"; }
"$build/nstyle" convert "$photo" "$tmp/photo.png" --max-side "$tile" >/dev/null
for i in $(seq 0 25); do
    nst --builtin "$i" -i "$tmp/photo.png" -o "$tmp/b$i.png"
done
paintings=("$shared"/images/style/*.jpg)
for p in "${paintings[@]}"; do
    nst --style "$p" -i "$tmp/photo.png" -o "$tmp/p-$(basename "$p" .jpg).png"
done
sizes=(224 384 768 1536)
for s in "${sizes[@]}"; do
    nst --style "$shared/images/style/starry_night.jpg" -i "$photo" --size "$s" \
        -o "$tmp/w$s.png"
done
mkdir -p "$out"
/usr/bin/python3 - "$tmp" "$out" "$tile" "${sizes[*]}" "${paintings[@]}" <<'PY'
import os, sys
from PIL import Image, ImageDraw
tmp, out, tile, sizes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
paintings = sys.argv[5:]
pad, label = 6, 18


def sheet(tiles, cols, path, bg="white"):
    tw = max(im.width for _, im in tiles)
    th = max(im.height for _, im in tiles)
    rows = -(-len(tiles) // cols)
    s = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + label + pad) + pad), bg)
    d = ImageDraw.Draw(s)
    for n, (name, im) in enumerate(tiles):
        r, c = divmod(n, cols)
        x, y = pad + c * (tw + pad), pad + r * (th + label + pad)
        s.paste(im, (x, y + label))
        d.text((x + 2, y + 3), name, fill="black")
    s.save(path, quality=82, optimize=True)
    print(path, s.size, os.path.getsize(path) // 1024, "KiB")


photo = Image.open(os.path.join(tmp, "photo.png")).convert("RGB")
sheet([("photo", photo)] + [(f"--builtin {i}", Image.open(os.path.join(tmp, f"b{i}.png")))
                            for i in range(26)], 7, os.path.join(out, "light-26-styles.jpg"))
tiles = [("photo", photo)]
for p in paintings:
    th = Image.open(p).convert("RGB")
    th.thumbnail((photo.width, photo.height))
    tiles.append((os.path.basename(p), th))
tiles.append(("", Image.new("RGB", photo.size, "white")))
for p in paintings:
    name = os.path.splitext(os.path.basename(p))[0]
    tiles.append((f"--style {name}", Image.open(os.path.join(tmp, f"p-{name}.png"))))
sheet(tiles, len(paintings) + 1, os.path.join(out, "light-paintings.jpg"))
show = 2 * tile
tiles = []
for s in sizes:
    im = Image.open(os.path.join(tmp, f"w{s}.png")).convert("RGB")
    scale = show / im.width
    tiles.append((f"--size {s} (shown at {show} px)",
                  im.resize((show, round(im.height * scale)), Image.LANCZOS)))
sheet(tiles, len(tiles), os.path.join(out, "light-working-size.jpg"))
PY
