"""Every struct the package declares in ctypes (nstyle._capi.STRUCTS) against the C compiler's
view of the headers installed with it: the size, and the offset and size of every field (those
of nested structs too), from a program generated from the ctypes declarations and compiled
here. Skipped, saying why, without a C compiler."""

import ctypes
import os
import shutil
import subprocess

import pytest

from nstyle import _capi


def fields(struct, prefix=""):
    for name, ctype in struct._fields_:
        member = getattr(struct, name)
        yield prefix + name, member.offset, ctypes.sizeof(ctype)
        if issubclass(ctype, ctypes.Structure):
            for sub, off, size in fields(ctype, prefix + name + "."):
                yield sub, member.offset + off, size


def test_ctypes_layouts_are_the_c_headers(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc:
        pytest.skip("no C compiler (cc) to compile the layout check with")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <nstyle/nstyle.h>",
             "#include <nstyle/train.h>", "int main(void) {"]
    want = {}
    for cname, struct in _capi.STRUCTS.items():
        lines.append(f'printf("{cname} %zu %zu\\n", sizeof({cname}), (size_t)0);')
        want[cname] = (ctypes.sizeof(struct), 0)
        for path, off, size in fields(struct):
            key = f"{cname}.{path}"
            lines.append(f'printf("{key} %zu %zu\\n", offsetof({cname}, {path}), '
                         f'sizeof((({cname} *)0)->{path}));')
            want[key] = (off, size)
    lines.append("return 0; }")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", "-Wall", "-Werror", "-I", _capi.INCLUDE_DIR, str(src), "-o",
                    str(exe)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = {k: (int(a), int(b)) for k, a, b in (line.split() for line in out.splitlines())}
    assert got == want
    assert len(want) > 150  # every field of every struct was compared
