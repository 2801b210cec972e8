"""Goldens for the light feed-forward networks' ops: depthwise convolution (forward, backward
data, backward filter), sigmoid, global average pooling and conditional instance norm (forward
and backward), computed by PyTorch in float64.

    cd tests/golden && /usr/bin/python3 gen_light_ops.py     # writes light_ops.safetensors

Every input is a float32 value stored as float64, so the C side (which computes in float32)
starts from exactly the same numbers. Feature maps are computed in PyTorch's NCHW and stored in
nstyle's NHWC; depthwise weights (C, 1, KH, KW) are stored as nstyle's (C, KH, KW, 1). The
backward goldens are the gradients of L = sum(dy * y) for a fixed random dy.
Read by tests/test_cpu_{dwconv2d,sigmoid,global_pool,cond_instance_norm}.c.
"""
import os

import torch
import torch.nn.functional as F

from st_write import save

torch.manual_seed(4321)
out = {}


def f32_exact(shape, lo=-1.0, hi=1.0):
    """Random float64 tensor whose values are exactly representable in float32."""
    t = torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo
    return t.float().double()


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def grads_of(fn, *inputs):
    """y = fn(*inputs); returns y, dy, and the gradients of sum(dy * y) w.r.t. every input."""
    leaves = [e.clone().requires_grad_(True) for e in inputs]
    y = fn(*leaves)
    dy = f32_exact(y.shape)
    (y * dy).sum().backward()
    return y, dy, [leaf.grad for leaf in leaves]


# ---- depthwise convolution: Conv2d(C, C, k, stride, padding, groups=C) ----------------------
for name, (n, c, h, w), k, stride, pad in [("dw_s2", (2, 3, 7, 9), 3, 2, 1),
                                           ("dw_s1", (2, 4, 6, 5), 3, 1, 1),
                                           ("dw_k5", (1, 5, 8, 8), 5, 2, 2)]:
    x = f32_exact((n, c, h, w))
    wt = f32_exact((c, 1, k, k))
    b = f32_exact((c,))
    fn = lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride=stride, padding=pad, groups=c)
    y, dy, (dx, dw, db) = grads_of(fn, x, wt, b)
    out[f"{name}.x"] = nhwc(x)
    out[f"{name}.w"] = wt.permute(0, 2, 3, 1).contiguous().numpy()
    out[f"{name}.b"] = b.numpy()
    out[f"{name}.y"] = nhwc(y)
    out[f"{name}.dy"] = nhwc(dy)
    out[f"{name}.dx"] = nhwc(dx)
    out[f"{name}.dw"] = dw.permute(0, 2, 3, 1).contiguous().numpy()
    out[f"{name}.db"] = db.numpy()

# ---- sigmoid, over a range that reaches saturation ---------------------------------------------
x = f32_exact((2, 3, 4, 5), -12.0, 12.0)
y, dy, (dx,) = grads_of(torch.sigmoid, x)
out["sigmoid.x"] = nhwc(x)
out["sigmoid.y"] = nhwc(y)
out["sigmoid.dy"] = nhwc(dy)
out["sigmoid.dx"] = nhwc(dx)

# ---- global average pooling: x.mean((2, 3), keepdim=True) -------------------------------------
x = f32_exact((2, 6, 5, 7), -2.0, 3.0)
y, dy, (dx,) = grads_of(lambda x_: x_.mean(dim=(2, 3), keepdim=True), x)
out["gap.x"] = nhwc(x)
out["gap.y"] = nhwc(y)
out["gap.dy"] = nhwc(dy)
out["gap.dx"] = nhwc(dx)

# ---- conditional instance norm: instance_norm(x) * gamma[n, c] + beta[n, c] -------------------
x = f32_exact((2, 3, 5, 7), -2.0, 3.0)
gamma = f32_exact((2, 3), 0.5, 1.5)
beta = f32_exact((2, 3), -0.5, 0.5)
fn = lambda x_, g_, b_: (F.instance_norm(x_, eps=1e-5) * g_[:, :, None, None] +
                         b_[:, :, None, None])
y, dy, (dx, dgamma, dbeta) = grads_of(fn, x, gamma, beta)
var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
out["cin.x"] = nhwc(x)
out["cin.gamma"] = gamma.numpy()
out["cin.beta"] = beta.numpy()
out["cin.y"] = nhwc(y)
out["cin.mean"] = mean.numpy()
out["cin.rstd"] = (1.0 / torch.sqrt(var + 1e-5)).numpy()
out["cin.dy"] = nhwc(dy)
out["cin.dx"] = nhwc(dx)
out["cin.dgamma"] = dgamma.numpy()
out["cin.dbeta"] = dbeta.numpy()

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "light_ops.safetensors")
save(path, out, {"generator": "gen_light_ops.py", "torch": torch.__version__})
print(f"wrote {path}: {len(out)} tensors")
