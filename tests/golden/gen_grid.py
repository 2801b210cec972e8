"""Goldens for the affine grid and bilinear grid sample ops (tests/test_cpu_affine_grid.c,
tests/test_cpu_grid_sample.c), computed by PyTorch in float64 with autograd:

  F.affine_grid(theta, (N, C, H, W), align_corners) and dtheta for a random dgrid;
  F.grid_sample(x, grid, mode="bilinear", padding_mode, align_corners) with dx and dgrid for a
  fixed random dy, in all six padding x align_corners combinations.

Run with Debian's python (it has torch):  cd tests/golden && /usr/bin/python3 gen_grid.py
Writes grid.safetensors next to this script. Images are stored NHWC (as nstyle lays them out).

Every input is rounded to float32 first, so the C tests load exactly the values PyTorch saw. The
sample grids include points exactly on -1, 0, 1, on pixel centres and on reflection folds. Since
a pixel centre such as -1 + 2/10 has no exact binary form, those points sit within one float32
step of the centre; the script checks, for every point and mode, that the float32 arithmetic of
src/math/grid_math.h and float64 arithmetic take the same branches (same floor corner, same clip
and reflection gradient multiplier), nudging a point up by one float32 step until they do, so the
float32 op and the float64 golden agree even at those kinks.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

from st_write import save

PADDINGS = ("zeros", "border", "reflection")
HERE = os.path.dirname(os.path.abspath(__file__))


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


# ---- float32 / float64 replica of grid_math.h's branch decisions ------------------------------

def source_index(c, size, padding, ac, dt):
    """grid_math.h nst__grid_source_index in dtype dt, elementwise: (index, multiplier)."""
    one, two = dt(1), dt(2)
    c = c.astype(dt)
    if ac:
        mult = np.full_like(c, dt(size - 1) / two)
        ix = ((c + one) / two) * dt(size - 1)
    else:
        mult = np.full_like(c, dt(size) / two)
        ix = ((c + one) * dt(size) - one) / two
    if padding == "zeros":
        return ix, mult
    if padding == "reflection":
        lo2, hi2 = (0, 2 * (size - 1)) if ac else (-1, 2 * size - 1)
        if lo2 == hi2:
            ix, refl = np.zeros_like(ix), np.zeros_like(ix)
        else:
            lo, span = dt(lo2) / two, dt(hi2 - lo2) / two
            t = ix - lo
            sign = np.where(t < 0, dt(-1), dt(1))
            t = np.abs(t)
            extra = np.fmod(t, span)
            even = np.fmod(np.floor(t / span), dt(2)) == 0
            ix = np.where(even, extra + lo, span - extra + lo).astype(dt)
            refl = np.where(even, sign, -sign).astype(dt)
        mult = mult * refl
    mx = dt(size - 1)
    clip = np.where((ix <= 0) | (ix >= mx), dt(0), dt(1)).astype(dt)
    ix = np.minimum(np.maximum(ix, dt(0)), mx)
    return ix, mult * clip


def decisions(grid, H, W, padding, ac, dt):
    """(floor x, floor y, mult x, mult y) per point, as grid_math.h computes them in dt."""
    ix, mx = source_index(grid[..., 0], W, padding, ac, dt)
    iy, my = source_index(grid[..., 1], H, padding, ac, dt)
    ix = np.minimum(np.maximum(ix, dt(-2)), dt(W + 1))
    iy = np.minimum(np.maximum(iy, dt(-2)), dt(H + 1))
    return np.floor(ix), np.floor(iy), mx, my


def make_consistent(grid, H, W, modes):
    """Nudges points (by one float32 step up) until float32 and float64 decide alike."""
    g = grid.astype(np.float32).copy()
    for _ in range(64):
        bad = np.zeros(g.shape[:-1] + (2,), dtype=bool)
        for padding, ac in modes:
            a = decisions(g, H, W, padding, ac, np.float32)
            b = decisions(g.astype(np.float64), H, W, padding, ac, np.float64)
            bad[..., 0] |= (a[0] != b[0]) | (a[2] != b[2])
            bad[..., 1] |= (a[1] != b[1]) | (a[3] != b[3])
        if not bad.any():
            return g.astype(np.float64)
        g[bad] = np.nextafter(g[bad], np.float32(np.inf))
    raise RuntimeError("could not make the grid's float32 and float64 branches agree")


# ---- grid sample ------------------------------------------------------------------------------

def sample_goldens(out, prefix, x, grid, dy, modes, tag):
    for padding, ac in modes:
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.tensor(grid, requires_grad=True)
        y = F.grid_sample(xt, gt, mode="bilinear", padding_mode=padding, align_corners=ac)
        (y * torch.tensor(dy)).sum().backward()
        key = f"{tag}_{padding}_ac{int(ac)}"
        out[f"{prefix}y_{key}"] = nhwc(y)
        out[f"{prefix}dx_{key}"] = nhwc(xt.grad)
        out[f"{prefix}dgrid_{key}"] = gt.grad.numpy()


def special_points(H, W):
    """Points on -1, 0, 1, reflection folds, and pixel centres of both align_corners modes."""
    pts = [(-1, -1), (1, 1), (0, 0), (-1, 1), (1, -1), (0, 1), (-1, 0), (1, 0), (0, -1),
           (3, -3), (-3, 0.5), (2.5, -1)]
    pts += [(-1 + 2 * k / (W - 1), -1 + 2 * (k % (H - 2) + 1) / (H - 1)) for k in range(1, W - 1)]
    pts += [((2 * k + 1) / W - 1, (2 * (k % H) + 1) / H - 1) for k in range(W)]
    return np.array(pts, dtype=np.float64)


def rotation_theta(angle, sx, sy, tx, ty):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[sx * c, -sy * s, tx], [sx * s, sy * c, ty]])


def grid_sample_cases(rng, out):
    N, C, H, W, Ho, Wo = 2, 5, 7, 11, 6, 9
    all_modes = [(p, ac) for p in PADDINGS for ac in (False, True)]
    x = f32(rng.uniform(-1, 1, (N, C, H, W)))
    dy = f32(rng.uniform(-1, 1, (N, C, Ho, Wo)))
    grid = rng.uniform(-1.6, 1.6, (N, Ho, Wo, 2))
    sp = special_points(H, W)
    grid.reshape(-1, 2)[: len(sp)] = sp
    grid = make_consistent(grid, H, W, all_modes)
    out["gs_x"] = x.transpose(0, 2, 3, 1).copy()
    out["gs_dy"] = dy.transpose(0, 2, 3, 1).copy()
    out["gs_grid_rand"] = grid
    sample_goldens(out, "gs_", x, grid, dy, all_modes, "rand")

    # a grid made by affine_grid from rotation + scale + shift, reaching beyond the image
    theta = np.stack([rotation_theta(0.35, 1.25, 0.9, 0.12, -0.2),
                      rotation_theta(-0.6, 0.8, 1.4, -0.3, 0.25)])
    out["gs_theta"] = f32(theta)
    for ac in (False, True):
        g = F.affine_grid(torch.tensor(f32(theta)), (N, C, Ho, Wo), align_corners=ac).numpy()
        modes = [(p, ac) for p in PADDINGS]
        g = make_consistent(g, H, W, modes)
        out[f"gs_grid_affine_ac{int(ac)}"] = g
        sample_goldens(out, "gs_", x, g, dy, modes, "affine")

    # a one-pixel-high image: the size-1 branches of unnormalise and reflect
    x1 = f32(rng.uniform(-1, 1, (1, 2, 1, 4)))
    dy1 = f32(rng.uniform(-1, 1, (1, 2, 3, 5)))
    g1 = make_consistent(rng.uniform(-1.6, 1.6, (1, 3, 5, 2)), 1, 4, all_modes)
    out["s1_x"] = x1.transpose(0, 2, 3, 1).copy()
    out["s1_dy"] = dy1.transpose(0, 2, 3, 1).copy()
    out["s1_grid"] = g1
    sample_goldens(out, "s1_", x1, g1, dy1, all_modes, "rand")


# ---- affine grid ------------------------------------------------------------------------------

def affine_cases(rng, out, prefix, N, H, W):
    theta = f32(rng.uniform(-1, 1, (N, 2, 3)))
    dgrid = f32(rng.uniform(-1, 1, (N, H, W, 2)))
    out[f"{prefix}theta"] = theta
    out[f"{prefix}dgrid"] = dgrid
    for ac in (False, True):
        t = torch.tensor(theta, requires_grad=True)
        g = F.affine_grid(t, (N, 3, H, W), align_corners=ac)
        (g * torch.tensor(dgrid)).sum().backward()
        out[f"{prefix}grid_ac{int(ac)}"] = g.detach().numpy()
        out[f"{prefix}dtheta_ac{int(ac)}"] = t.grad.numpy()


def main():
    torch.set_default_dtype(torch.float64)
    rng = np.random.default_rng(20240611)
    out = {}
    grid_sample_cases(rng, out)
    affine_cases(rng, out, "ag_", 2, 5, 8)
    affine_cases(rng, out, "ag1_", 2, 1, 4)  # one row: the size-1 base coordinate is 0
    path = os.path.join(HERE, "grid.safetensors")
    save(path, out, {"generator": "tests/golden/gen_grid.py", "torch": torch.__version__})
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
