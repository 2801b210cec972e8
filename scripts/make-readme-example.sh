#!/usr/bin/env bash
# Makes the README's before/after picture, docs/render-example.jpg: the content photo, the style
# image and the render, side by side at the same height (under 500 KB).
#   scripts/make-readme-example.sh [ITERATIONS]     (default: scripts/example.sh's)
# Runs scripts/example.sh (the same render as the README's first command), then tiles the three
# images named in its JSON summary, out/example-render.json, with python3 and PIL (Debian's
# python3-pil, which python3-skimage pulls in; scripts/install-deps.sh --examples).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/example.sh "$@"
mkdir -p docs
python3=/usr/bin/python3
[[ -x $python3 ]] || python3=python3
"$python3" - out/example-render.json docs/render-example.jpg <<'EOF'
import json, os, sys
from PIL import Image

summary = json.load(open(sys.argv[1]))
if not summary.get("ok"):
    sys.exit("make-readme-example.sh: the render failed: %s" % summary.get("error"))
height, gap = 256, 8
tiles = []
for key in ("content", "style", "output"):
    im = Image.open(summary[key]).convert("RGB")
    width = max(1, round(im.width * height / im.height))
    tiles.append(im.resize((width, height), Image.LANCZOS))
sheet = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height), "white")
x = 0
for t in tiles:
    sheet.paste(t, (x, 0))
    x += t.width + gap
for quality in (90, 80, 70, 60):
    sheet.save(sys.argv[2], quality=quality, optimize=True)
    if os.path.getsize(sys.argv[2]) < 500 * 1024:
        break
print("make-readme-example.sh: wrote %s (%dx%d, %d bytes; %d iterations, %.2f s/iter)"
      % (sys.argv[2], sheet.width, sheet.height, os.path.getsize(sys.argv[2]),
         summary["iterations"], summary["s_per_iter"]))
EOF
