#!/usr/bin/env python3
"""Converts a pytorch/examples fast_neural_style TransformerNet checkpoint (.pth, legacy or zip
torch.save) to safetensors, without torch and without running code from the pickle
(models/nst_pickle.py).

    convert-fast-pth.py model.pth OUT.safetensors [--style NAME] [--any-width]

Keys and layout are pytorch/examples' (/work/shared/data/README.md section 1 describes them):
conv1..conv3, res1..res5 (conv1, in1, conv2, in2), deconv1..deconv3, in1..in5, all F32.
Checkpoints saved by old torch versions hold instance-norm running statistics; they are dropped
as pytorch/examples drops them when loading (keys matching in\\d+\\.running_(mean|var)$), and so
are the matching num_batches_tracked counters. Metadata as the shared fast models: input
"rgb-0-255", instance_norm_eps "1e-5", upsample "nearest", style (default: the file's stem).
--any-width accepts a self-consistent net narrower than the standard one (tests use one).
Exit status 0, or 1 with one line on stderr saying what is wrong. Tested by
tests/test_model_convert.c.
"""
import os
import re

import nst_convert as C
import nst_pickle

RUNNING_STATS = re.compile(r"in\d+\.(running_(mean|var)|num_batches_tracked)$")
WIDTH = 32  # conv1's Cout


def layers(w):
    """[(prefix, cin, cout, kernel, instance norm after it or None)] in state_dict order."""
    out = [("conv1", 3, w, 9, "in1"), ("conv2", w, 2 * w, 3, "in2"),
           ("conv3", 2 * w, 4 * w, 3, "in3")]
    for r in range(1, 6):
        out += [(f"res{r}.conv1", 4 * w, 4 * w, 3, f"res{r}.in1"),
                (f"res{r}.conv2", 4 * w, 4 * w, 3, f"res{r}.in2")]
    return out + [("deconv1", 4 * w, 2 * w, 3, "in4"), ("deconv2", 2 * w, w, 3, "in5"),
                  ("deconv3", w, 3, 9, None)]


def parse_args(argv):
    args, style, any_width = [], None, False
    it = iter(argv)
    for a in it:
        if a == "--style":
            style = next(it, None)
            if not style:
                raise C.ConvertError("--style needs a name")
        elif a == "--any-width":
            any_width = True
        else:
            args.append(a)
    if len(args) != 2:
        raise C.ConvertError("usage: convert-fast-pth.py model.pth OUT.safetensors "
                             "[--style NAME] [--any-width]")
    return args[0], args[1], style, any_width


def main(argv):
    src, out, style, any_width = parse_args(argv)
    d = C.as_dict(nst_pickle.load(src, nst_pickle.STATE_DICT_GLOBALS), src)
    for k in [k for k in d if RUNNING_STATS.search(k)]:
        del d[k]
    width = C.net_width(d, "conv1.conv2d.bias", any_width, WIDTH)
    tensors = []
    for prefix, cin, cout, k, norm in layers(width):
        entries = [(f"{prefix}.conv2d.weight", (cout, cin, k, k)),
                   (f"{prefix}.conv2d.bias", (cout,))]
        if norm:
            entries += [(f"{norm}.weight", (cout,)), (f"{norm}.bias", (cout,))]
        tensors += [C.take_f32(d, key, shape, src) for key, shape in entries]
    C.refuse_leftovers(d, src)
    C.save_safetensors(out, tensors, {
        "arch": "johnson2016-transformer",
        "input": "rgb-0-255",
        "instance_norm_eps": "1e-5",
        "upsample": "nearest",
        "source": f"pytorch/examples fast_neural_style (BSD-3-Clause): {os.path.basename(src)} "
                  f"sha256 {C.sha256_file(src)}",
        "style": style or os.path.splitext(os.path.basename(src))[0],
    })


if __name__ == "__main__":
    C.run(main)
