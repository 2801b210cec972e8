"""Goldens for the CPU nn ops: instance norm, 2x2 max/avg pooling, reflection padding, nearest
upsampling (forward and backward) and 10 torch.optim.Adam steps, computed by PyTorch in float64.

    cd tests/golden && /usr/bin/python3 gen_nn_ops.py     # writes nn_ops.safetensors

Every input is a float32 value stored as float64, so the C side (which computes in float32)
starts from exactly the same numbers. Feature maps are computed in PyTorch's NCHW and stored in
nstyle's NHWC. The backward goldens are the gradients of L = sum(dy * y) for a fixed random dy.
Read by tests/test_cpu_{instance_norm,pool,reflect_pad,upsample,adam}.c.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from st_write import save

torch.manual_seed(1234)
out = {}


def f32_exact(shape, lo=-1.0, hi=1.0):
    """Random float64 tensor whose values are exactly representable in float32."""
    t = torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo
    return t.float().double()


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def grads_of(fn, x_nchw, *extra):
    """y = fn(x, *extra); returns y, dy, and the gradients of sum(dy * y) w.r.t. x and extra."""
    leaves = [x_nchw.clone().requires_grad_(True)] + [e.clone().requires_grad_(True) for e in extra]
    y = fn(*leaves)
    dy = f32_exact(y.shape)
    (y * dy).sum().backward()
    return y, dy, [leaf.grad for leaf in leaves]


# ---- instance norm: nn.InstanceNorm2d(C, eps=1e-5, affine=True / False) ---------------------
for name, (n, c, h, w), affine in [("in_affine", (2, 3, 5, 7), True),
                                   ("in_plain", (2, 4, 6, 5), False)]:
    x = f32_exact((n, c, h, w), -2.0, 3.0)
    if affine:
        gamma = f32_exact((c,), 0.5, 1.5)
        beta = f32_exact((c,), -0.5, 0.5)
        fn = lambda x_, g_, b_: F.instance_norm(x_, weight=g_, bias=b_, eps=1e-5)
        y, dy, (dx, dgamma, dbeta) = grads_of(fn, x, gamma, beta)
        out[f"{name}.gamma"] = gamma.numpy()
        out[f"{name}.beta"] = beta.numpy()
        out[f"{name}.dgamma"] = dgamma.numpy()
        out[f"{name}.dbeta"] = dbeta.numpy()
    else:
        y, dy, (dx,) = grads_of(lambda x_: F.instance_norm(x_, eps=1e-5), x)
    var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
    out[f"{name}.x"] = nhwc(x)
    out[f"{name}.y"] = nhwc(y)
    out[f"{name}.dy"] = nhwc(dy)
    out[f"{name}.dx"] = nhwc(dx)
    out[f"{name}.mean"] = mean.numpy()                       # (N, C)
    out[f"{name}.rstd"] = (1.0 / torch.sqrt(var + 1e-5)).numpy()  # (N, C)

# ---- 2x2 pooling on odd sizes: F.max_pool2d(x, 2), F.avg_pool2d(x, 2) ------------------------
x = f32_exact((2, 3, 7, 11))
for name, fn in [("maxpool", lambda x_: F.max_pool2d(x_, 2)),
                 ("avgpool", lambda x_: F.avg_pool2d(x_, 2))]:
    y, dy, (dx,) = grads_of(fn, x)
    out[f"{name}.x"] = nhwc(x)
    out[f"{name}.y"] = nhwc(y)
    out[f"{name}.dy"] = nhwc(dy)
    out[f"{name}.dx"] = nhwc(dx)

# ---- reflection padding, asymmetric: nn.ReflectionPad2d((left, right, top, bottom)) ----------
pads = (2, 6, 1, 4)  # left, right, top, bottom; each < its axis (W = 7, H = 5)
x = f32_exact((2, 3, 5, 7))
y, dy, (dx,) = grads_of(lambda x_: F.pad(x_, pads, mode="reflect"), x)
out["reflect.x"] = nhwc(x)
out["reflect.y"] = nhwc(y)
out["reflect.dy"] = nhwc(dy)
out["reflect.dx"] = nhwc(dx)
out["reflect.pads_lrtb"] = np.array(pads, dtype=np.float64)

# ---- nearest upsampling x2: nn.Upsample(scale_factor=2, mode="nearest") ----------------------
x = f32_exact((2, 3, 4, 5))
y, dy, (dx,) = grads_of(lambda x_: F.interpolate(x_, scale_factor=2, mode="nearest"), x)
out["upsample.x"] = nhwc(x)
out["upsample.y"] = nhwc(y)
out["upsample.dy"] = nhwc(dy)
out["upsample.dx"] = nhwc(dx)

# ---- torch.optim.Adam: 3 tensors, 10 steps, fixed random gradients ---------------------------
STEPS = 10
shapes = [(4, 3), (7,), (2, 3, 5)]
init = [f32_exact(s) for s in shapes]
grads = [[f32_exact(s, -2.0, 2.0) for s in shapes] for _ in range(STEPS)]
for i, s in enumerate(shapes):
    out[f"adam.init{i}"] = init[i].numpy()
    out[f"adam.grads{i}"] = torch.stack([grads[t][i] for t in range(STEPS)]).numpy()  # (STEPS, ...)
configs = {"adam_plain": dict(lr=0.01, weight_decay=0.0),
           "adam_wd": dict(lr=0.05, weight_decay=0.1)}
for name, cfg in configs.items():
    params = [p.clone().requires_grad_(True) for p in init]
    opt = torch.optim.Adam(params, lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=cfg["weight_decay"])
    for t in range(STEPS):
        for p, g in zip(params, grads[t]):
            p.grad = g.clone()
        opt.step()
    out[f"{name}.hyper"] = np.array([cfg["lr"], 0.9, 0.999, 1e-8, cfg["weight_decay"], STEPS],
                                    dtype=np.float64)  # lr, beta1, beta2, eps, wd, steps
    for i, p in enumerate(params):
        st = opt.state[p]
        out[f"{name}.param{i}"] = p.detach().numpy()
        out[f"{name}.m{i}"] = st["exp_avg"].numpy()
        out[f"{name}.v{i}"] = st["exp_avg_sq"].numpy()

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_ops.safetensors")
save(path, out, {"generator": "tests/golden/gen_nn_ops.py", "torch": torch.__version__,
                 "layout": "NHWC feature maps; Adam tensors in their own shapes"})
print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")
