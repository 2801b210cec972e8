#!/usr/bin/env bash
# docs/geometry.md's pictures and the --robust measurement, from the shared photos:
#   scripts/make-geometry-examples.sh [BUILD] [ITERATIONS]      (default build-cpu, 100)
# Renders chelsea.png in the style of starry_night.jpg at 128 px (the full VGG19 that nstyle
# finds, default layers, Adam lr 0.02, ITERATIONS each) plainly and with each geometry option,
# tiles them into docs/geometry-*.jpg (python3 + PIL), and measures --robust: the style loss of
# M = 16 fixed random views (rotate +-20 deg, scale 0.8..1.2, shift +-0.1, seed 1234, none of
# them the views the render saw) of the plain and the robust result, by `nstyle render -n 0
# --robust 16` on each result (an evaluation only: its robust_style_loss is that mean). Writes
# the figures to bench/results/geometry.md. Renders go to out/geometry/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cpu}
iters=${2:-100}
nstyle=$build/nstyle
data=../shared/data/images
content=$data/content/chelsea.png
style=$data/style/starry_night.jpg
out=out/geometry
mkdir -p "$out" docs bench/results
[[ -x $nstyle ]] || { echo "make-geometry-examples.sh: no $nstyle (build first)" >&2; exit 1; }
[[ -f $content && -f $style ]] || { echo "make-geometry-examples.sh: no $data" >&2; exit 1; }

common=(-s "$style" --size 128 -n "$iters" --lr 0.02 --seed 0 --quiet)
render() { # NAME ARGS...: out/geometry/NAME.png and NAME.json
    local name=$1
    shift
    echo "render $name: $*" >&2
    "$nstyle" render -c "$content" "${common[@]}" -o "$out/$name.png" --json "$out/$name.json" "$@"
}
measure() { # NAME: the style loss of 16 fixed random views of out/geometry/NAME.png
    "$nstyle" render -c "$out/$1.png" -s "$style" --size 128 -n 0 --robust 16 --seed 1234 \
        --quiet -o "$out/$1-measured.png" --json "$out/$1-measured.json"
}

render plain
render content-transform --content-transform rotate=15,scale=0.8,translate=0.1,0
render content-rotated -n 0 --content-transform rotate=15,scale=0.8,translate=0.1,0 # the input
render robust --robust 2
render augment --style-augment 4
render learned --learn-style-transform --style-transform-penalty 0
render learned-held --learn-style-transform
measure plain
measure robust

python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
"$python3" - "$out" "$content" "$style" "$iters" <<'EOF'
import json, os, sys
from PIL import Image

out, content, style, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
j = lambda name: json.load(open(os.path.join(out, name + ".json")))

def sheet(path, images, height=128, gap=6):
    tiles = []
    for p in images:
        im = Image.open(p).convert("RGB")
        tiles.append(im.resize((max(1, round(im.width * height / im.height)), height),
                               Image.LANCZOS))
    s = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), "white")
    x = 0
    for t in tiles:
        s.paste(t, (x, 0))
        x += t.width + gap
    s.save(path, quality=85, optimize=True)
    print("wrote %s (%dx%d, %d bytes)" % (path, s.width, s.height, os.path.getsize(path)))

png = lambda name: os.path.join(out, name + ".png")
sheet("docs/geometry-content-transform.jpg",
      [content, png("content-rotated"), png("content-transform")])
sheet("docs/geometry-robust.jpg", [style, png("plain"), png("robust")])
sheet("docs/geometry-augment.jpg", [png("plain"), png("augment")])
sheet("docs/geometry-learned.jpg", [png("plain"), png("learned"), png("learned-held")])

p, r = j("plain"), j("robust")
mp, mr = j("plain-measured"), j("robust-measured")
rows = []
for name in ("plain", "content-transform", "robust", "augment", "learned", "learned-held"):
    d = j(name)
    theta = d.get("style_theta")
    rows.append("| %s | %.4g | %.4g | %.4g | %.3f | %s |" % (
        name, d["content_loss"], d["style_loss"], d["s_per_iter"], d["ssim_to_content"] or 0,
        "[" + ", ".join("%.4f" % t for t in theta) + "]" if theta else ""))
text = """# Geometry: chelsea.png in the style of starry_night.jpg, 128 px

`scripts/make-geometry-examples.sh`: the full VGG19 nstyle finds, default layers, Adam lr 0.02,
%d iterations each, CPU. Losses are unweighted, at the last iterate; the style loss is that of
the image itself (not its views); s/iter on the shared 2-core machine.

| render | content loss | style loss | s/iter | SSIM to content | learned style theta |
|---|---|---|---|---|---|
%s

## --robust 2 against plain: the style loss of 16 fixed random views

Views: rotate +-20 deg, scale 0.8..1.2, shift +-0.1, seed 1234 (the render's own views came from
seed 0), reflection padding; each result read back from its 8-bit PNG.

| result | style loss of the image | mean style loss of the 16 views |
|---|---|---|
| plain | %.5g | %.5g |
| --robust 2 | %.5g | %.5g |
""" % (iters, "\n".join(rows), mp["style_loss"], mp["robust_style_loss"], mr["style_loss"],
       mr["robust_style_loss"])
open("bench/results/geometry.md", "w").write(text)
print(text)
EOF
