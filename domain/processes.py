"""Is a process still there, and ending one with all it started: crawl runs, extraction claims,
LibreOffice profiles and the extraction budget (pipelines.bounded) all ask.

A crawl or worker killed with ``kill -9`` cannot clean up after itself; whoever comes next
looks at the pid it left behind instead.
"""
from __future__ import annotations

import os
import signal
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


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process descended from it.

    A timed-out extraction may have started tesseract, or LibreOffice (which runs in a
    session of its own, so killing a process group misses it); none may outlive it. The root
    is stopped first so it cannot start new children while the tree is listed.
    """
    _signal(pid, signal.SIGSTOP)
    victims = [pid, *descendants(pid)]
    for child in victims[1:]:
        _signal(child, signal.SIGSTOP)
    for victim in victims:
        _signal(victim, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Ids of all processes below ``pid`` (children, their children, ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while /proc was read
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
