"""Crawl runs: what they counted (:class:`RunCounts`), and which are really running.

A ``running`` row whose process is gone was interrupted: a crawl killed with ``kill -9``
cannot mark its own run; ``ogi runs`` and the scheduler's overlap guard read the row
together with its ``pid`` instead. Only meaningful on the machine that started the run
(pids are per machine), which is how the scheduler runs crawls.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.processes import pid_alive
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


@dataclass
class RunCounts:
    """What a crawl run counted, named as the :class:`CrawlRun` columns that store it.

    One shape for the live counts of a crawl, its summary (the sum over its runs) and the
    row, so a number has the same name on the terminal, in ``ogi crawl --json``, in
    ``ogi runs`` and in SQL. The counts after ``errors`` have no column; they go to
    ``CrawlRun.stats``.
    """

    pages: int = 0
    bytes_downloaded: int = 0
    reports_new: int = 0
    reports_changed: int = 0
    reports_unchanged: int = 0  # same bytes again, or a known report answering 304
    reports_withdrawn: int = 0
    errors: int = 0
    not_modified: int = 0  # requests answered 304 (pages and reports)
    listing_errors: int = 0  # home/hub/listing pages that failed: the run cannot prove a report gone
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    blocked: dict[str, str] = field(default_factory=dict)  # host -> reason
    browser: dict[str, str] = field(default_factory=dict)  # host -> the wall a browser got past (crawler.browser)
    skipped: Counter[str] = field(default_factory=Counter)  # trap | offsite | robots | blocked_host | links_over_cap ...

    def columns(self) -> dict[str, int]:
        """The counts that are :class:`CrawlRun` columns, by column name."""
        return {name: getattr(self, name) for name in COUNT_COLUMNS}

    def stats(self) -> dict[str, Any]:
        """The counts kept in ``CrawlRun.stats``."""
        return {"errors_by_kind": dict(self.errors_by_kind), "outcomes": dict(self.outcomes),
                "blocked": dict(self.blocked), "browser": dict(self.browser), "skipped": dict(self.skipped),
                "not_modified": self.not_modified, "listing_errors": self.listing_errors}

    def as_dict(self) -> dict[str, Any]:
        """Every field, Counters as plain dicts (``dataclasses.asdict`` would count their items)."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), dict) else v for f in fields(self)}

    def add(self, other: RunCounts) -> None:
        """Add ``other``'s counts to these (a crawl's summary over its runs)."""
        for f in fields(RunCounts):
            mine = getattr(self, f.name)
            if isinstance(mine, dict):  # Counters add up, blocked hosts merge
                mine.update(getattr(other, f.name))
            else:
                setattr(self, f.name, mine + getattr(other, f.name))


COUNT_COLUMNS = ("pages", "bytes_downloaded", "reports_new", "reports_changed", "reports_unchanged",
                 "reports_withdrawn", "errors")

