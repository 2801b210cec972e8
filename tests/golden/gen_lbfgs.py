"""Golden for tests/test_lbfgs.c: torch.optim.LBFGS on two small problems, float32 throughout,
as the C code runs it.

1. Least squares, loss = 0.5 |A x - b|^2 with A (24, 16) ill-conditioned (singular values from
   10 down to 0.1), so that 20 evaluations do not reach the minimum:
   - line_search_fn=None (max_iter=20, history 5, lr 1, torch's default tolerances): the loss at
     each of the 20 evaluations ("losses") and x after the last step ("x_final");
   - line_search_fn="strong_wolfe" (max_eval=20, max_iter=100, history 5, lr 1): the loss at
     every evaluation, trial points included ("wolfe_ls_losses"), the loss at the final x
     ("wolfe_ls_final"), the evaluation count ("wolfe_ls_evals", torch's func_evals) and x.
2. The extended Rosenbrock function of 8 variables,
   f = sum_i 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2, from (-1.2, 1, -1.2, 1, ...), with
   line_search_fn="strong_wolfe" and the same settings: "wolfe_rb_losses", "wolfe_rb_final",
   "wolfe_rb_evals", "wolfe_rb_x"; and again with lr 10 ("wolfe_rb10_*"), whose first trials
   overshoot, so that the line search extrapolates, zooms and swaps the bracket's ends, and
   whose last line search runs past max_eval (21 evaluations).

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


def least_squares(x):
    return 0.5 * ((A @ x - b) ** 2).sum()


def rosenbrock(x):
    odd, even = x[1::2], x[0::2]
    return (100 * (odd - even ** 2) ** 2 + (1 - even) ** 2).sum()


def run(f, start, lr=1, **settings):
    """The loss at every evaluation, the final loss, torch's evaluation count and x."""
    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=lr, history_size=5, **settings)
    losses = []

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        losses.append(float(loss))
        return loss

    opt.step(closure)
    evals = opt.state[opt._params[0]]["func_evals"]
    assert evals == len(losses)
    with torch.no_grad():
        final = float(f(x))
    print(f"{f.__name__} lr {lr} {settings}: {evals} evaluations, final loss {final:.7g}")
    return np.array(losses, dtype=np.float64), final, evals, x.detach().numpy()


losses, _, _, x_final = run(least_squares, x0, max_iter=20, line_search_fn=None)
out = {"A": A.numpy(), "b": b.numpy(), "x0": x0.numpy(), "losses": losses, "x_final": x_final}
wolfe = dict(max_iter=100, max_eval=20, line_search_fn="strong_wolfe")
rb0 = torch.tensor([-1.2, 1.0] * 4, dtype=torch.float32)
for key, f, start, lr in (("ls", least_squares, x0, 1), ("rb", rosenbrock, rb0, 1),
                         ("rb10", rosenbrock, rb0, 10)):
    losses, final, evals, x = run(f, start, lr=lr, **wolfe)
    out[f"wolfe_{key}_losses"] = losses
    out[f"wolfe_{key}_final"] = np.array([final], dtype=np.float64)
    out[f"wolfe_{key}_evals"] = np.array([evals], dtype=np.float64)
    out[f"wolfe_{key}_x"] = x
out["rb_x0"] = rb0.numpy()
save("lbfgs.safetensors", out, metadata={"history": "5", "lr": "1", "max_iter": "20",
                                         "wolfe_max_eval": "20", "wolfe_max_iter": "100"})
