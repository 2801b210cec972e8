#!/usr/bin/env python3
"""Random weights and images for tests/scripts/test_slurm.sh where ../shared/data is absent:
OUT/tn.safetensors, a TransformerNet of pytorch/examples' layout (the 62 tensors of
../shared/data/README.md section 1, as tests/support/test_transformer_model.c writes them);
OUT/vgg.safetensors, a VGG19 an eighth as wide, conv1_1 to conv3_2 (as tests/test_cli_render.c
writes it); OUT/content_K.png (64x48) and OUT/style_K.png (48x48), K = 0..3. Standard library
only; seeded, so every run writes the same files.
    tests/scripts/synthetic_models.py OUT"""
import json, random, struct, sys, zlib
out = sys.argv[1]
rng = random.Random(7)

def safetensors(path, tensors, meta):
    header, blobs, off = {}, [], 0
    for name, shape, values in tensors:
        data = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

def uniform(n, a, b):
    return [rng.uniform(a, b) for _ in range(n)]

# a TransformerNet (pytorch/examples) of random weights
tn = [("conv1", 3, 32, 9, "in1"), ("conv2", 32, 64, 3, "in2"), ("conv3", 64, 128, 3, "in3")]
for r in range(1, 6):
    tn += [(f"res{r}.conv1", 128, 128, 3, f"res{r}.in1"),
           (f"res{r}.conv2", 128, 128, 3, f"res{r}.in2")]
tn += [("deconv1", 128, 64, 3, "in4"), ("deconv2", 64, 32, 3, "in5"),
       ("deconv3", 32, 3, 9, None)]
ts = []
for name, cin, cout, k, norm in tn:
    # the output layer: centred in the 0-255 range, a wide spread
    a = (cin * k * k) ** -0.5 * (60 if norm is None else 1)
    bias = uniform(cout, -.1, .1)
    ts.append((f"{name}.conv2d.weight", [cout, cin, k, k], uniform(cout * cin * k * k, -a, a)))
    ts.append((f"{name}.conv2d.bias", [cout],
               [128 + 10 * x for x in bias] if norm is None else bias))
    if norm:
        ts.append((f"{norm}.weight", [cout], uniform(cout, .5, 1.5)))
        ts.append((f"{norm}.bias", [cout], uniform(cout, -.3, .3)))
safetensors(f"{out}/tn.safetensors", ts, {"input": "rgb-0-255", "style": "synthetic"})

# a VGG19 an eighth as wide, conv1_1 .. conv3_2
ts = []
for idx, cin, cout in ((0, 3, 8), (2, 8, 8), (5, 8, 16), (7, 16, 16), (10, 16, 32), (12, 32, 32)):
    a = (6 / (9 * cin)) ** .5
    ts.append((f"features.{idx}.weight", [cout, cin, 3, 3], uniform(cout * cin * 9, -a, a)))
    ts.append((f"features.{idx}.bias", [cout], uniform(cout, 0, .05)))
safetensors(f"{out}/vgg.safetensors", ts, {"input": "rgb-0-1-imagenet-norm"})

def png(path, w, h, seed):
    r = random.Random(seed)
    fx, fy = r.uniform(.1, .5), r.uniform(.1, .5)
    rows = b"".join(b"\0" + bytes(int(x * fx * 40 + y * fy * 30 + c * 70 + r.random() * 60) % 256
                                   for x in range(w) for c in range(3)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
                + chunk(b"IEND", b""))
for k in range(4):
    png(f"{out}/content_{k}.png", 64, 48, k)
    png(f"{out}/style_{k}.png", 48, 48, 10 + k)
