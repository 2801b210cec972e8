"""The installed package: imported from the installation, not the source tree; its files; the
`nstyle` command it installs (which starts without importing the package); info() against
`nstyle info` and `nstyle --version`, OpenBLAS's kernels included (the package applies the
command's rule before loading the library)."""

import os
import re
import subprocess
import sys

import pytest

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


def test_the_command_starts_without_importing_the_package(cli):
    script = os.path.join(os.path.dirname(sys.executable), "nstyle")
    if cli != script:
        pytest.skip(f"no console script at {script} (the package is not installed in this "
                    "Python's environment)")
    # a library the package would refuse: the command does not load it
    env = dict(os.environ, NSTYLE_LIBRARY="/nonexistent/libnstyle.so")
    r = subprocess.run([cli, "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"nstyle {nstyle.__version__}"
