"""Goldens for tests/test_vgg19.c: VGG19 features, the Gatys losses and the image gradient,
computed by PyTorch in float64 from float32 inputs.

The net is VGG19's layer table up to conv3_1 at width 16 (conv1_1 3->16, conv1_2 16->16,
conv2_1 16->32, conv2_2 32->32, conv3_1 32->64; every VGG19 width divided by 4), random
He-initialised weights (conv1_1's scaled down so the Caffe input range gives O(1) features),
input convention bgr-0-255-minus-mean as the real weights have. The file is itself a weight file
nst_vgg19_weights_load reads (features.N.weight OIHW, features.N.bias, __metadata__ input).
Images: x (the image being optimised) and content at 24x32, style at 20x28, RGB [0, 1], stored
NHWC like every feature golden.

Run from tests/golden/:  /usr/bin/python3 gen_vgg19.py   (writes vgg19.safetensors)
"""
import numpy as np
import torch
import torch.nn.functional as F

from st_write import save

WIDTH = 16
CONVS = [  # name, torchvision index, cin, cout (VGG19 / 4), pool after
    ("conv1_1", 0, 3, 16, False), ("conv1_2", 2, 16, 16, True), ("conv2_1", 5, 16, 32, False),
    ("conv2_2", 7, 32, 32, True), ("conv3_1", 10, 32, 64, False)]
MEAN_BGR = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64)

CONTENT_LAYERS = ["relu2_2", "conv3_1"]
STYLE_LAYERS = ["relu1_1", "conv2_1", "relu3_1"]
STYLE_WEIGHTS = [0.5, 1.0, 2.0]
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 1.0, 1e4, 0.5
FEATURES = ["relu1_1", "conv1_2", "relu2_2", "conv3_1", "relu3_1"]


def make_weights(gen):
    ws = {}
    for i, (name, idx, cin, cout, _) in enumerate(CONVS):
        w = torch.randn(cout, cin, 3, 3, generator=gen, dtype=torch.float64) * np.sqrt(2.0 / (9 * cin))
        if i == 0:
            w = w / 100.0
        b = torch.randn(cout, generator=gen, dtype=torch.float64) * 0.1
        ws[idx] = (w.float(), b.float())
    return ws


def features(ws, x, pooling):
    """x (1, 3, H, W) RGB [0, 1] float64 -> {layer name: (1, C, H, W)}."""
    h = x[:, [2, 1, 0]] * 255.0 - MEAN_BGR.view(1, 3, 1, 1)
    out = {}
    for name, idx, _, _, pool in CONVS:
        w, b = ws[idx]
        h = F.conv2d(h, w.double(), b.double(), padding=1)
        out[name] = h
        h = F.relu(h)
        out["relu" + name[4:]] = h
        if pool:
            h = F.max_pool2d(h, 2) if pooling == "max" else F.avg_pool2d(h, 2)
    return out


def gram(f):
    _, c, hh, ww = f.shape
    m = f.reshape(c, hh * ww)
    return (m @ m.t()).unsqueeze(0) / (c * hh * ww)


def tv(x):
    n, _, hh, ww = x.shape
    dv = ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum()
    dh = ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
    return (dv + dh) / (n * hh * ww)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def image(gen, h, w):
    return torch.rand(1, 3, h, w, generator=gen, dtype=torch.float64).float().double()


def main():
    gen = torch.Generator().manual_seed(1905)
    ws = make_weights(gen)
    x, content, style = image(gen, 24, 32), image(gen, 24, 32), image(gen, 20, 28)
    tensors = {}
    for i, (w, b) in ws.items():
        tensors[f"features.{i}.weight"] = w.numpy()
        tensors[f"features.{i}.bias"] = b.numpy()
    tensors["x"], tensors["content"], tensors["style"] = nhwc(x).astype(np.float32), \
        nhwc(content).astype(np.float32), nhwc(style).astype(np.float32)
    for pooling in ("max", "avg"):
        f = features(ws, x, pooling)
        for name in FEATURES:
            tensors[f"{pooling}.{name}"] = nhwc(f[name])

    xg = x.clone().requires_grad_(True)
    fc, fs, fx = features(ws, content, "max"), features(ws, style, "max"), features(ws, xg, "max")
    c_loss = sum(F.mse_loss(fx[n], fc[n]) for n in CONTENT_LAYERS)
    s_loss = sum(wt * F.mse_loss(gram(fx[n]), gram(fs[n])) for n, wt in zip(STYLE_LAYERS, STYLE_WEIGHTS))
    t_loss = tv(xg)
    total = CONTENT_WEIGHT * c_loss + STYLE_WEIGHT * s_loss + TV_WEIGHT * t_loss
    total.backward()
    tensors["loss.content"] = np.array([c_loss.item()])
    tensors["loss.style"] = np.array([s_loss.item()])
    tensors["loss.tv"] = np.array([t_loss.item()])
    tensors["loss.total"] = np.array([total.item()])
    tensors["loss.grad"] = nhwc(xg.grad)
    save("vgg19.safetensors", tensors,
         {"arch": "vgg19", "input": "bgr-0-255-minus-mean", "generator": "gen_vgg19.py",
          "content_layers": ",".join(CONTENT_LAYERS), "style_layers": ",".join(STYLE_LAYERS)})


if __name__ == "__main__":
    main()
