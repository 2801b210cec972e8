#!/usr/bin/python3
"""Runs a command and records its peak resident memory (the kernel's ru_maxrss of that process,
in KiB) for scripts/timing-charts.sh.

    bench/peak_rss.py OUT_FILE CMD [ARGS...]

Writes the figure to OUT_FILE and exits with the command's status (128 + N when a signal N
ended it). Only the command's own process is counted, not its children.
"""
import os
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: peak_rss.py OUT_FILE CMD [ARGS...]")
    out, cmd = sys.argv[1], sys.argv[2:]
    try:
        p = subprocess.Popen(cmd)
    except OSError as e:
        sys.exit(f"peak_rss.py: cannot run {cmd[0]}: {e.strerror}")
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = 0  # reaped here; keeps Popen from waiting again
    with open(out, "w") as f:
        f.write(f"{usage.ru_maxrss}\n")
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status)
             else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
