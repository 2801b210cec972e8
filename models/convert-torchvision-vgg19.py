#!/usr/bin/env python3
"""Converts torchvision's VGG19 state_dict (.pth, legacy or zip torch.save) to safetensors,
without torch and without running code from the pickle (models/nst_pickle.py).

    convert-torchvision-vgg19.py vgg19.pth OUT.safetensors [--any-width]

Keeps the 16 convs as F32 features.N.weight (Cout, Cin, 3, 3) and features.N.bias (Cout) under
the same names and drops the classifier; metadata input "rgb-0-1-imagenet-norm" (torchvision's
weights were retrained on RGB / 255 normalised by the ImageNet mean and std, and style
differently from the Caffe VGG19 that models/fetch-vgg19.sh gets).
--any-width accepts a self-consistent net narrower than VGG19 (tests use one).
Exit status 0, or 1 with one line on stderr saying what is wrong. Tested by
tests/test_model_convert.c.
"""
import os

import nst_convert as C
import nst_pickle


def main(argv):
    src, out, any_width = C.parse_vgg_args(argv, "convert-torchvision-vgg19.py vgg19.pth")
    d = C.as_dict(nst_pickle.load(src, nst_pickle.STATE_DICT_GLOBALS), src)
    for k in [k for k in d if k.startswith("classifier.")]:
        del d[k]
    width = C.net_width(d, "features.0.bias", any_width, C.VGG19_WIDTH)
    tensors = []
    for _name, index, cin, cout in C.vgg19_shapes(width):
        tensors.append(C.take_f32(d, f"features.{index}.weight", (cout, cin, 3, 3), src))
        tensors.append(C.take_f32(d, f"features.{index}.bias", (cout,), src))
    C.refuse_leftovers(d, src)
    C.save_safetensors(out, tensors, {
        "arch": "vgg19",
        "input": "rgb-0-1-imagenet-norm",
        "layers": "conv1_1..conv5_4",
        "source": f"torchvision vgg19 IMAGENET1K_V1 (BSD-3-Clause): {os.path.basename(src)} "
                  f"sha256 {C.sha256_file(src)}",
    })


if __name__ == "__main__":
    C.run(main)
