"""nstyle.plan against `nstyle plan --json -`: every field but the memory the run itself used,
for renders (optimisers, history, line search, scales, several styles, layers, pooling), a
training run, and CUDA planned on a machine without a GPU; and its errors."""

import json

import pytest

import nstyle
from conftest import run_cli

CASES = [
    ({"size": "768x512"}, ["--size", "768x512"]),
    ({"size": (256, 192), "optimizer": "lbfgs", "lbfgs_history": 20,
      "line_search": "strong-wolfe"},
     ["--size", "256x192", "--optimizer", "lbfgs", "--lbfgs-history", "20",
      "--line-search", "strong-wolfe"]),
    ({"size": "300x200", "scales": 3, "pooling": "avg", "normalize_gradients": True},
     ["--size", "300x200", "--scales", "3", "--pooling", "avg", "--normalize-gradients"]),
    ({"size": "128x128", "style_size": ["64x64", (96, 80)], "content_layers": "relu3_1",
      "style_layers": "relu1_1,relu2_1"},
     ["--size", "128x128", "-S", "64x64", "-S", "96x80", "-c", "relu3_1", "-l",
      "relu1_1,relu2_1"]),
    ({"size": "128x96", "robust": 2, "style_augment": 3},
     ["--size", "128x96", "--robust", "2", "--style-augment", "3"]),
    ({"train": True, "crop": 128, "batch": 2, "width": 16, "style_size": "100x80"},
     ["--train", "--crop", "128", "--batch", "2", "--width", "16", "-S", "100x80"]),
    ({"size": "256x256", "device": "cuda", "workspace_limit": "64M"},
     ["--size", "256x256", "--device", "cuda", "--workspace-limit", "64M"]),
]


@pytest.mark.parametrize("options,args", CASES, ids=[" ".join(a) for _, a in CASES])
def test_plan_is_the_clis(cli, options, args):
    r = run_cli(cli, "plan", *args, "--json", "-")
    want = json.loads(r.stdout[r.stdout.index("{"):])
    got = nstyle.plan(**options)
    del want["memory"]
    assert got == want
    assert got["plan"]["total_bytes"] > 0


def test_plan_errors_name_the_option():
    with pytest.raises(nstyle.OptionError, match="'sise'"):
        nstyle.plan(sise="768x512")
    with pytest.raises(nstyle.OptionError, match="size is required"):
        nstyle.plan()
    with pytest.raises(nstyle.OptionError, match="size wants WxH"):
        nstyle.plan(size="768by512")
    with pytest.raises(nstyle.OptionError, match="pooling wants max or avg"):
        nstyle.plan(size="64x64", pooling="min")
    with pytest.raises(nstyle.OptionError, match="crop is for a training run"):
        nstyle.plan(size="64x64", crop=128)
    with pytest.raises(nstyle.InvalidArgumentError, match="relu9_9"):
        nstyle.plan(size="64x64", style_layers="relu1_1,relu9_9")
