"""The import-time checks: a library of another ABI version, one without the ABI function, and
one whose options struct has another size are refused, each with a message naming the
mismatch (stand-in libraries compiled here, loaded through NSTYLE_LIBRARY in a child Python).
Skipped, saying why, without a C compiler."""

import os
import shutil
import subprocess
import sys

import pytest

from nstyle import _capi


def fake_library(tmp_path, name, body):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc:
        pytest.skip("no C compiler (cc) to build the stand-in libraries with")
    src = tmp_path / f"{name}.c"
    src.write_text("#include <stddef.h>\n" + body)
    lib = tmp_path / f"lib{name}.so"
    subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    return str(lib)


def import_with(lib):
    env = dict(os.environ, NSTYLE_LIBRARY=lib)
    return subprocess.run([sys.executable, "-c", "import nstyle"], capture_output=True,
                          text=True, env=env, cwd="/")


def test_another_abi_version_is_refused(tmp_path):
    lib = fake_library(tmp_path, "abi99", "int nst_abi_version(void) { return 99; }\n")
    r = import_with(lib)
    assert r.returncode != 0
    assert f"has ABI version 99 but this package was written for {_capi.ABI_VERSION}" in r.stderr
    assert "LoadError" in r.stderr


def test_a_library_without_the_abi_function_is_refused(tmp_path):
    lib = fake_library(tmp_path, "old", "int nst_something(void) { return 1; }\n")
    r = import_with(lib)
    assert r.returncode != 0 and "has no nst_abi_version" in r.stderr


def test_an_options_struct_of_another_size_is_refused(tmp_path):
    # every function the package declares, the struct sizes right but the stylize options'
    names = "\n".join(f"void {n}(void) {{}}" for n in _capi._SIGNATURES
                      if not n.endswith("_size") and n != "nst_abi_version")
    sizes = {"render": _capi.ctypes.sizeof(_capi.RenderOptions),
             "train": _capi.ctypes.sizeof(_capi.TrainOptions), "stylize": 8}
    body = (f"int nst_abi_version(void) {{ return {_capi.ABI_VERSION}; }}\n{names}\n" +
            "".join(f"size_t nst_{k}_options_size(void) {{ return {v}; }}\n"
                    for k, v in sizes.items()))
    r = import_with(fake_library(tmp_path, "size", body))
    assert r.returncode != 0
    assert "has a 8-byte nst_stylize_options but this package declares" in r.stderr
