"""nstyle.train against `nstyle train`: the same model file bit for bit on the CPU (a narrow
random VGG19, 16 px crops); stopping from the progress callback writes the
checkpoint with the steps done, resume continues from it to the uninterrupted run's model, KeyboardInterrupt
stops it the same way, an exception is re-raised after the checkpoint is written; nstyle.stylize runs the model."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import nstyle
from conftest import random_photo, run_cli

TINY = dict(size=16, batch=1, width=32, style_layers="relu1_2,relu2_2", seed=3, threads=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    photos = d / "photos"
    photos.mkdir()
    for i, (w, h) in enumerate([(24, 20), (20, 28), (32, 24)]):
        Image.fromarray(random_photo(w, h, 10 + i)).save(photos / f"p{i}.png")
    Image.fromarray(random_photo(30, 24, 20)).save(d / "mystyle.png")
    return str(d / "mystyle.png"), str(photos)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_train_is_the_clis_bit_for_bit(cli, vgg, data, tmp_path):
    style, photos = data
    run_cli(cli, "train", "-s", style, "--data", photos, "-o", tmp_path / "cli.safetensors",
            "-m", vgg, "--size", "16", "--batch", "1", "--width", "32", "--style-layers",
            "relu1_2,relu2_2", "--seed", "3", "--threads", "2", "--steps", "3", "--quiet",
            "--json", tmp_path / "cli.json")
    with open(tmp_path / "cli.json") as f:
        js = json.load(f)
    r = nstyle.train(style, photos, tmp_path / "api.safetensors", model=vgg, steps=3, **TINY)
    assert read(tmp_path / "api.safetensors") == read(tmp_path / "cli.safetensors")
    assert r.steps == 3 and not r.cancelled and r.checkpoint is None
    assert set(js) - set(r.summary) == set()
    for k in ("images", "steps", "steps_requested", "size", "batch", "seed", "plan_bytes",
              "cancelled", "checkpoint", "weights", "style", "data"):
        assert r.summary[k] == js[k], k
    for k in ("first_loss", "last_loss", "content_weight", "style_weight"):
        assert r.summary[k] == pytest.approx(js[k], rel=1e-9), k


def test_stop_writes_the_checkpoint_and_resume_continues(vgg, data, tmp_path):
    style, photos = data
    whole = nstyle.train(style, photos, tmp_path / "whole.safetensors", model=vgg, steps=4,
                         **TINY)
    steps = []

    def stop_at_2(p):
        steps.append(p.step)
        assert p.steps == 4 and p.total_loss > 0
        return p.step < 2

    out = tmp_path / "run.safetensors"
    r = nstyle.train(style, photos, out, model=vgg, steps=4, progress=stop_at_2, **TINY)
    assert steps == [1, 2] and r.cancelled and r.steps == 2
    ckpt = tmp_path / "run.ckpt.safetensors"
    assert r.checkpoint == str(ckpt) and ckpt.exists() and out.exists()
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt.safetensors", "run.safetensors",
                                            "whole.safetensors"]  # no temporary file left
    r2 = nstyle.train(style, photos, out, model=vgg, steps=4, resume=ckpt, **TINY)
    assert r2.steps == 4 and not r2.cancelled
    assert read(out) == read(tmp_path / "whole.safetensors")  # bit for bit, resumed
    assert whole.summary["last_loss"] == r2.summary["last_loss"]
    # the trained network stylises
    photo = random_photo(20, 16, 30)
    y = nstyle.stylize(photo, str(out), threads=2)
    assert y.image.shape == (16, 20, 3) and y.summary["style"] == "mystyle"


def test_keyboard_interrupt_stops_after_the_step_with_the_checkpoint(vgg, data, tmp_path):
    style, photos = data

    def ctrl_c(p):
        raise KeyboardInterrupt

    r = nstyle.train(style, photos, tmp_path / "m.safetensors", model=vgg, steps=5,
                     progress=ctrl_c, **TINY)
    assert r.cancelled and r.summary["interrupted"] and r.steps == 1
    assert os.path.exists(r.checkpoint) and os.path.exists(r.model)


def test_an_exception_in_progress_is_reraised_after_the_checkpoint(vgg, data, tmp_path):
    style, photos = data

    def broken(p):
        raise RuntimeError(f"callback failed at step {p.step}")

    with pytest.raises(RuntimeError, match="at step 1"):
        nstyle.train(style, photos, tmp_path / "m.safetensors", model=vgg, steps=5,
                     progress=broken, checkpoint=tmp_path / "c.safetensors", **TINY)
    assert (tmp_path / "c.safetensors").exists()


def test_train_defaults_and_errors_are_the_clis(cli, vgg, data, tmp_path):
    d = nstyle.train_defaults()
    text = run_cli(cli, "train", "--help").stdout
    assert f"(default {d['size']};" in text and f"(default {d['batch']})" in text
    assert f"(default {d['steps']})" in text and d["device"] == "cpu"
    style, photos = data
    with pytest.raises(nstyle.OptionError, match="multiple of 4"):
        nstyle.train(style, photos, tmp_path / "m.safetensors", size=18)
    with pytest.raises(nstyle.OptionError, match="unknown option 'step'"):
        nstyle.train(style, photos, tmp_path / "m.safetensors", step=3)
    with pytest.raises(nstyle.FileError):
        nstyle.train(style, tmp_path / "none", tmp_path / "m.safetensors", model=vgg,
                     **dict(TINY, steps=1))
    assert not os.path.exists(tmp_path / "m.safetensors")
    assert np.asarray(Image.open(style)).shape == (24, 30, 3)
