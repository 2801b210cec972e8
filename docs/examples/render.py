"""Renders CONTENT in the style of STYLE with nstyle's Python API and saves the picture to OUT
(docs/python.md), printing the losses as it goes; Ctrl-C stops it and saves the image so far.
    python docs/examples/render.py CONTENT STYLE OUT [--size 512] [--iters 300]
        [--model VGG19.safetensors] [--content-layers L] [--style-layers L]"""

import argparse

from PIL import Image

import nstyle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("content")
    ap.add_argument("style")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--model", help="VGG19 weights (default: looked up as `nstyle render`)")
    ap.add_argument("--content-layers")
    ap.add_argument("--style-layers")
    a = ap.parse_args()

    def progress(p):
        if p.iteration % 20 == 0 or p.iteration == p.iterations:
            print(f"{p.iteration}/{p.iterations}: content {p.content_loss:.4g}, "
                  f"style {p.style_loss:.4g}", flush=True)

    r = nstyle.render(a.content, a.style, size=a.size, iters=a.iters, model=a.model,
                      content_layers=a.content_layers, style_layers=a.style_layers,
                      progress=progress)
    Image.fromarray(r.image).save(a.out)
    s = r.summary
    print(f"{'stopped after' if r.cancelled else 'done:'} {r.iterations} iterations, "
          f"{s['s_per_iter'] * 1e3:.1f} ms each on {s['device']}; wrote {a.out}")


if __name__ == "__main__":
    main()
