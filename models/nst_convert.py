"""Pieces the converters in this folder share: the VGG19 conv table, an atomic safetensors writer,
tensor checks, and the command-line wrapper that turns refusals into one clear line and exit
status 1. Standard library only.

The safetensors layout written (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length, the JSON header ("__metadata__" first, then the tensors in the
order given, padded with spaces to a multiple of 8 bytes), then the tensors' bytes back to back.
A file is written to a temporary in the target's folder, fsync'ed and renamed over the target.
Tested by tests/test_model_convert.c, which loads what the converters write with the C reader.
"""
import hashlib
import json
import math
import os
import struct
import sys
import tempfile

import nst_pickle

# (name, torchvision features index, width multiple): Cout = width * multiple, where width is
# conv1_1's Cout (64 in VGG19; tests use smaller, self-consistent nets); Cin = the previous Cout,
# 3 for conv1_1. The same table as src/host/networks/vgg19_weights.c.
VGG19_CONVS = [
    ("conv1_1", 0, 1), ("conv1_2", 2, 1), ("conv2_1", 5, 2), ("conv2_2", 7, 2),
    ("conv3_1", 10, 4), ("conv3_2", 12, 4), ("conv3_3", 14, 4), ("conv3_4", 16, 4),
    ("conv4_1", 19, 8), ("conv4_2", 21, 8), ("conv4_3", 23, 8), ("conv4_4", 25, 8),
    ("conv5_1", 28, 8), ("conv5_2", 30, 8), ("conv5_3", 32, 8), ("conv5_4", 34, 8),
]
VGG19_WIDTH = 64

_ST_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64",
              "uint8": "U8"}


class ConvertError(Exception):
    """A refusal: the input is not what the converter expects; the message says what differs."""


def vgg19_shapes(width):
    """[(name, index, cin, cout)] for a VGG19 whose conv1_1 has `width` outputs."""
    out, cin = [], 3
    for name, index, mult in VGG19_CONVS:
        out.append((name, index, cin, width * mult))
        cin = width * mult
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def take(d, key, dtype, shape, source):
    """d[key], removed from d, checked to be a tensor of that dtype and shape."""
    t = d.pop(key, None)
    if t is None:
        raise ConvertError(f"{source}: no tensor '{key}'")
    if not isinstance(t, nst_pickle.Tensor) or not t.complete:
        raise ConvertError(f"{source}: '{key}' is not a complete tensor ({type(t).__name__})")
    if t.dtype != dtype or list(t.shape) != list(shape):
        raise ConvertError(f"{source}: '{key}' is {t.dtype} {list(t.shape)}, expected {dtype} "
                           f"{list(shape)}")
    return t


def parse_vgg_args(argv, usage):
    """(IN, OUT, any_width) from `IN OUT [--any-width]`."""
    args = [a for a in argv if a != "--any-width"]
    if len(args) != 2:
        raise ConvertError(f"usage: {usage} OUT.safetensors [--any-width]")
    return args[0], args[1], "--any-width" in argv


def net_width(d, key, any_width, standard):
    """The Cout of d[key] when any_width (the net is then checked against that width), else
    the standard width."""
    t = d.get(key)
    ok = isinstance(t, nst_pickle.Tensor) and t.complete and t.shape
    return t.shape[0] if any_width and ok else standard


def take_f32(d, key, shape, source, out_name=None):
    """(out_name or key, "float32", shape, bytes) of d[key], removed from d: a float32 tensor of
    that shape, every value finite."""
    t = take(d, key, "float32", shape, source)
    return out_name or key, "float32", shape, check_finite_f32(t, key, source)


def check_finite_f32(t, key, source):
    raw = t.to_bytes()
    for i, (v,) in enumerate(struct.iter_unpack("<f", raw)):
        if not math.isfinite(v):
            raise ConvertError(f"{source}: '{key}' element {i} is {v}")
    return raw


def as_dict(obj, source):
    """obj as a plain dict whose keys are all strings (a state_dict's are)."""
    if not isinstance(obj, dict):
        raise ConvertError(f"{source}: holds a {type(obj).__name__}, not a dict of tensors")
    for k in obj:
        if not isinstance(k, str):
            raise ConvertError(f"{source}: holds a key of type {type(k).__name__} "
                               f"({repr(k)[:40]}), not a tensor name")
    return dict(obj)


def refuse_leftovers(d, source):
    if d:
        names = ", ".join(sorted(d)[:5])
        raise ConvertError(f"{source}: {len(d)} unexpected entries ({names}{'...' * (len(d) > 5)})")


def save_safetensors(path, tensors, metadata):
    """tensors: [(name, dtype string, shape, bytes)] in file order; metadata: {str: str}."""
    header = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, dtype, shape, raw in tensors:
        st = _ST_DTYPES[dtype]
        size = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "U8": 1}[st]
        numel = math.prod(shape)
        if len(raw) != numel * size:
            raise ConvertError(f"{name}: {len(raw)} bytes for {dtype} {list(shape)}")
        header[name] = {"dtype": st, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp-", dir=folder)
    except OSError as e:
        raise ConvertError(f"{path}: cannot create a file in {folder}: {e.strerror}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _name, _dtype, _shape, raw in tensors:
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def run(main):
    """Runs main(argv) and exits: 0 on success, 1 with 'prog: error: message' on a refusal."""
    prog = os.path.basename(sys.argv[0])
    try:
        main(sys.argv[1:])
    except (ConvertError, nst_pickle.TorchFileError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(1)
    except OSError as e:
        print(f"{prog}: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
