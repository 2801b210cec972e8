"""The `nstyle` command of the Python package: the bundled CLI (bin/nstyle beside the package's
libnstyle), run in place of this process."""

import os
import sys

from ._capi import CLI_PATH


def main():
    try:
        os.execv(CLI_PATH, [CLI_PATH] + sys.argv[1:])
    except OSError as e:
        sys.stderr.write(f"nstyle: cannot run {CLI_PATH}: {e.strerror}\n")
        return 1
    return 0
