"""Peak memory of a command, measured so that the test process's own size does not count.

Linux keeps a forked child's inherited RSS in its ``ru_maxrss`` across exec, so a crawl started
straight from a pytest process that has grown to 500 MB reports at least 500 MB whatever it used.
The command is therefore started by a small Python parent, and the parent writes its child's
``ru_maxrss`` (kB, from wait4) to a file.
"""
from __future__ import annotations

import sys
from pathlib import Path

_PARENT = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, st, ru = os.wait4(p.pid, 0); "
           "open(sys.argv[1], 'w').write(str(ru.ru_maxrss)); sys.exit(os.waitstatus_to_exitcode(st))")


def measured(command: list[str], rss_file: Path) -> list[str]:
    """``command`` run by a small parent that writes the command's peak RSS (kB) to ``rss_file``."""
    return [sys.executable, "-c", _PARENT, str(rss_file), *command]


def peak_mb(rss_file: Path) -> float:
    """The peak RSS a :func:`measured` command reached, in MB."""
    return int(rss_file.read_text()) / 1024
