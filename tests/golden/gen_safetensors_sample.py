"""Writes tests/golden/safetensors_sample.safetensors with the Python writer (st_write.py), so the
C reader is checked against a file it did not write. tests/test_safetensors.c recomputes every value
from the formulas below.

    /usr/bin/python3 tests/golden/gen_safetensors_sample.py

Names are sorted by the writer, and json.dumps escapes non-ASCII names as \\uXXXX (a surrogate pair
for the emoji), which exercises the reader's escape decoding. The F16 data is 18 bytes, so the F32 and F64 data
after it is not aligned: the reader must not assume alignment. (No 0-d tensor here: st_write.py
passes arrays through np.ascontiguousarray, which turns shape () into (1,); the C round-trip tests
cover 0-d tensors.)
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from st_write import save  # noqa: E402


def main():
    tensors = {
        # (i - 5.5) / 3 in float64: most values are not exact in binary, so all 64 bits matter
        "x64": (np.arange(12, dtype=np.float64).reshape(3, 4) - 5.5) / 3.0,
        "x32": (np.arange(6, dtype=np.float32).reshape(1, 2, 3) * np.float32(0.25)
                - np.float32(0.5)),
        # zeros of both signs, the largest half, the smallest subnormal and normal, infinities
        "x16": np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 2.0**-24, 2.0**-14, np.inf, -np.inf],
                        dtype=np.float16),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "caf\u00e9": np.array([1.0], dtype=np.float32),
        "emoji-\U0001F600": np.array([2.0], dtype=np.float32),
    }
    metadata = {
        "generator": "gen_safetensors_sample.py",
        "note": 'quote " backslash \\ newline \n caf\u00e9',
    }
    save(os.path.join(HERE, "safetensors_sample.safetensors"), tensors, metadata)


if __name__ == "__main__":
    main()
