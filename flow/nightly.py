"""The nightly in batches: many due sources per crawl process, one after-crawl flow per batch.

A polite crawl of a small portal is mostly waiting (one request per second per host), so one
crawl process per source leaves the machine idle. Scrapy is built for breadth (one download
slot per host), so the nightly gives each ``ogi crawl`` process a batch of sources
(``Settings.nightly_batch_size``); each source keeps its own ``CrawlRun``, resume and
withdrawal, and its own politeness and budget (``crawler.run``). After a batch the
after-crawl flow runs once for all its runs, so a subscriber gets one digest per night.

Sources whose ``crawl_settings`` hold settings that only make sense for a whole process
(anything outside :data:`crawler.run.PER_HOST_SETTINGS`) get batches of their own, grouped by
those settings; the rest share batches whatever their per-host settings.

Used by ``scheduler.py`` (in-process, on one machine) and by the queue's crawl task
(``flow.jobs``), so both run a batch the same way.
"""
from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from crawler.run import PER_HOST_SETTINGS, source_crawl_settings
from domain.config import Settings
from flow.after_crawl import after_crawl
from pipelines.bounded import Budget
from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import CrawlRun, Source, utcnow

logger = logging.getLogger(__name__)

DB_WAIT_S, DB_RETRY_S = 120.0, 1.0  # how long a batch waits for its database to come back, and how often it tries


@dataclass(frozen=True)
class Batch:
    """Sources crawled together in one process, with the process-wide ``-s`` settings they share."""

    kind: str
    sources: tuple[str, ...]
    process_settings: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON for a queue job's arguments."""
        return {"kind": self.kind, "sources": list(self.sources), "process_settings": [list(p) for p in self.process_settings]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        return cls(data["kind"], tuple(data["sources"]), tuple((k, v) for k, v in data.get("process_settings", ())))


def plan_batches(db: Database, due: Iterable[tuple[str, str]], size: int) -> list[Batch]:
    """Batches of at most ``size`` sources for the due ``(source, kind)`` pairs, in their order.

    Sources are grouped by kind and by their process-wide crawl settings.
    """
    due = list(dict.fromkeys(due))
    with db.session() as session:
        rows = session.scalars(select(Source).where(Source.name.in_({name for name, _ in due}))).all()
        extra = {row.name: source_crawl_settings(row.overrides) for row in rows}
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for name, kind in due:
        process = tuple(sorted((k, str(v)) for k, v in extra.get(name, {}).items() if k not in PER_HOST_SETTINGS))
        groups.setdefault((kind, process), []).append(name)
    size = max(1, size)
    return [Batch(kind, tuple(names[i:i + size]), process)
            for (kind, process), names in groups.items() for i in range(0, len(names), size)]


def crawl_command(settings: Settings, batch: Batch) -> list[str]:
    """``ogi crawl --source A --source B … --kind K --no-extract``: extraction runs after the batch, once."""
    sources = [arg for name in batch.sources for arg in ("--source", name)]
    extra = [arg for name, value in batch.process_settings for arg in ("-s", f"{name}={value}")]
    return [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir,
            "crawl", *sources, "--kind", batch.kind, "--db", settings.db_url, "--no-extract", "--json", "--no-progress",
            *extra]


@dataclass
class BatchResult:
    """A batch's crawl process and the run each source got."""

    batch: Batch
    returncode: int
    log: str
    run_ids: dict[str, int] = field(default_factory=dict)  # source -> CrawlRun id
    after_crawl: dict[str, Any] = field(default_factory=dict)

    def outcomes(self) -> list[dict[str, Any]]:
        """One outcome per source, as ``scheduler.py --once`` prints them."""
        return [{"source": name, "kind": self.batch.kind, "run_id": run_id, "returncode": self.returncode,
                 "log": self.log, "batch_size": len(self.batch.sources), **self.after_crawl}
                for name, run_id in self.run_ids.items()]


def run_batch(settings: Settings, db: Database, batch: Batch, *,
              command: Callable[[Settings, Batch], list[str]] = crawl_command,
              started_process: Callable[[subprocess.Popen[bytes]], None] | None = None,
              stopping: threading.Event | None = None, flow: bool = True) -> BatchResult:
    """Crawl the batch in one subprocess, settle each source's run, then run the after-crawl flow once.

    With ``flow=False`` the caller runs the flow (the queue makes it a job of its own).

    ``started_process`` is told the child (so a scheduler can stop it); when ``stopping`` is
    set by the time the crawl ends, the runs are marked interrupted and the flow is left to the
    next start.
    """
    stopping = stopping or threading.Event()
    started = utcnow()
    name = batch.sources[0] + (f"+{len(batch.sources) - 1}" if len(batch.sources) > 1 else "")
    log_path = Path(settings.data_dir) / "logs" / f"crawl-{name}-{batch.kind}-{started:%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logger.info("starting %s crawl of %d source(s) (log: %s)", batch.kind, len(batch.sources), log_path)
    with extracting_beside(settings, db, stopping) if flow else nullcontext({}) as extracted:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command(settings, batch), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            if started_process is not None:
                started_process(proc)
            returncode = proc.wait()
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        result = BatchResult(batch, returncode, str(log_path))
        interrupted = stopping.is_set() or returncode < 0
        for name in batch.sources:
            result.run_ids[name] = _when_reachable(
                lambda name=name: settle_run(db, name, batch.kind, proc.pid, started, returncode, tail, interrupted=interrupted))
    if flow and not stopping.is_set():
        result.after_crawl = after_crawl(db, settings, list(result.run_ids.values()), extracted=extracted).as_dict()
    return result


@contextmanager
def extracting_beside(settings: Settings, db: Database, stopping: threading.Event) -> Iterator[dict[str, int]]:
    """Extraction threads for the block (a batch's crawl): they extract what the crawl records as it runs.

    A polite crawl mostly waits, so extraction fits beside it and the batch ends soon after its
    crawl, not an extraction's length later. Each of the ``Settings.extract_workers`` threads
    (0: none, the after-crawl flow extracts everything) drives its own bounded extraction process
    (the CPU work is there); versions are claimed as ``extract_pending`` always does, so they,
    other workers and the flow's extract step never read one twice. On leaving the block the
    threads extract what is left and end; the yielded dict then holds their counts. ``stopping``
    ends them after the version in hand.
    """
    crawl_over = threading.Event()
    results: list[dict[str, int]] = []
    budget = Budget.from_settings(settings)

    def extract() -> None:
        try:
            results.append(extract_pending(db, BlobStore(settings.blob_dir), budget=budget,
                                           crawling=lambda: not crawl_over.is_set(), stop=stopping))
        except Exception:  # e.g. the database went away: the after-crawl flow extracts what is left
            logger.exception("extraction beside the crawl stopped")

    threads = [threading.Thread(target=extract, name=f"extract-{i}", daemon=True)
               for i in range(settings.extract_workers)]
    for thread in threads:
        thread.start()
    totals: dict[str, int] = {}
    try:
        yield totals
    finally:
        crawl_over.set()
        for thread in threads:
            thread.join()
        for counts in results:
            for outcome, n in counts.items():
                totals[outcome] = totals.get(outcome, 0) + n


def _when_reachable(write: Callable[[], int], wait_s: float = DB_WAIT_S) -> int:
    """``write()``, waiting up to ``wait_s`` for the database to come back: a database restart
    during a crawl must not lose the run's outcome (the crawl's own reason is in its log tail)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return write()
        except OperationalError as exc:
            if time.monotonic() > deadline:
                raise
            logger.warning("the database is unreachable (%s); retrying in %g s", str(exc).splitlines()[0], DB_RETRY_S)
            time.sleep(DB_RETRY_S)


def settle_run(db: Database, source: str, kind: str, pid: int, started: datetime, returncode: int, tail: str,
               *, interrupted: bool = False) -> int:
    """The source's CrawlRun of the crawl process, marked finished/failed/interrupted; created if the crawl made none."""
    with db.session() as session:
        src = session.scalars(select(Source).where(Source.name == source)).first()
        query = select(CrawlRun).where(CrawlRun.started_at >= started - timedelta(seconds=5))
        if src is not None:
            query = query.where(CrawlRun.source_id == src.id)
        runs = session.scalars(query.order_by(CrawlRun.id)).all()
        run = next((r for r in runs if r.pid == pid), runs[-1] if runs else None)
        if run is None:
            run = CrawlRun(source_id=src.id if src else None, kind=kind, status="failed", started_at=started,
                           finished_at=utcnow(),
                           pid=pid, message=f"crawl exited with {returncode} before recording a run: {tail[-500:]}")
            session.add(run)
        elif run.status == "running":
            run.status = "interrupted" if interrupted else ("finished" if returncode == 0 else "failed")
            run.finished_at = run.finished_at or utcnow()
            if returncode != 0:
                reason = crawl_reason(tail)
                run.message = ((run.message + "\n" if run.message else "") + f"exit status {returncode}"
                               + (f": {reason}" if reason else ""))
        run.stats = {**(run.stats or {}), "scheduler": {"returncode": returncode, "kind": kind}}
        session.flush()
        return run.id


def crawl_reason(tail: str) -> str:
    """Why the crawl ended, from its JSON summary (``ogi crawl --json``) at the end of its log; "" if none.

    A crawl that could not close its runs (the database went away) can only say why there.
    """
    found = re.findall(r'"reason": ("(?:[^"\\]|\\.)*")', tail)
    reason = json.loads(found[-1]) if found else ""
    return "" if reason == "finished" else reason
