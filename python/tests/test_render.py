"""nstyle.render against the `nstyle render` command installed with it: the same pixels bit for
bit on the CPU (a narrow random VGG19 written here always, the partial real one with
../shared/data), the summary's fields; the progress callback: stopping by returning False (the
image so far, which is the shorter render's), an exception re-raised with its traceback,
KeyboardInterrupt and a real SIGINT stopping it with the image so far; output and save_every;
option errors naming the option; the example script of docs/examples/."""

import json
import os
import signal
import subprocess
import sys
import time
import traceback

import numpy as np
import pytest
from PIL import Image

import nstyle
from conftest import REPO, random_photo, read_png, run_cli, shared

LAYERS = dict(content_layers="relu2_1", style_layers="relu1_1,relu2_1")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    d = tmp_path_factory.mktemp("pictures")
    paths = []
    for name, (w, h, seed) in {"content.png": (40, 30, 1), "style.png": (32, 36, 2),
                               "style2.png": (50, 20, 3), "init.png": (20, 20, 4)}.items():
        Image.fromarray(random_photo(w, h, seed)).save(d / name)
        paths.append(str(d / name))
    return paths


def cli_render(cli, tmp_path, *args):
    out, js = tmp_path / "cli.png", tmp_path / "cli.json"
    run_cli(cli, "render", "-o", out, "--json", js, "--quiet", "--device", "cpu",
            "--threads", "2", *args)
    with open(js) as f:
        return read_png(out), json.load(f)


# (the CLI's arguments after -c, -s and the weights, the API's options) in pairs that mean the
# same render
SETTINGS = {
    "adam": (["--size", "32", "--iters", "8", "--content-layers", "relu2_1", "--style-layers",
              "relu1_1,relu2_1"], dict(size=32, iters=8, **LAYERS)),
    "lbfgs-scales-blend-noise": (
        ["--size", "36x28", "--iters", "6", "--optimizer", "lbfgs", "--scales", "2",
         "--scale-iters", "3,4", "--style-blend", "1,3", "--style-scale", "0.5", "--init",
         "noise", "--seed", "5", "--tv-weight", "2", "--pooling", "avg", "--content-layers",
         "relu2_1", "--style-layers", "relu1_1,relu2_1", "--original-colors"],
        dict(size="36x28", iters=6, optimizer="lbfgs", scales=2, scale_iters=[3, 4],
             style_blend=[1, 3], style_scale=0.5, init="noise", seed=5, tv_weight=2,
             pooling="avg", original_colors=True, **LAYERS)),
    "init-image-transform-robust": (
        ["--size", "32", "--iters", "5", "--init", "INIT", "--content-transform", "rotate=10",
         "--robust", "2", "--histogram-match", "--content-layers", "relu2_1",
         "--style-layers", "relu1_1,relu2_1"],
        dict(size=32, iters=5, init="INIT", content_transform="rotate=10", robust=2,
             histogram_match=True, **LAYERS)),
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_render_is_the_clis_bit_for_bit(cli, vgg, pictures, tmp_path, setting):
    content, style, style2, init = pictures
    args, options = SETTINGS[setting]
    args = [init if a == "INIT" else a for a in args]
    options = {k: init if v == "INIT" else v for k, v in options.items()}
    styles = [style, style2] if "style_blend" in options else [style]
    want, js = cli_render(cli, tmp_path, "-c", content, "-s", ",".join(styles), "--model", vgg,
                          *args)
    r = nstyle.render(content, styles if len(styles) > 1 else style, model=vgg, device="cpu",
                      threads=2, **options)
    assert r.image.dtype == np.uint8 and r.image.shape == want.shape
    assert np.array_equal(r.image, want)
    assert len(np.unique(r.image)) > 20  # a picture, not a constant
    assert r.image_float.dtype == np.float32 and r.image_float.shape == want.shape
    assert set(js) - set(r.summary) == set()  # every field of the JSON summary
    for k in ("width", "height", "iterations", "iterations_requested", "optimizer", "styles",
              "style_blend", "scales", "cancelled", "plan_bytes", "content", "style",
              "weights", "device"):
        assert r.summary[k] == js[k], k
    for k in ("content_loss", "style_loss", "tv_loss", "total_loss", "initial_content_loss",
              "initial_style_loss", "ssim_to_content"):
        assert r.summary[k] == pytest.approx(js[k], rel=1e-6, abs=1e-30), k
    assert r.summary["memory"]["peak_bytes"] == js["memory"]["peak_bytes"]
    assert r.iterations == js["iterations"] and not r.cancelled


def test_real_partial_vgg19_is_the_clis(cli, tmp_path):
    vgg = shared("models", "vgg19-partial", "vgg19_conv1_to_conv3.safetensors")
    photo = shared("images", "content", "chelsea.png")
    painting = shared("images", "style", "starry_night.jpg")
    layers = dict(content_layers="relu3_2", style_layers="relu1_1,relu2_1,relu3_1")
    want, js = cli_render(cli, tmp_path, "-c", photo, "-s", painting, "--model", vgg, "--size",
                          "48", "--iters", "10", "--content-layers", layers["content_layers"],
                          "--style-layers", layers["style_layers"])
    r = nstyle.render(photo, painting, model=vgg, size=48, iters=10, device="cpu", threads=2,
                      **layers)
    assert np.array_equal(r.image, want)
    assert r.summary["style_loss"] < r.summary["initial_style_loss"]
    assert r.summary["style_loss"] == pytest.approx(js["style_loss"], rel=1e-6)


def test_arrays_and_pil_images_are_the_paths(vgg, pictures):
    content, style = pictures[:2]
    by_path = nstyle.render(content, style, model=vgg, size=24, iters=3, threads=2,
                            device="cpu", **LAYERS)
    by_array = nstyle.render(read_png(content), Image.open(style), model=vgg, size=24, iters=3,
                             threads=2, device="cpu", **LAYERS)
    assert np.array_equal(by_path.image, by_array.image)
    assert by_array.summary["content"] is None and by_path.summary["content"] == content


def test_progress_false_stops_with_the_image_so_far(vgg, pictures):
    content, style = pictures[:2]
    seen = []

    def stop_at_3(p):
        seen.append(p)
        return p.iteration < 3

    kw = dict(model=vgg, size=32, threads=2, device="cpu", **LAYERS)
    r = nstyle.render(content, style, iters=20, progress=stop_at_3, **kw)
    assert r.cancelled and r.iterations == 3 and r.summary["iterations_requested"] == 20
    assert [p.iteration for p in seen] == [1, 2, 3]
    assert all(p.iterations == 20 and p.scales == 1 and p.style_loss > 0 for p in seen)
    assert seen[0].total_loss == pytest.approx(
        seen[0].content_loss + 100 * seen[0].style_loss, rel=1e-6)  # the weights 1 and 100
    # the image so far is the image after 3 iterations: that of a 3-iteration render
    three = nstyle.render(content, style, iters=3, progress=lambda p: None, **kw)
    assert not three.cancelled and np.array_equal(r.image, three.image)
    assert np.array_equal(r.image_float, three.image_float)


def test_an_exception_in_progress_is_reraised_with_its_traceback(vgg, pictures):
    content, style = pictures[:2]

    def failing_callback(p):
        if p.iteration == 2:
            raise ValueError(f"stop at {p.iteration}")

    with pytest.raises(ValueError, match="stop at 2") as e:
        nstyle.render(content, style, model=vgg, size=24, iters=50, threads=2, device="cpu",
                      progress=failing_callback, **LAYERS)
    names = [f.name for f in traceback.extract_tb(e.value.__traceback__)]
    assert names[0] == "test_an_exception_in_progress_is_reraised_with_its_traceback"
    assert names[-1] == "failing_callback"  # raised there, as if called from here


def test_keyboard_interrupt_stops_with_the_image_so_far(vgg, pictures):
    content, style = pictures[:2]
    kw = dict(model=vgg, size=24, iters=200, threads=2, device="cpu", **LAYERS)

    def interrupt(p):
        if p.iteration == 2:
            raise KeyboardInterrupt

    r = nstyle.render(content, style, progress=interrupt, **kw)
    assert r.cancelled and r.summary["interrupted"] and r.iterations == 2

    def sigint(p):  # a real Ctrl-C: Python raises KeyboardInterrupt at its next instruction
        if p.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)

    # Python's own Ctrl-C handler, as in a terminal (a shell's background job starts with
    # SIGINT ignored, and Python then leaves it so)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = nstyle.render(content, style, progress=sigint, **kw)
    finally:
        signal.signal(signal.SIGINT, old)
    assert r.cancelled and r.summary["interrupted"] and r.iterations in (2, 3)
    assert r.image.shape == (18, 24, 3)


def test_output_and_save_every_write_the_clis_files(vgg, pictures, tmp_path):
    content, style = pictures[:2]
    out = tmp_path / "out.png"
    r = nstyle.render(content, style, model=vgg, size=24, iters=4, threads=2, device="cpu",
                      output=out, save_every=2, **LAYERS)
    assert np.array_equal(read_png(out), r.image)
    assert sorted(os.listdir(tmp_path)) == ["out.png", "out_000002.png", "out_000004.png"]
    assert np.array_equal(read_png(tmp_path / "out_000004.png"), r.image)


def test_defaults_are_the_clis(cli):
    d = nstyle.render_defaults()
    text = run_cli(cli, "render", "--help").stdout
    assert d["size"] == 512 and "(default 512)" in text
    assert f"iterations (default {d['iters']})" in text
    assert f"(default {d['content_weight']:g})" in text
    assert f"(default {d['style_weight']:g})" in text
    assert d["device"] == "auto" and d["init"] == "content" and d["optimizer"] == "adam"


def test_option_errors_name_the_option(vgg, pictures):
    content, style = pictures[:2]
    kw = dict(model=vgg, size=24, iters=1, device="cpu")
    with pytest.raises(nstyle.OptionError, match="unknown option 'itres'"):
        nstyle.render(content, style, itres=3, **kw)
    with pytest.raises(TypeError, match="'itres'"):  # an OptionError is a TypeError too
        nstyle.train(style, ".", "m.safetensors", itres=3)
    with pytest.raises(nstyle.OptionError, match="unknown layer 'relu9_9'"):
        nstyle.render(content, style, style_layers="relu1_1,relu9_9", **kw)
    with pytest.raises(nstyle.OptionError, match="line_search is for L-BFGS"):
        nstyle.render(content, style, line_search="strong-wolfe", **kw)
    with pytest.raises(nstyle.OptionError, match="iters"):
        nstyle.render(content, style, **dict(kw, iters=-1))
    with pytest.raises(nstyle.OptionError, match="content_transform"):
        nstyle.render(content, style, content_transform="spin=3", **kw)
    with pytest.raises(nstyle.OptionError, match="progress"):
        nstyle.render(content, style, progress=3, **kw)
    with pytest.raises(nstyle.FileError, match="nope.safetensors"):
        nstyle.render(content, style, **dict(kw, model="/nonexistent/nope.safetensors"))
    reason = nstyle.info()["no_gpu_reason"]
    if reason:  # no GPU: CUDA asked for says why, as `info` does
        with pytest.raises(nstyle.DeviceError) as e:
            nstyle.render(content, style, **dict(kw, device="cuda"))
        assert "cuda" in str(e.value)


def test_the_docs_example_renders_and_saves_a_picture(vgg, pictures, tmp_path):
    content, style = pictures[:2]
    script = os.path.join(REPO, "docs", "examples", "render.py")
    out = tmp_path / "picture.png"
    r = subprocess.run([sys.executable, script, content, style, out, "--size", "32", "--iters",
                        "20", "--model", vgg, "--content-layers", "relu2_1",
                        "--style-layers", "relu1_1,relu2_1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "20/20: content" in r.stdout and f"wrote {out}" in r.stdout
    want = nstyle.render(content, style, size=32, iters=20, model=vgg, **LAYERS)
    assert np.array_equal(read_png(out), want.image)
