"""Goldens for the feed-forward TransformerNet (Johnson et al. 2016) with the five real
pytorch/examples models, computed by PyTorch in float64.

    cd tests/golden && /usr/bin/python3 gen_transformer.py [SHARED_DATA]
                                    # writes transformer.safetensors

The network is pytorch/examples fast_neural_style/neural_style/transformer_net.py, written out
below as it is there (ConvLayer = ReflectionPad2d(k // 2) + Conv2d; ResidualBlock; the
UpsampleConvLayer with nearest interpolation). Each model in SHARED_DATA/models/fast (default
../../../shared/data) is loaded with load_state_dict(strict=True) after its F16/F32 tensors
are cast to float64, and runs on two crops of images/content/chelsea.png: 52x40 and an odd
37x29, whose output (40x32) is larger than the input. The inputs are stored as U8 (H, W, 3),
the outputs as F64 (H, W, 3) on the 0-255 scale BEFORE clamping, cropped at the bottom and
right back to the input size, as nstyle's stylizer returns them.

Tensors: input_52x40, input_37x29 (U8) and <style>_52x40, <style>_37x29 (F64).
Read by tests/test_transformer.c (max |d| <= 0.5, mean |d| <= 0.01, uint8 pixels within 1).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image

from st_write import save

STYLES = ["candy", "mosaic", "pointilism", "rain_princess", "udnie"]
# (name, left, top, width, height) inside chelsea.png (451x300)
CROPS = [("52x40", 170, 70, 52, 40), ("37x29", 200, 150, 37, 29)]


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        if self.upsample:
            x = torch.nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


def read_safetensors(path):
    """{name: float64 array} of a safetensors file holding F16/F32 tensors."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    kinds = {"F16": "<f2", "F32": "<f4"}
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=kinds[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(a.astype(np.float64))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../shared/data")
    photo = np.asarray(Image.open(os.path.join(shared, "images/content/chelsea.png")).convert("RGB"))
    tensors = {}
    inputs = {}
    for name, left, top, w, h in CROPS:
        crop = np.ascontiguousarray(photo[top:top + h, left:left + w, :])
        tensors["input_" + name] = crop.astype(np.uint8)
        inputs[name] = torch.from_numpy(crop.astype(np.float64)).permute(2, 0, 1)[None]
    for style in STYLES:
        net = TransformerNet().double().eval()
        net.load_state_dict(read_safetensors(os.path.join(shared, "models/fast", style + ".safetensors")),
                            strict=True)
        with torch.no_grad():
            for name, _, _, w, h in CROPS:
                y = net(inputs[name])[0, :, :h, :w]  # (3, Ho, Wo) cropped to (3, h, w)
                tensors[f"{style}_{name}"] = y.permute(1, 2, 0).contiguous().numpy()
                print(f"{style} {name}: output range {y.min().item():.1f} .. {y.max().item():.1f}")
    save(os.path.join(here, "transformer.safetensors"), tensors,
         {"generator": "gen_transformer.py", "torch": torch.__version__,
          "content": "chelsea.png crops " + ", ".join(f"{n}@{l},{t}" for n, l, t, _, _ in CROPS)})


if __name__ == "__main__":
    main()
