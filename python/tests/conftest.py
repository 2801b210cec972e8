"""Fixtures of the package's tests: the command installed with the package, ../shared/data
(real weights and photos; the tests that need them skip, saying why, when it is absent), a
synthetic TransformerNet written here as safetensors, and photos."""

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import nstyle

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("NSTYLE_SHARED_DATA", os.path.join(REPO, "..", "shared", "data"))

# the TransformerNet's convolutions (pytorch/examples): name, in, out, kernel, norm
_LAYERS = [("conv1", 3, 32, 9, "in1"), ("conv2", 32, 64, 3, "in2"), ("conv3", 64, 128, 3, "in3")]
_LAYERS += [(f"res{i}.conv{j}", 128, 128, 3, f"res{i}.in{j}") for i in range(1, 6) for j in (1, 2)]
_LAYERS += [("deconv1", 128, 64, 3, "in4"), ("deconv2", 64, 32, 3, "in5"),
            ("deconv3", 32, 3, 9, None)]


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def synthetic_transformer(path, seed=1, spread=60):
    """A TransformerNet with random weights whose output spreads over 0-255 (beyond it with a
    larger spread)."""
    rng = np.random.default_rng(seed)
    t = {}
    for name, cin, cout, k, norm in _LAYERS:
        a = 1 / np.sqrt(cin * k * k)
        w = rng.uniform(-a, a, (cout, cin, k, k))
        b = rng.uniform(-0.1, 0.1, cout)
        if norm is None:
            w, b = w * spread, 128 + 10 * b
        t[f"{name}.conv2d.weight"], t[f"{name}.conv2d.bias"] = w, b
        if norm:
            t[f"{norm}.weight"] = rng.uniform(0.5, 1.5, cout)
            t[f"{norm}.bias"] = rng.uniform(-0.1, 0.1, cout)
    write_safetensors(path, t, {"style": "synthetic", "input": "rgb-0-255"})
    return str(path)


@pytest.fixture(scope="session")
def cli():
    """The `nstyle` command the package installed (its console script), else its binary."""
    script = os.path.join(os.path.dirname(sys.executable), "nstyle")
    return script if os.path.exists(script) else nstyle._capi.CLI_PATH


def run_cli(cli, *args, check=True):
    r = subprocess.run([cli, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"nstyle {' '.join(map(str, args))}: exit {r.returncode}\n"
                             f"{r.stderr}")
    return r


@pytest.fixture(scope="session")
def model(tmp_path_factory):
    return synthetic_transformer(tmp_path_factory.mktemp("model") / "synthetic.safetensors")


@pytest.fixture(scope="session")
def wide_model(tmp_path_factory):
    return synthetic_transformer(tmp_path_factory.mktemp("model") / "wide.safetensors", 2, 400)


def shared(*parts):
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent (the shared test data, ../shared/data from the "
                    "repository, or NSTYLE_SHARED_DATA)")
    return path


@pytest.fixture
def candy():
    return shared("models", "fast", "candy.safetensors")


@pytest.fixture
def photo_file(tmp_path):
    """A real photo when ../shared/data is there, else a synthetic PNG (saved with PIL)."""
    real = os.path.join(SHARED, "images", "content", "chelsea.png")
    if os.path.exists(real):
        return real
    from PIL import Image
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:120, 0:150]
    a = np.stack([x * 1.7, y * 2.1, (x + y) * 0.9], -1) + rng.uniform(0, 40, (120, 150, 3))
    path = tmp_path / "photo.png"
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(path)
    return str(path)


def read_png(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# VGG19's convolutions: torchvision's index in `features` and the output channels
_VGG = [(0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256), (16, 256)]


def synthetic_vgg19(path, n_convs=4, seed=7):
    """A narrow random VGG19 (an eighth of the width) with its first n_convs convolutions, as
    the C tests write one: enough for layers up to relu2_2 with 4."""
    rng = np.random.default_rng(seed)
    t, cin = {}, 3
    for index, cout in _VGG[:n_convs]:
        cout //= 8
        amp = np.sqrt(6 / (9 * cin))
        t[f"features.{index}.weight"] = rng.uniform(-amp, amp, (cout, cin, 3, 3))
        t[f"features.{index}.bias"] = rng.uniform(0, 0.05, cout)
        cin = cout
    write_safetensors(path, t, {"input": "rgb-0-1-imagenet-norm"})
    return str(path)


@pytest.fixture(scope="session")
def vgg(tmp_path_factory):
    return synthetic_vgg19(tmp_path_factory.mktemp("vgg") / "vgg19-narrow.safetensors")


def random_photo(w, h, seed):
    """A smooth random RGB picture (h, w, 3) uint8: gradients and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 200 / w, y * 200 / h, (x + y) * 100 / (w + h)], -1)
    return np.clip(a + rng.uniform(0, 55, (h, w, 3)), 0, 255).astype(np.uint8)
