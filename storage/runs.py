"""Which crawl runs are really running: a ``running`` row whose process is gone was interrupted.

A crawl killed with ``kill -9`` cannot mark its own run; ``ogi runs`` and the scheduler's
overlap guard read the row together with its ``pid`` instead. Only meaningful on the
machine that started the run (pids are per machine), which is how the scheduler runs crawls.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ogi.processes import pid_alive
from storage.models import CrawlRun


def effective_status(run: CrawlRun) -> str:
    """The run's status, with ``running`` rows whose process is dead shown as ``interrupted``."""
    if run.status == "running" and not pid_alive(run.pid):
        return "interrupted"
    return run.status


def live_runs(session: Session, source_id: int | None) -> list[CrawlRun]:
    """Runs of one source that are running now (status ``running`` and a live process)."""
    rows = session.scalars(select(CrawlRun).where(CrawlRun.source_id == source_id, CrawlRun.status == "running"))
    return [run for run in rows if pid_alive(run.pid)]
