"""Minimal safetensors writer for the golden generators (no dependency beyond numpy).

    from st_write import save
    save("out.safetensors", {"x": array_f64, "y": array_f32}, {"generator": "gen_grid.py"})

Arrays keep their dtype (float64 -> F64, float32 -> F32, float16 -> F16, uint8 -> U8); tensors
are laid out in sorted-name order, as the safetensors library does.
"""
import json
import os
import struct

import numpy as np

_DTYPES = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("float16"): "F16",
           np.dtype("uint8"): "U8"}


def save(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        a = np.require(a, requirements="C")  # keeps 0-d shapes (ascontiguousarray makes them 1-d)
        if a.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
