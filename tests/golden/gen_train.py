"""Golden for tests/test_train.c: the weight gradients of one nstyle training step, computed by
PyTorch in float64 from float32 inputs.

The step (include/nstyle/train.h): a batch of 2 crops x (16x16, RGB 0-255) through a
TransformerNet of base width 4 (pytorch/examples' network with every width divided by 8:
conv1 3->4 k9, conv2 4->8, conv3 8->16, five residual blocks at 16, deconv1 16->8, deconv2
8->4, deconv3 4->3 k9), random weights; VGG19's layer table up to conv2_2 at width 8 (every
VGG19 width divided by 8), random weights, input convention bgr-0-255-minus-mean; both the net's
output y and x divided by 255 before VGG19;
    content = MSE(relu2_2(y), relu2_2(x))
    style   = MSE(G(relu1_2(y)), G_s) + MSE(G(relu2_2(y)), G_s)   G = F^T F / (C H W) per image
    tv      = (sum of squared neighbour differences of y/255) / (N H W)
    total   = 30 content + 900 style + 0.5 tv
and the gradient of total w.r.t. the 62 parameters.

The file is itself a VGG19 weight file (features.N.weight OIHW, features.N.bias,
__metadata__ input) and a TransformerNet weight file (the 62 state_dict names, F32), plus
  x (2, 16, 16, 3) F32, style (20, 24, 3) F32 RGB [0, 1],
  grad.<name> F64 (PyTorch layout), loss (4) F64: content, style, tv, total (weighted).

Run from tests/golden/:  /usr/bin/python3 gen_train.py   (writes train.safetensors)
"""
import numpy as np
import torch
import torch.nn.functional as F

from st_write import save

TW = 4
VCONVS = [("conv1_1", 0, 3, 8, False), ("conv1_2", 2, 8, 8, True),
          ("conv2_1", 5, 8, 16, False), ("conv2_2", 7, 16, 16, False)]
MEAN_BGR = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64)
CW, SW, TVW = 30.0, 900.0, 0.5


def conv_table(w):
    t = [("conv1", 3, w, 9, 1, False), ("conv2", w, 2 * w, 3, 2, False),
         ("conv3", 2 * w, 4 * w, 3, 2, False)]
    for r in range(5):
        t += [(f"res{r+1}.conv1", 4 * w, 4 * w, 3, 1, False),
              (f"res{r+1}.conv2", 4 * w, 4 * w, 3, 1, False)]
    t += [("deconv1", 4 * w, 2 * w, 3, 1, True), ("deconv2", 2 * w, w, 3, 1, True),
          ("deconv3", w, 3, 9, 1, False)]
    return t


def norm_names():
    n = ["in1", "in2", "in3"]
    for r in range(5):
        n += [f"res{r+1}.in1", f"res{r+1}.in2"]
    return n + ["in4", "in5"]


def make_tn(gen):
    p = {}
    for name, cin, cout, k, _, _ in conv_table(TW):
        bound = 1.0 / np.sqrt(cin * k * k)
        p[name + ".conv2d.weight"] = ((torch.rand(cout, cin, k, k, generator=gen,
                                                  dtype=torch.float64) * 2 - 1) * bound).float()
        p[name + ".conv2d.bias"] = ((torch.rand(cout, generator=gen, dtype=torch.float64) * 2
                                     - 1) * bound).float()
    convs = conv_table(TW)
    for i, n in enumerate(norm_names()):
        c = convs[i][2]
        p[n + ".weight"] = (1 + 0.2 * torch.randn(c, generator=gen, dtype=torch.float64)).float()
        p[n + ".bias"] = (0.1 * torch.randn(c, generator=gen, dtype=torch.float64)).float()
    p["deconv3.conv2d.bias"] = (p["deconv3.conv2d.bias"] + 128.0).float()
    return p


def tn_forward(p, x):
    def conv(name, h, k, s, up):
        if up:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.pad(h, [k // 2] * 4, mode="reflect")
        return F.conv2d(h, p[name + ".conv2d.weight"], p[name + ".conv2d.bias"], stride=s)

    def norm(name, h):
        return F.instance_norm(h, weight=p[name + ".weight"], bias=p[name + ".bias"], eps=1e-5)

    t = conv_table(TW)
    nn = norm_names()
    h = x
    for i in range(3):
        h = F.relu(norm(nn[i], conv(t[i][0], h, t[i][3], t[i][4], False)))
    for r in range(5):
        i = 3 + 2 * r
        o = F.relu(norm(nn[i], conv(t[i][0], h, 3, 1, False)))
        o = norm(nn[i + 1], conv(t[i + 1][0], o, 3, 1, False))
        h = o + h
    for i in (13, 14):
        h = F.relu(norm(nn[i], conv(t[i][0], h, 3, 1, True)))
    return conv("deconv3", h, 9, 1, False)


def vgg_features(ws, x01):
    h = x01[:, [2, 1, 0]] * 255.0 - MEAN_BGR.view(1, 3, 1, 1)
    out = {}
    for name, idx, _, _, pool in VCONVS:
        w, b = ws[idx]
        h = F.relu(F.conv2d(h, w.double(), b.double(), padding=1))
        out["relu" + name[4:]] = h
        if pool:
            h = F.max_pool2d(h, 2)
    return out


def gram(f):
    n, c, hh, ww = f.shape
    m = f.reshape(n, c, hh * ww)
    return m @ m.transpose(1, 2) / (c * hh * ww)


def main():
    gen = torch.Generator().manual_seed(20261202)
    vws = {}
    for i, (name, idx, cin, cout, _) in enumerate(VCONVS):
        w = torch.randn(cout, cin, 3, 3, generator=gen, dtype=torch.float64) * np.sqrt(2.0 / (9 * cin))
        if i == 0:
            w = w / 100.0
        vws[idx] = (w.float(), (torch.randn(cout, generator=gen, dtype=torch.float64) * 0.1).float())
    tn = make_tn(gen)
    x = torch.floor(torch.rand(2, 3, 16, 16, generator=gen, dtype=torch.float64) * 256).float()
    style = torch.rand(1, 3, 20, 24, generator=gen, dtype=torch.float64).float()

    params = {k: v.double().requires_grad_(True) for k, v in tn.items()}
    xd = x.double()
    y = tn_forward(params, xd)
    fy = vgg_features(vws, y / 255.0)
    fx = vgg_features(vws, xd / 255.0)
    fs = vgg_features(vws, style.double())
    content = F.mse_loss(fy["relu2_2"], fx["relu2_2"])
    style_l = sum(F.mse_loss(gram(fy[l]), gram(fs[l]).expand(2, -1, -1))
                  for l in ("relu1_2", "relu2_2"))
    y01 = y / 255.0
    tv = (((y01[:, :, 1:] - y01[:, :, :-1]) ** 2).sum() +
          ((y01[:, :, :, 1:] - y01[:, :, :, :-1]) ** 2).sum()) / (2 * 16 * 16)
    total = CW * content + SW * style_l + TVW * tv
    total.backward()

    out = {}
    for idx, (w, b) in vws.items():
        out[f"features.{idx}.weight"] = w.numpy()
        out[f"features.{idx}.bias"] = b.numpy()
    for k, v in tn.items():
        out[k] = v.numpy()
        out["grad." + k] = params[k].grad.numpy()
    out["x"] = x.permute(0, 2, 3, 1).contiguous().numpy()
    out["style"] = style[0].permute(1, 2, 0).contiguous().numpy()
    out["loss"] = np.array([CW * content.item(), SW * style_l.item(), TVW * tv.item(),
                            total.item()])
    save("train.safetensors", out, {"input": "bgr-0-255-minus-mean", "generator": "gen_train.py"})
    print("loss", out["loss"])


if __name__ == "__main__":
    main()
