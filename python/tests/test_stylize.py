"""nstyle.stylize against the `nstyle stylize` command installed with it: the same pixels bit for
bit on the CPU (one image, frames in batches with smoothing, original colours; a synthetic
network always, candy with ../shared/data), the summary's fields, the inputs it takes, and the
errors it raises."""

import json
import os

import numpy as np
import pytest

import nstyle
from conftest import read_png, run_cli


def cli_stylize(cli, tmp_path, model, inputs, *options):
    out = tmp_path / "cli-out"
    js = tmp_path / "cli.json"
    args = ["stylize", "-m", model, "-o", out if len(inputs) > 1 else out.with_suffix(".png"),
            "--quiet", "--json", js, *options]
    for i in inputs:
        args += ["-i", i]
    run_cli(cli, *args)
    with open(js) as f:
        summary = json.load(f)
    if len(inputs) == 1:
        return [read_png(out.with_suffix(".png"))], summary
    return [read_png(out / (os.path.splitext(os.path.basename(i))[0] + ".png"))
            for i in inputs], summary


def test_one_image_is_the_clis_bit_for_bit(cli, model, photo_file, tmp_path):
    want, cli_summary = cli_stylize(cli, tmp_path, model, [photo_file], "--threads", "2",
                                    "--size", "96")
    r = nstyle.stylize(photo_file, model, threads=2, size=96)
    assert r.image.dtype == np.uint8 and r.image.shape == want[0].shape
    assert np.array_equal(r.image, want[0])
    assert len(np.unique(r.image)) > 50  # a real picture, not a constant
    # the summary has the JSON summary's fields (the API writes no files: no images_written)
    assert set(cli_summary) - set(r.summary) == {"images_written"}
    for k in ("width", "height", "inputs", "batch", "threads", "smooth", "original_colors",
              "plan_bytes", "style", "model", "nstyle_version", "device", "schema", "ok"):
        assert r.summary[k] == cli_summary[k], k
    assert r.summary["memory"]["peak_bytes"]["weights"] == \
        cli_summary["memory"]["peak_bytes"]["weights"]


def test_real_candy_is_the_clis_bit_for_bit(cli, candy, tmp_path):
    from conftest import shared
    photo = shared("images", "content", "chelsea.png")
    want, _ = cli_stylize(cli, tmp_path, candy, [photo], "--threads", "2")
    r = nstyle.stylize(photo, candy, threads=2)
    assert np.array_equal(r.image, want[0])
    # a numpy array and a PIL image of the same PNG give the same
    from PIL import Image
    with Image.open(photo) as im:
        assert np.array_equal(nstyle.stylize(im, candy, threads=2).image, want[0])
        assert np.array_equal(nstyle.stylize(np.asarray(im.convert("RGB")), candy,
                                             threads=2).image, want[0])


def test_frames_in_batches_with_smoothing_are_the_clis(cli, model, tmp_path):
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    frames = [base.copy() for _ in range(4)]
    frames[1][10:20, 10:30] = 255  # a moving patch; the rest stays
    frames[2][20:30, 5:25] = 0
    frames.append(rng.integers(0, 256, (36, 48, 3), dtype=np.uint8))  # another size
    from PIL import Image
    folder = tmp_path / "frames"
    folder.mkdir()
    paths = []
    for k, f in enumerate(frames):
        paths.append(str(folder / f"frame_{k + 1:04d}.png"))
        Image.fromarray(f).save(paths[-1])
    opts = ["--threads", "2", "--batch", "2", "--smooth", "0.6", "--original-colors"]
    want, _ = cli_stylize(cli, tmp_path, model, paths, *opts)
    r = nstyle.stylize((f for f in frames), model, threads=2, batch=2, smooth=0.6,
                       original_colors=True)
    assert len(r.images) == len(want) == 5
    for k, (got, w) in enumerate(zip(r.images, want)):
        assert np.array_equal(got, w), f"frame {k}"
    # an (n, h, w, 3) array is n frames; each call on one Stylizer is a sequence of its own
    with nstyle.Stylizer(model, threads=2, batch=2, smooth=0.6, original_colors=True) as s:
        for _ in range(2):
            same = s.stylize(np.stack(frames[:4]))
            for k in range(4):
                assert np.array_equal(same.images[k], want[k])


def test_float_output_is_the_unclamped_network_output(wide_model):
    model = wide_model
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    f = nstyle.stylize(img, model, as_float=True).image
    u = nstyle.stylize(img, model).image
    assert f.dtype == np.float32 and f.shape == (24, 30, 3)
    assert f.min() < 0 or f.max() > 255  # the synthetic net overshoots: not clamped
    # truncation after clamping, as the CLI writes 8 bits
    assert np.array_equal(np.clip(np.nan_to_num(f, nan=0), 0, 255).astype(np.uint8), u)


def test_stylizer_closes_and_refuses_use_after(model):
    img = np.zeros((8, 8, 3), np.uint8)
    with nstyle.Stylizer(model, threads=1) as s:
        assert s.style == "synthetic"
        assert s.stylize(img).image.shape == (8, 8, 3)
        a = list(s.frames([img, img]))
        assert len(a) == 2
    with pytest.raises(nstyle.Error, match="after close"):
        s.stylize(img)
    s.close()  # again: nothing


def test_errors_name_what_is_wrong(model, tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    missing = tmp_path / "no-such-photo.png"
    with pytest.raises(nstyle.FileError) as e:
        nstyle.stylize(missing, model)
    assert str(missing) in str(e.value) and e.value.status == "ERR_IO"
    assert isinstance(e.value, OSError)
    with pytest.raises(nstyle.FileError, match="no-such-style"):
        nstyle.stylize(img, "no-such-style")
    with pytest.raises(nstyle.InputError, match=r"dtype uint8.*got float64"):
        nstyle.stylize(np.zeros((8, 8, 3)), model)
    with pytest.raises(nstyle.InputError, match=r"shape \(height, width, 3\).*got \(8, 8\)"):
        nstyle.stylize(np.zeros((8, 8), np.uint8), model)
    with pytest.raises(nstyle.InputError, match=r"got \(8, 8, 4\)"):
        nstyle.stylize(np.zeros((8, 8, 4), np.uint8), model)
    with pytest.raises(nstyle.InputError, match="smallest image is 5x5"):
        nstyle.stylize(np.zeros((4, 8, 3), np.uint8), model)
    with pytest.raises(nstyle.InputError, match="got dict"):
        nstyle.stylize([{}], model)
    with pytest.raises(nstyle.OptionError, match="'smoth'") as e:
        nstyle.stylize(img, model, smoth=0.5)
    assert isinstance(e.value, TypeError)
    with pytest.raises(nstyle.OptionError, match=r"batch wants a whole number 1\.\.256"):
        nstyle.stylize(img, model, batch=0)
    with pytest.raises(nstyle.OptionError, match="size and scale"):
        nstyle.stylize(img, model, size=16, scale=0.5)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(nstyle.Error) as e:
        nstyle.stylize(img, str(bad))
    assert str(bad) in str(e.value)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_100_calls_leave_resident_memory_flat(model):
    import gc
    img = np.random.default_rng(6).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for _ in range(10):
        nstyle.stylize(img, model, threads=1)
    gc.collect()
    before = rss_bytes()
    for i in range(100):
        if i % 2:
            nstyle.stylize(img, model, threads=1)
        else:  # closed by the garbage collector, not by close()
            s = nstyle.Stylizer(model, threads=1)
            s.stylize(img)
            del s
    gc.collect()
    grown = rss_bytes() - before
    # one leaked network would be its 6.7 MB of weights (F32) a call
    assert grown < 4 * 2**20, f"resident memory grew {grown / 2**20:.1f} MiB over 100 calls"
