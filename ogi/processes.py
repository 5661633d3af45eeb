"""Is a process still there? Crawl runs, extraction claims and LibreOffice profiles all ask.

A crawl or worker killed with ``kill -9`` cannot clean up after itself; whoever comes next
looks at the pid it left behind instead.
"""
from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None) -> bool:
    """True if a process with this id exists and is not a zombie (killed, not yet reaped)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        # The state letter follows the parenthesised command name, which may itself hold spaces.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
