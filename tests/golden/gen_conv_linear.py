"""Goldens for the conv2d and linear ops: tests/golden/conv_linear.safetensors.

Run with Debian's python (CPU PyTorch):  /usr/bin/python3 tests/golden/gen_conv_linear.py

PyTorch computes in float64 on NCHW / OIHW; tensors are stored in nstyle's layout: images NHWC,
conv weights (Cout, KH, KW, Cin), linear weights (OUT, IN). Inputs are drawn as float32 values
(stored as F64, exact), so the C tests feed the op exactly the numbers PyTorch saw. Gradients are
those of L = sum(dy * y) for the given dy (no ReLU in the backward; y_relu is the fused-ReLU
forward). Read by tests/test_cpu_conv2d.c and tests/test_cpu_linear.c.

Tensors (prefix conv_s1 / conv_s2: stride 1 / 2, both pad 1, 3x3; prefix linear):
  <p>.x, <p>.w, <p>.b, <p>.dy, <p>.y, <p>.y_relu, <p>.dx, <p>.dw, <p>.db
Metadata: <p>.stride and <p>.pad for the conv cases.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from st_write import save

HERE = os.path.dirname(os.path.abspath(__file__))


def f32_values(gen, *shape):
    """Uniform [-1, 1) values representable in float32, as a float64 tensor."""
    return (torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1).double()


def conv_case(gen, prefix, n, cin, cout, h, w, k, stride, pad, out, meta):
    x = f32_values(gen, n, cin, h, w).requires_grad_()     # NCHW
    wt = f32_values(gen, cout, cin, k, k).requires_grad_()  # OIHW
    b = f32_values(gen, cout).requires_grad_()
    y = F.conv2d(x, wt, b, stride=stride, padding=pad)
    dy = f32_values(gen, *y.shape)
    (y * dy).sum().backward()
    nhwc = lambda t: t.detach().permute(0, 2, 3, 1).contiguous().numpy()  # noqa: E731
    out[prefix + ".x"] = nhwc(x)
    out[prefix + ".w"] = nhwc(wt)  # (Cout, KH, KW, Cin)
    out[prefix + ".b"] = b.detach().numpy()
    out[prefix + ".dy"] = nhwc(dy)
    out[prefix + ".y"] = nhwc(y)
    out[prefix + ".y_relu"] = nhwc(F.relu(y))
    out[prefix + ".dx"] = nhwc(x.grad)
    out[prefix + ".dw"] = nhwc(wt.grad)
    out[prefix + ".db"] = b.grad.numpy()
    meta[prefix + ".stride"] = stride
    meta[prefix + ".pad"] = pad


def linear_case(gen, prefix, n, n_in, n_out, out):
    x = f32_values(gen, n, n_in).requires_grad_()
    wt = f32_values(gen, n_out, n_in).requires_grad_()
    b = f32_values(gen, n_out).requires_grad_()
    y = F.linear(x, wt, b)
    dy = f32_values(gen, *y.shape)
    (y * dy).sum().backward()
    for name, t in (("x", x), ("w", wt), ("b", b), ("dy", dy), ("y", y), ("y_relu", F.relu(y)),
                    ("dx", x.grad), ("dw", wt.grad), ("db", b.grad)):
        out[prefix + "." + name] = t.detach().numpy()


def main():
    gen = torch.Generator().manual_seed(20240611)
    out, meta = {}, {"generator": "tests/golden/gen_conv_linear.py",
                     "torch": torch.__version__}
    conv_case(gen, "conv_s1", 2, 3, 5, 7, 11, 3, 1, 1, out, meta)
    conv_case(gen, "conv_s2", 2, 3, 5, 7, 11, 3, 2, 1, out, meta)
    linear_case(gen, "linear", 3, 7, 5, out)
    path = os.path.join(HERE, "conv_linear.safetensors")
    save(path, {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}, meta)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
