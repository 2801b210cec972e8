#!/usr/bin/env bash
# The study behind the render's defaults: the brief's defaults against one change at a time
# (learning rate, style weight, optimiser, initial image, pooling), 11 renders of one content and
# style pair at 256 px on the CPU, then a contact sheet with each render's losses and SSIM.
#   scripts/defaults-study.sh [ITERATIONS]     (default 200)
# Writes out/defaults-study/NAME.png and NAME.json (a render whose JSON is already there and
# finished with the same iterations is not run again: delete the folder to start over), then
# docs/defaults-study.jpg (the contact sheet) and docs/defaults-study.md (the table docs/render.md
# links). Needs the content and style images of ../shared/data, the VGG19 weights
# (models/fetch-vgg19.sh) and python3 with PIL (scripts/install-deps.sh --examples).
#
# What is compared: every render stops after the same number of loss evaluations. "objective" is
# the brief's own loss, content + 100 * style (unweighted losses, as the JSON gives them), at the
# last image: lower means the optimiser got further on the brief's problem in that budget. It
# compares optimisers, learning rates and initial images; a render with another style weight
# optimises another objective, and one with average pooling another network (its losses are in
# other units), so those are judged by the style loss, the SSIM to the content and by eye.
set -euo pipefail
cd "$(dirname "$0")/.."
nstyle=${NSTYLE:-build/nstyle}
iters=${1:-200}
[[ -x $nstyle ]] || { echo "defaults-study.sh: $nstyle not built (run scripts/build.sh)" >&2; exit 1; }
content=../shared/data/images/content/chelsea.png
style=../shared/data/images/style/starry_night.jpg
for f in "$content" "$style"; do
  [[ -r $f ]] || { echo "defaults-study.sh: $f not found (the shared data folder)" >&2; exit 1; }
done
out=out/defaults-study
mkdir -p "$out" docs

# name | flags (the brief's defaults: Adam, lr 0.01, content 1 : style 100, content init, max)
runs=(
  "defaults|"
  "lr-0.003|--lr 0.003"
  "lr-0.03|--lr 0.03"
  "lr-0.1|--lr 0.1"
  "style-10|--style-weight 10"
  "style-1000|--style-weight 1000"
  "style-10000|--style-weight 10000"
  "lbfgs|--optimizer lbfgs"
  "noise-init|--init noise"
  "noise-lbfgs|--init noise --optimizer lbfgs"
  "avg-pool|--pooling avg"
)

for run in "${runs[@]}"; do
  name=${run%%|*}
  flags=${run#*|}
  json=$out/$name.json
  if [[ -r $json ]] && grep -q "\"iterations\": $iters," "$json" && grep -q '"ok": true' "$json"; then
    echo "defaults-study.sh: $name done already"
    continue
  fi
  echo "defaults-study.sh: $name ($flags)"
  # shellcheck disable=SC2086
  "$nstyle" render -c "$content" -s "$style" -o "$out/$name.png" --size 256 --iters "$iters" \
    --device cpu --quiet --json "$json" $flags
done

python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
"$python3" - "$out" docs/defaults-study.jpg docs/defaults-study.md "$iters" "${runs[@]}" <<'EOF'
import json, os, sys
from PIL import Image, ImageDraw, ImageFont

out, sheet_path, table_path, iters, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
runs = []
flags = {}
for run in names:
    n, flags[n] = run.split("|", 1)
    j = json.load(open(os.path.join(out, n + ".json")))
    if not j.get("ok"):
        sys.exit("defaults-study.sh: %s failed: %s" % (n, j.get("error")))
    runs.append((n, j))

def objective(j):
    return j["content_loss"] + 100.0 * j["style_loss"]

images = []
for n, j in runs:
    im = Image.open(j["output"]).convert("RGB")
    images.append(im.resize((256, max(1, round(im.height * 256 / im.width))), Image.LANCZOS))
cols, tile, label_h, gap = 4, 256, 46, 6
tile_h = max(im.height for im in images)
rows = (len(runs) + cols - 1) // cols
sheet = Image.new("RGB", (cols * tile + (cols - 1) * gap, rows * (tile_h + label_h) + (rows - 1) * gap), "white")
draw = ImageDraw.Draw(sheet)
try:
    font = ImageFont.truetype("DejaVuSans.ttf", 12)
except OSError:
    font = ImageFont.load_default()
for i, (n, j) in enumerate(runs):
    im = images[i]
    x = (i % cols) * (tile + gap)
    y = (i // cols) * (tile_h + label_h + gap)
    sheet.paste(im, (x, y))
    text = "%s\ncontent %.3g  style %.3g\nobjective %.3g  SSIM %.3f" % (
        n, j["content_loss"], j["style_loss"], objective(j), j["ssim_to_content"])
    draw.multiline_text((x + 2, y + tile_h + 2), text, fill="black", font=font, spacing=2)
sheet.save(sheet_path, quality=82)

lines = ["| render | flags | content loss | style loss | objective (c + 100 s) | SSIM to content | s/iteration |",
         "|---|---|---|---|---|---|---|"]
for n, j in runs:
    lines.append("| %s | %s | %.4g | %.4g | %.4g | %.3f | %.2f |" % (
        n, "`%s`" % flags[n] if flags[n] else "(the brief's)", j["content_loss"], j["style_loss"], objective(j), j["ssim_to_content"], j["s_per_iter"]))
open(table_path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print("defaults-study.sh: wrote %s and %s (%s iterations each)" % (sheet_path, table_path, iters))
EOF
