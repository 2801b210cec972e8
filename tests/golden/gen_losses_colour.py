"""Goldens for the loss and colour ops and the SSIM metric: Gram matrix, MSE and total variation
(forward and backward, PyTorch float64), RGB <-> YUV (scikit-image), the three input conventions
with their backward (PyTorch float64, constants as ../shared/data/README.md and torchvision state
them), histogram matching (skimage.exposure.match_histograms) and SSIM (skimage.metrics
.structural_similarity with Wang et al.'s settings).

    cd tests/golden && /usr/bin/python3 gen_losses_colour.py    # writes losses_colour.safetensors

Every float input is a float32 value stored as float64, so the C side (which computes in float32)
starts from exactly the same numbers; 8-bit images are stored as F16 (exact for 0..255).
Feature maps are computed in PyTorch's NCHW and stored in nstyle's NHWC. Backward goldens are the
gradients of L = sum(dy * y) for a fixed random dy (dG for Gram), times the op's `scale` where it
has one. The SSIM values on full photos ("ssim_photo.*") are for pairs the C test rebuilds from
../shared/data/images/content with integer arithmetic (see the comments below); the other SSIM
pairs are stored whole. Read by tests/test_cpu_{gram,mse,tv,colour}.c and tests/test_ssim.c.
"""
import io
import os

import numpy as np
import torch
from PIL import Image
from skimage import color, exposure, filters, metrics

from st_write import save

torch.manual_seed(2024)
rng = np.random.default_rng(2024)
out = {}
HERE = os.path.dirname(os.path.abspath(__file__))
CONTENT = os.path.join(HERE, "..", "..", "..", "shared", "data", "images", "content")


def f32_exact(shape, lo=-1.0, hi=1.0):
    """Random float64 tensor whose values are exactly representable in float32."""
    t = torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo
    return t.float().double()


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def scalar(v):
    return np.array([float(v)], dtype=np.float64)


# ---- Gram: G = F^T F / (C*H*W) over the (H*W, C) map -----------------------------------------
for name, (n, c, h, w) in [("gram_c5", (2, 5, 7, 11)), ("gram_c64", (1, 64, 6, 5))]:
    x = f32_exact((n, c, h, w), 0.0, 2.0).requires_grad_(True)
    f = x.reshape(n, c, h * w)
    g = f @ f.transpose(1, 2) / (c * h * w)
    dg = f32_exact(g.shape)  # not symmetric on purpose
    (g * dg).sum().backward()
    out[f"{name}.x"] = nhwc(x)
    out[f"{name}.g"] = g.detach().numpy()
    out[f"{name}.dg"] = dg.numpy()
    out[f"{name}.dx"] = nhwc(x.grad)

# ---- MSE: mean((a - b)^2); da = scale * dL/da --------------------------------------------------
MSE_SCALE = 0.75
a = f32_exact((2, 3, 7, 11), -1.0, 2.0).requires_grad_(True)
b = f32_exact((2, 3, 7, 11), -1.0, 2.0)
loss = torch.nn.functional.mse_loss(a, b)
(MSE_SCALE * loss).backward()
out["mse.a"] = nhwc(a)
out["mse.b"] = nhwc(b)
out["mse.loss"] = scalar(loss.item())
out["mse.da"] = nhwc(a.grad)
out["mse.scale"] = scalar(MSE_SCALE)

# ---- TV: (sum of squared vertical and horizontal differences) / (N*H*W); dx = scale * dTV/dx --
TV_SCALE = 1.25
x = f32_exact((2, 3, 7, 11), 0.0, 1.0).requires_grad_(True)
n, c, h, w = x.shape
tv = (((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum()
      + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()) / (n * h * w)
(TV_SCALE * tv).backward()
out["tv.x"] = nhwc(x)
out["tv.loss"] = scalar(tv.item())
out["tv.dx"] = nhwc(x.grad)
out["tv.scale"] = scalar(TV_SCALE)

# ---- YUV (BT.601, skimage) -----------------------------------------------------------------------
rgb = f32_exact((2, 7, 11, 3), 0.0, 1.0).numpy()
out["yuv.rgb"] = rgb
out["yuv.yuv_of_rgb"] = color.rgb2yuv(rgb)
yuv = color.rgb2yuv(f32_exact((2, 7, 11, 3), 0.0, 1.0).numpy()).astype(np.float32).astype(np.float64)
out["yuv.yuv"] = yuv
out["yuv.rgb_of_yuv"] = color.yuv2rgb(yuv)

# ---- input conventions: from RGB [0, 1] to the weights' convention -----------------------------
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64)  # torchvision
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64)
CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64)  # data README
CONVENTIONS = {
    "rgb-0-1-imagenet-norm": lambda t: (t - IMAGENET_MEAN) / IMAGENET_STD,
    "bgr-0-255-minus-mean": lambda t: (t * 255.0).flip(-1) - CAFFE_MEAN_BGR,
    "rgb-0-255": lambda t: t * 255.0,
}
for name, fn in CONVENTIONS.items():
    x = f32_exact((2, 5, 6, 3), 0.0, 1.0).requires_grad_(True)  # NHWC, channels last
    y = fn(x)
    dy = f32_exact(y.shape)
    (y * dy).sum().backward()
    key = "conv." + name
    out[key + ".x"] = x.detach().numpy()
    out[key + ".y"] = y.detach().numpy()
    out[key + ".dy"] = dy.numpy()
    out[key + ".dx"] = x.grad.numpy()

# ---- histogram matching (per channel, exact CDF mapping) ---------------------------------------
# hist_ties: 6-bit source values (many ties) onto a skewed reference of another size;
# hist_cont: continuous source onto 8-bit-like reference values (0..255 scale).
src = (rng.integers(0, 64, size=(24, 32, 3)) / 63.0).astype(np.float32).astype(np.float64)
ref = (rng.random((20, 28, 3)) ** 2).astype(np.float32).astype(np.float64)
out["hist_ties.src"] = src
out["hist_ties.ref"] = ref
out["hist_ties.out"] = exposure.match_histograms(src, ref, channel_axis=-1)
src = (rng.random((17, 19, 3)) * 255.0).astype(np.float32).astype(np.float64)
ref = np.round(rng.normal(120.0, 40.0, size=(30, 20, 3)).clip(0, 255)).astype(np.float64)
out["hist_cont.src"] = src
out["hist_cont.ref"] = ref
out["hist_cont.out"] = exposure.match_histograms(src, ref, channel_axis=-1)


# ---- SSIM (Wang et al. 2004 with skimage's settings) -----------------------------------------
def ssim(a, b):
    return metrics.structural_similarity(a, b, channel_axis=2, data_range=255,
                                         gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)


def load(name):
    return np.asarray(Image.open(os.path.join(CONTENT, name)).convert("RGB"))


def store_pair(key, a, b):
    assert a.dtype == np.uint8 and b.dtype == np.uint8
    out[key + ".a"] = a.astype(np.float16)
    out[key + ".b"] = b.astype(np.float16)
    out[key + ".ssim"] = scalar(ssim(a, b))


astronaut = load("astronaut.png")
chelsea = load("chelsea.png")
coffee = load("coffee.png")

# Crops of real photos and derived versions made here (stored, not rebuilt in C).
blurred = np.round(filters.gaussian(astronaut, sigma=1.0, channel_axis=-1,
                                    preserve_range=True)).clip(0, 255).astype(np.uint8)
store_pair("ssim_blur", astronaut[100:148, 180:244], blurred[100:148, 180:244])
buf = io.BytesIO()
Image.fromarray(chelsea).save(buf, format="JPEG", quality=25)
jpeg = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
store_pair("ssim_jpeg", chelsea[100:148, 200:264], jpeg[100:148, 200:264])

# Synthetic pairs: a smooth pattern with noise against itself plus noise, shifted, and a single
# channel pair; sizes odd and small (the 11x11 minimum is the last one).
yy, xx = np.mgrid[0:37, 0:41]
base = np.stack([128 + 100 * np.sin(xx / 5.0 + c) * np.cos(yy / 7.0) for c in range(3)], -1)
base = (base + rng.normal(0, 8, base.shape)).clip(0, 255).round().astype(np.uint8)
noisy = (base + rng.normal(0, 20, base.shape)).clip(0, 255).round().astype(np.uint8)
store_pair("ssim_noise", base, noisy)
store_pair("ssim_shift", base[:, 2:], base[:, :-2])
grey = rng.integers(0, 256, size=(11, 13, 1)).astype(np.uint8)
grey2 = (grey.astype(np.int64) + rng.integers(-30, 31, size=grey.shape)).clip(0, 255)
store_pair("ssim_grey", grey, grey2.astype(np.uint8))
out["ssim_identical.ssim"] = scalar(ssim(base, base))


# Whole photos paired with versions the C test rebuilds exactly with integer arithmetic.
def posterise(img):  # (v // 32) * 32 + 16
    return ((img // 32) * 32 + 16).astype(np.uint8)


def box3(img):  # interior: (3x3 sum + 4) // 9, border pixels unchanged
    s = img.astype(np.int64)
    o = s.copy()
    acc = sum(s[1 + dy:s.shape[0] - 1 + dy, 1 + dx:s.shape[1] - 1 + dx]
              for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    o[1:-1, 1:-1] = (acc + 4) // 9
    return o.astype(np.uint8)


out["ssim_photo.astronaut_posterised"] = scalar(ssim(astronaut, posterise(astronaut)))
out["ssim_photo.chelsea_shift3"] = scalar(ssim(chelsea[:, 3:], chelsea[:, :-3]))
out["ssim_photo.coffee_box3"] = scalar(ssim(coffee, box3(coffee)))

path = os.path.join(HERE, "losses_colour.safetensors")
save(path, out, {"generator": "gen_losses_colour.py", "torch": torch.__version__})
print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")
for k in sorted(out):
    if k.endswith(".ssim") or k.startswith("ssim_photo"):
        print(f"  {k} = {out[k][0]:.6f}")
