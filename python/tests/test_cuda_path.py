"""The CUDA libraries from PyPI's NVIDIA wheels (pip install "nstyle[cuda]"): the package finds
the site-packages folders holding nvidia/cu13/lib, nvidia/cudnn/lib or nvidia/cublas/lib and
hands them to the CUDA loader through $NSTYLE_CUDA_LIBRARY_PATH (after the user's own folders)
before the library is loaded; without a GPU, info() says why. Folders laid out as the wheels lay
them out stand in for the wheels (hundreds of MB) here; the installed package's metadata names
them under the extra."""

import json
import os
import re
import subprocess
import sys

import nstyle
from nstyle import _capi


def wheel_layout(root, *subs):
    for sub in subs:
        os.makedirs(os.path.join(root, sub))
    return str(root)


def test_the_cuda_extra_names_the_wheels():
    from importlib.metadata import metadata
    m = metadata("nstyle")
    assert "cuda" in m.get_all("Provides-Extra")
    wants = {}
    for r in m.get_all("Requires-Dist"):
        if 'extra == "cuda"' in r:
            req = r.split(";")[0].replace(" ", "")
            name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
            wants[name] = set(req[len(name):].split(","))
    assert wants == {"nvidia-cublas": {">=13", "<14"}, "nvidia-cudnn-cu13": {">=9", "<10"}}


def test_the_wheels_folders_are_found_in_order(tmp_path):
    a = wheel_layout(tmp_path / "a", "nvidia/cu13/lib")
    b = wheel_layout(tmp_path / "b", "nvidia/cudnn/lib", "nvidia/cublas/lib")
    c = wheel_layout(tmp_path / "c", "nvidia/cuda_runtime/lib")  # none the loader uses
    empty = str(tmp_path)
    assert _capi.cuda_wheel_folders([empty, a, c, b, a]) == [a, b]
    assert _capi.cuda_library_path({}, [a, b]) == f"{a}:{b}"
    # the user's folders come first; nothing to add: None (the environment is left alone)
    own = {"NSTYLE_CUDA_LIBRARY_PATH": "/opt/cuda/lib:" + b}
    assert _capi.cuda_library_path(own, [a, b]) == f"/opt/cuda/lib:{b}:{a}"
    assert _capi.cuda_library_path(own, [b, c]) is None
    assert _capi.cuda_library_path({}, [c, empty]) is None


PROBE = """
import ctypes, json, os, nstyle
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
c_env = libc.getenv(b"NSTYLE_CUDA_LIBRARY_PATH")
i = nstyle.info()
print(json.dumps({"python": os.environ.get("NSTYLE_CUDA_LIBRARY_PATH"),
                  "c": c_env.decode() if c_env else None, "set": nstyle._capi.CUDA_PATH_SET,
                  "info": i["cuda_library_path"], "gpus": len(i["gpus"]),
                  "no_gpu_reason": i["no_gpu_reason"]}))
"""


def probe(tmp_path, **env):
    e = {k: v for k, v in os.environ.items() if k != "NSTYLE_CUDA_LIBRARY_PATH"}
    e.update(env)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=e,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_import_hands_the_folders_to_the_loader(tmp_path):
    sp = wheel_layout(tmp_path / "site", "nvidia/cu13/lib", "nvidia/cudnn/lib")
    got = probe(tmp_path, PYTHONPATH=sp)
    assert got["python"] == got["c"] == got["set"] == got["info"]  # what the loader reads
    assert got["c"].split(":")[-1] == sp
    got = probe(tmp_path, PYTHONPATH=sp, NSTYLE_CUDA_LIBRARY_PATH="/opt/mine")
    assert got["c"] == f"/opt/mine:{sp}"


def test_without_the_wheels_nothing_is_set_and_info_says_why_no_gpu(tmp_path):
    base = _capi.cuda_wheel_folders()
    got = probe(tmp_path)
    assert got["c"] == (":".join(base) if base else None)
    if got["gpus"] == 0:  # why none: the CLI's reason (test_package compares it with `info`)
        assert isinstance(got["no_gpu_reason"], str) and got["no_gpu_reason"]
    assert nstyle.info()["cuda_library_path"] == os.environ.get("NSTYLE_CUDA_LIBRARY_PATH")
