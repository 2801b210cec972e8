"""The `nstyle` command of the Python package: runs the CLI bundled in the nstyle package
(nstyle/bin/nstyle) in place of this process. It finds the package without importing it (no
numpy, no library load, no OpenBLAS probe), so the command starts nearly as fast as the binary;
the binary applies its own OpenBLAS rule."""

import importlib.util
import os
import sys


def main():
    spec = importlib.util.find_spec("nstyle")
    folders = list(spec.submodule_search_locations or []) if spec else []
    cli = os.path.join(folders[0], "bin", "nstyle") if folders else "nstyle/bin/nstyle"
    try:
        os.execv(cli, [cli] + sys.argv[1:])
    except OSError as e:
        sys.stderr.write(f"nstyle: cannot run {cli}: {e.strerror} (reinstall nstyle)\n")
    return 1
