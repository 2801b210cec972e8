"""Goldens for the spatial transformer module (tests/test_stn.c, include/nstyle/stn.h), computed
by PyTorch in float64 with autograd from an nn.Module written as the C module is:

  r     = F.grid_sample(x, F.affine_grid(I, (N, C, 48, 48), False), "bilinear", "border", False)
          (checked here to equal F.interpolate(x, (48, 48), mode="bilinear", align_corners=False))
  theta = fc_loc(localization(r).flatten(1)).view(N, 2, 3)    (the STN tutorial's names)
  y     = F.grid_sample(x, F.affine_grid(theta, x.size(), False), "bilinear", padding, False)

and the loss sum(y * dy) for a fixed random dy, whose gradients are dx, every weight's gradient
and (theta given) dtheta.

Run with Debian's python (it has torch):  cd tests/golden && /usr/bin/python3 gen_stn.py
Writes stn.safetensors next to this script. Images are stored NHWC (as nstyle lays them out),
weights and their gradients as PyTorch holds them (OIHW; fc_loc.0.weight over (c, h, w)), so the
C test loads them by name through the module's PyTorch-layout calls.

Cases (prefix): "c3." N=2, C=3, 37x29 (H x W), zeros padding; "c1." N=2, C=1, 31x40, border
padding; "given." theta given, N=2, C=3, 37x29, reflection padding (y, dx, dtheta).
Every input and weight is rounded to float32 first and stored as F32, so the C side starts from
exactly the values PyTorch saw; the results are F64. Points where the float32 and float64 computations could take different branches
are kept away: every ReLU input and every max-pool winner's margin over the runner-up is at
least ACT_MARGIN from the kink, and every sample position (in pixels) at least POS_MARGIN from
an integer (bilinear corners, zeros and border edges) and from the reflection folds at -0.5
and size - 0.5. A case whose random
draw misses a margin is drawn again from the next seed; the seeds used are in the metadata.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from st_write import save

HERE = os.path.dirname(os.path.abspath(__file__))
ACT_MARGIN = 2e-5
POS_MARGIN = 2e-4


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


class STN(nn.Module):
    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.localization = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=7), nn.MaxPool2d(2, stride=2), nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=5), nn.MaxPool2d(2, stride=2), nn.ReLU(True),
            nn.Conv2d(10, 10, kernel_size=3), nn.ReLU(True))
        self.fc_loc = nn.Sequential(nn.Linear(10 * 6 * 6, 32), nn.ReLU(True), nn.Linear(32, 6))

    def resample48(self, x):
        ident = torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(x.shape[0], 2, 3)
        g = F.affine_grid(ident, (x.shape[0], x.shape[1], 48, 48), align_corners=False)
        return F.grid_sample(x, g, mode="bilinear", padding_mode="border", align_corners=False)

    def forward(self, x, theta=None, trace=None):
        if theta is None:
            r = self.resample48(x)
            h = r
            for i, layer in enumerate(self.localization):
                if trace is not None and isinstance(layer, nn.MaxPool2d):
                    trace.append(("pool", h.detach()))
                h = layer(h) if not isinstance(layer, nn.ReLU) else F.relu(h)
                if trace is not None and isinstance(layer, nn.Conv2d) and i == 6:
                    trace.append(("relu", h.detach()))
            f = self.fc_loc[0](h.flatten(1))
            if trace is not None:
                trace.append(("relu", f.detach()))
            theta = self.fc_loc[2](F.relu(f)).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        if trace is not None:
            trace.append(("grid", grid.detach()))
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding,
                          align_corners=False)
        return y, theta


def pool_margin(h):
    """Smallest margin of a 2x2 window's winner: over the runner-up, and from 0 (its ReLU)."""
    N, C, H, W = h.shape
    w = h[:, :, : H // 2 * 2, : W // 2 * 2].reshape(N, C, H // 2, 2, W // 2, 2)
    w = w.permute(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    top = torch.topk(w, 2, dim=-1).values
    live = top[..., 0] > -ACT_MARGIN  # a window whose winner is negative sends no gradient
    gap = (top[..., 0] - top[..., 1])[live]
    return min(gap.min().item() if gap.numel() else 1.0, top[..., 0].abs().min().item())


def position_margin(grid, H, W):
    """Distance (pixels) of the sample positions from integers (corners, zeros/border edges)
    and from the reflection folds at -0.5 and size - 0.5."""
    ix = ((grid[..., 0] + 1) * W - 1) / 2
    iy = ((grid[..., 1] + 1) * H - 1) / 2
    d = lambda v, size: min((v - torch.round(v)).abs().min().item(),
                            (v + 0.5).abs().min().item(), (v - size + 0.5).abs().min().item())
    return min(d(ix, W), d(iy, H))


def margins_ok(trace, H, W):
    for kind, v in trace:
        if kind == "pool" and pool_margin(v) < ACT_MARGIN:
            return False
        if kind == "relu" and v.abs().min().item() < ACT_MARGIN:
            return False
        if kind == "grid" and position_margin(v, H, W) < POS_MARGIN:
            return False
    return True


def rotation_theta(angle, sx, sy, tx, ty):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[sx * c, -sy * s, tx], [sx * s, sy * c, ty]])


def make_module(seed, C, padding):
    torch.manual_seed(seed)
    m = STN(C, padding)
    with torch.no_grad():
        # away from the identity, and with weights so that every layer gets a gradient
        m.fc_loc[2].weight.mul_(0.5)
        m.fc_loc[2].bias.copy_(torch.tensor(rotation_theta(0.3, 0.9, 1.1, 0.08, -0.06).ravel()))
        for p in m.parameters():
            p.copy_(torch.tensor(f32(p.numpy())))
    return m


def loc_case(out, meta, prefix, N, C, H, W, padding, seed):
    for s in range(seed, seed + 200):
        m = make_module(s, C, padding)
        rng = np.random.default_rng(s)
        x = f32(rng.uniform(0, 1, (N, C, H, W)))
        dy = f32(rng.uniform(-1, 1, (N, C, H, W)))
        xt = torch.tensor(x, requires_grad=True)
        trace = []
        y, theta = m(xt, trace=trace)
        if not margins_ok(trace, H, W):
            continue
        ref = F.interpolate(torch.tensor(x), size=(48, 48), mode="bilinear", align_corners=False)
        assert torch.allclose(m.resample48(torch.tensor(x)), ref, atol=1e-13), "resample48"
        (y * torch.tensor(dy)).sum().backward()
        out[prefix + "x"] = x.transpose(0, 2, 3, 1).astype(np.float32)
        out[prefix + "dy"] = dy.transpose(0, 2, 3, 1).astype(np.float32)
        out[prefix + "y"] = nhwc(y)
        out[prefix + "theta"] = theta.detach().numpy()
        out[prefix + "dx"] = nhwc(xt.grad)
        for name, p in m.named_parameters():
            out[prefix + name] = p.detach().numpy().astype(np.float32)
            out[prefix + "grad." + name] = p.grad.numpy().copy()
        meta[prefix + "seed"] = s
        print(f"{prefix} seed {s}: theta {theta.detach().numpy().round(4).tolist()}")
        return
    raise RuntimeError(f"{prefix}: no draw met the margins")


def given_case(out, meta, prefix, N, C, H, W, padding, seed):
    for s in range(seed, seed + 200):
        rng = np.random.default_rng(s)
        theta = f32(np.stack([rotation_theta(0.45, 1.2, 0.85, 0.15, -0.1),
                              rotation_theta(-0.3, 0.7, 1.3, -0.2, 0.3)])
                    + rng.uniform(-0.02, 0.02, (N, 2, 3)))
        x = f32(rng.uniform(0, 1, (N, C, H, W)))
        dy = f32(rng.uniform(-1, 1, (N, C, H, W)))
        grid = F.affine_grid(torch.tensor(theta), (N, C, H, W), align_corners=False)
        if position_margin(grid, H, W) < POS_MARGIN:
            continue
        m = STN(C, padding)
        xt = torch.tensor(x, requires_grad=True)
        tt = torch.tensor(theta, requires_grad=True)
        y, _ = m(xt, theta=tt)
        (y * torch.tensor(dy)).sum().backward()
        out[prefix + "x"] = x.transpose(0, 2, 3, 1).astype(np.float32)
        out[prefix + "dy"] = dy.transpose(0, 2, 3, 1).astype(np.float32)
        out[prefix + "theta"] = theta.astype(np.float32)
        out[prefix + "y"] = nhwc(y)
        out[prefix + "dx"] = nhwc(xt.grad)
        out[prefix + "dtheta"] = tt.grad.numpy()
        meta[prefix + "seed"] = s
        return
    raise RuntimeError(f"{prefix}: no draw met the margins")


def main():
    torch.set_default_dtype(torch.float64)
    out, meta = {}, {"generator": "tests/golden/gen_stn.py", "torch": torch.__version__}
    loc_case(out, meta, "c3.", 2, 3, 37, 29, "zeros", 100)
    loc_case(out, meta, "c1.", 2, 1, 31, 40, "border", 300)
    given_case(out, meta, "given.", 2, 3, 37, 29, "reflection", 500)
    path = os.path.join(HERE, "stn.safetensors")
    save(path, out, meta)
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
