"""Golden for tests/test_lbfgs.c: torch.optim.LBFGS (line_search_fn=None) on a small
least-squares problem, loss = 0.5 |A x - b|^2 with A (24, 16) ill-conditioned (singular values
from 10 down to 0.1), so that 20 evaluations do not reach the minimum. Float32 throughout, as
the C code runs it. Records the loss at each of the 20 evaluations (max_iter=20, history 5,
lr 1, torch's default tolerances) and x after the last step.

Run from tests/golden/:  /usr/bin/python3 gen_lbfgs.py   (writes lbfgs.safetensors)
"""
import numpy as np
import torch

from st_write import save

torch.manual_seed(0)
M, N = 24, 16
U, _ = torch.linalg.qr(torch.randn(M, M, dtype=torch.float64))
V, _ = torch.linalg.qr(torch.randn(N, N, dtype=torch.float64))
sv = torch.logspace(1, -1, N, dtype=torch.float64)
A = (U[:, :N] * sv) @ V.T
A = A.float()
b = torch.randn(M).float()
x0 = torch.randn(N).float()

x = x0.clone().requires_grad_(True)
opt = torch.optim.LBFGS([x], lr=1, max_iter=20, history_size=5, line_search_fn=None)
losses = []


def closure():
    opt.zero_grad()
    loss = 0.5 * ((A @ x - b) ** 2).sum()
    loss.backward()
    losses.append(float(loss))
    return loss


opt.step(closure)
print("evaluations", len(losses))
print("losses", losses)
save("lbfgs.safetensors", {
    "A": A.numpy(), "b": b.numpy(), "x0": x0.numpy(),
    "losses": np.array(losses, dtype=np.float64),
    "x_final": x.detach().numpy(),
}, metadata={"history": "5", "lr": "1", "max_iter": "20"})
