"""The installed package: imported from the installation, not the source tree; its files; the
`nstyle` command it installs; info() against `nstyle info` and `nstyle --version`, OpenBLAS's
kernels included (the package applies the command's rule before loading the library)."""

import os
import re

import nstyle
from conftest import REPO, run_cli


def test_imported_from_the_installation_not_the_source_tree():
    here = os.path.dirname(os.path.abspath(nstyle.__file__))
    assert not here.startswith(os.path.join(REPO, "python") + os.sep)
    assert "site-packages" in here or "dist-packages" in here
    for path in (nstyle._capi.CLI_PATH, nstyle.info()["library"],
                 os.path.join(nstyle._capi.INCLUDE_DIR, "nstyle", "nstyle.h")):
        assert os.path.exists(path) and path.startswith(here)


def test_info_is_the_clis(cli):
    version = run_cli(cli, "--version").stdout.splitlines()
    assert version[0] == f"nstyle {nstyle.__version__}"
    i = nstyle.info()
    assert i["version"] == nstyle.__version__
    text = run_cli(cli, "info").stdout
    assert text.splitlines()[0].startswith(f"nstyle {i['version']} (")
    kernels = re.search(r"^OpenBLAS kernels: (\S+)", text, re.M).group(1)
    assert i["openblas_kernels"] == kernels  # the command's kernels, the command's bits
    assert re.search(rf"^CPU: {i['cpu_cores']} cores online", text, re.M)
    assert f"Compiler: {i['compiler']}" in version
    if i["no_gpu_reason"]:
        assert f"GPUs: none usable: {i['no_gpu_reason']}" in text
    else:
        assert f"GPUs: {len(i['gpus'])} visible" in text
    if i["openblas_coretype_set_by_nstyle"]:
        assert "(set by nstyle: OpenBLAS does not know this CPU model)" in text
        assert i["openblas_coretype_set_by_nstyle"] == kernels
