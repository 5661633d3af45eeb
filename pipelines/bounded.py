"""Extraction of one document at a time in a child process with a time and a memory budget.

Size limits on the input cannot bound the work: a 157 KB PDF can hold 1.5 million text
operators, a 2 MB one a FlateDecode stream that inflates to gigabytes, and a 20 MB HTML table
costs minutes and gigabytes in lxml and trafilatura. Some of that happens inside C libraries
(pdfium aborts the process when an allocation fails), so the only bound that holds for every
loader is a process: the child runs :func:`pipelines.extract.extract_document` under
``RLIMIT_AS`` (its own size when idle plus the memory budget), and the parent waits at most the
time budget, then kills the child with everything it started (tesseract, LibreOffice). Either
way the caller gets an :class:`~pipelines.loaded.ExtractionError` whose reason says which
budget was exceeded, the same shape as a corrupt file.

The child is reused for the next document, so an ordinary document pays one pipe round trip,
not a process start. It is a fresh interpreter (``python -m pipelines.bounded``), not a fork:
the worker's database connections and threads must not be copied into it. It is replaced
after a failure, after :data:`MAX_TASKS` documents, or when its address space has grown past
half the budget (fragmentation must not eat the budget of the next document).
"""
from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from domain.processes import kill_tree
from pipelines.loaded import ExtractionError

logger = logging.getLogger(__name__)

#: Documents one child extracts before it is replaced.
MAX_TASKS = 200
_MIB = 1024 * 1024
#: How long a new child may take to import the pipeline modules.
_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Budget:
    """What one document may cost: wall-clock seconds and MiB of memory above an idle worker.

    The defaults leave room for the slowest legitimate case, a scan OCR'd page by page
    (~3 s a page, up to ``pipelines.pdf.MAX_OCR_PAGES`` pages).
    """

    seconds: float = 180
    memory_mib: int = 1024

    @classmethod
    def from_settings(cls, settings: Any) -> Budget:
        """The budget configured by ``extract_timeout_s`` and ``extract_memory_mib``."""
        return cls(seconds=settings.extract_timeout_s, memory_mib=settings.extract_memory_mib)


class ExtractionBugError(Exception):
    """A bug in an extraction stage, as the child reported it (exception type and message)."""


class BoundedExtractor:
    """Runs ``extract_document`` in a reusable child process within a :class:`Budget`.

    Use as a context manager (the child is ended on exit); :meth:`extract` takes the same
    arguments as ``extract_document`` and returns its record or raises ExtractionError.
    """

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._process: subprocess.Popen | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    def __enter__(self) -> BoundedExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def extract(self, data: bytes, **hints: Any) -> dict[str, Any]:
        """The record of ``data``; ExtractionError with the reason if it is unreadable or over
        budget, ExtractionBugError if a stage has a bug."""
        kind, value = self._ask(data, hints)
        if kind == "retired":  # the child ended by itself (MAX_TASKS, grown) before reading it: a new one reads it
            kind, value = self._ask(data, hints)
        if kind == "ok":
            return value
        if kind == "crash":
            raise ExtractionBugError(value)
        raise ExtractionError(value)

    def _ask(self, data: bytes, hints: dict[str, Any]) -> tuple[str, Any]:
        self._start()
        try:
            self._send.send((data, hints))
            answered = self._recv.poll(self.budget.seconds)
        except OSError:  # the child is gone (BrokenPipeError); _answer says why
            answered = True
        if not answered:
            self._stop()
            raise ExtractionError(f"extraction exceeded {self.budget.seconds:g} s")
        return self._answer()

    def close(self) -> None:
        """End the child: it exits when its pipe closes, and is killed if it does not."""
        if self._process is None:
            return
        self._send.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._stop()

    def _start(self) -> None:
        """A ready child: started (and its modules imported) if there is none or it has exited."""
        if self._process is not None and self._process.poll() is not None:
            self._stop()
        if self._process is not None:
            return
        child_in, parent_out = os.pipe()
        parent_in, child_out = os.pipe()
        cmd = [sys.executable, "-m", "pipelines.bounded", str(child_in), str(child_out), str(self.budget.memory_mib)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._process = subprocess.Popen(cmd, pass_fds=(child_in, child_out), env=env)
        os.close(child_in)
        os.close(child_out)
        self._send = Connection(parent_out, readable=False)
        self._recv = Connection(parent_in, writable=False)
        if not self._recv.poll(_START_TIMEOUT_S) or self._answer()[0] != "ready":
            self._stop()
            raise ExtractionError("the extraction process could not be started")

    def _answer(self) -> tuple[str, Any]:
        """The child's answer, or why there is none (it died: out of memory, or a crash)."""
        try:
            return self._recv.recv()
        except (EOFError, OSError):
            pass
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stop()
        if code == 0:  # it only exits 0 after answering, so it never read the document sent
            return "retired", "extraction process ended before reading the document"
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return "error", f"extraction exceeded {self.budget.memory_mib} MiB or crashed (the process was ended by {name})"
        return "error", f"extraction process ended unexpectedly (exit code {code})"

    def _stop(self) -> None:
        """Kill the child and whatever it started (tesseract, LibreOffice) and forget it."""
        if self._process is None:
            return
        if self._process.poll() is None:
            kill_tree(self._process.pid)
        self._process.wait()
        for conn in (self._send, self._recv):
            conn.close()
        self._process = self._send = self._recv = None


def extract_bounded(data: bytes, *, budget: Budget | None = None, **hints: Any) -> dict[str, Any]:
    """One document's record, extracted within ``budget`` (see :class:`BoundedExtractor`)."""
    with BoundedExtractor(budget) as extractor:
        return extractor.extract(data, **hints)


# ---- the child ------------------------------------------------------------------------------------

def _serve(conn_in: Connection, conn_out: Connection, memory_mib: int) -> None:
    """Extract documents received on ``conn_in`` until it closes or this child should be
    replaced (out of memory, a crash, :data:`MAX_TASKS` done, or grown past half the budget)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from pipelines.extract import extract_document  # format loaders are imported on first use, as in-process

    idle = _address_space()
    _limit_address_space(idle + memory_mib * _MIB)
    conn_out.send(("ready", None))
    for _ in range(MAX_TASKS):
        try:
            data, hints = conn_in.recv()
        except (EOFError, OSError):
            return
        kind, value = _extract(extract_document, data, hints)
        del data
        conn_out.send(("error", f"extraction exceeded {memory_mib} MiB") if kind == "memory" else (kind, value))
        if kind in ("memory", "crash") or _address_space() > idle + memory_mib * _MIB // 2:
            return


def _extract(extract_document: Callable[..., dict[str, Any]], data: bytes, hints: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "ok", extract_document(data, **hints)
    except ExtractionError as exc:
        return "error", exc.reason
    except MemoryError:
        return "memory", None
    except Exception as exc:  # reported to the parent, which records it as an internal error
        logger.exception("extraction crashed")
        return "crash", f"{type(exc).__name__}: {exc}"


def _limit_address_space(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _address_space() -> int:
    """This process's virtual size in bytes (what RLIMIT_AS limits)."""
    with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False), int(sys.argv[3]))
