"""Crawl state in the database: runs, frontier, fetches, documents and reports, written in batches.

Process memory is not enough: a crawl killed with ``kill -9`` must resume, and later several
workers share one PostgreSQL. But a database round trip per response would halve the crawl
rate, so every write is queued and flushed every ``flush_rows`` rows or ``flush_interval``
seconds in ONE transaction. Queue order is kept, so a page is never marked done in the
database without the requests and reports it produced.

The batches are written by one background thread, in the order they were flushed, so the
Twisted reactor keeps fetching while the database works (SQLite and psycopg release the GIL
while they wait). The same thread first writes what the batch's rows point at (WARC records
and blobs, as ``archive`` callables: zlib and file writes release the GIL too), so a row is
never committed before its bytes are on disk. If a batch fails, no later batch is written
(it could mark done a page whose requests were lost); :meth:`CrawlState.flush` and
:meth:`CrawlState.finish` wait for the writer and raise its error.

Resume: a new crawl of the same source finds the previous run still marked ``running``
whose process is gone, marks it ``interrupted``, copies its frontier and schedules the
pending part; what was done is not fetched again, and :func:`record_report` dedupes bytes.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from domain.processes import pid_alive
from storage.db import Database, chunks, url_key
from storage.models import Blob, CrawlRun, Document, Fetch, FrontierEntry, Report, ReportUrl, ReportVersion, Source, utcnow
from storage.runs import RunCounts
from storage.versions import ReportCandidate, mark_gone, record_reports, touch_report, withdraw_unseen

logger = logging.getLogger(__name__)

STALE_HEARTBEAT = timedelta(minutes=10)
ERROR_OUTCOMES = frozenset({"error", "blocked"})


@dataclass(frozen=True)
class HostedReport:
    """An attachment report as last found on its page: what a page answering 304 still links to."""

    document_url: str
    title: str
    published_at: str | None


@dataclass(frozen=True)
class KnownReport:
    """A current report of the source, to re-request when the crawl did not meet it."""

    url: str
    title: str
    source_url: str
    attachment: bool
    etag: str
    last_modified: str


@dataclass
class RunInfo:
    """One CrawlRun as the spider sees it: where it may go and what is left from a killed run."""

    run_id: int
    source_id: int | None
    name: str
    start_urls: list[str]
    allowed_domains: list[str]
    region: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    resumed_from: int | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # frontier rows to schedule again
    done_keys: set[str] = field(default_factory=set)  # url keys not to fetch again
    validators: dict[str, tuple[str, str]] = field(default_factory=dict)  # url key -> (etag, last-modified)
    hosted: dict[str, list[HostedReport]] = field(default_factory=dict)  # page url key -> its attachment reports
    nav_keys: set[str] = field(default_factory=set)  # navigation pages that answered 2xx before


def _insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class CrawlState:
    """The database side of one crawl process (one or several runs, one per source)."""

    def __init__(self, db: Database, *, kind: str = "manual", flush_rows: int = 500, flush_interval: float = 0.5) -> None:
        self.db = db
        self.kind = kind
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.runs: dict[int, RunInfo] = {}
        self.counts: dict[int, RunCounts] = {}
        self.notes: dict[int, dict[str, Any]] = {}  # per run: more for CrawlRun.stats (rechecked reports, unrecorded pages)
        self._queue: list[tuple[str, Any]] = []
        self._last_flush = time.monotonic()
        self.started_at = utcnow()
        self._counts_lock = threading.Lock()  # counts move on the reactor thread and in the writer
        self._batches: queue.Queue[list[tuple[str, Any]] | None] = queue.Queue(maxsize=8)
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        # The first failure to write the archive's files (a full disk): the run fails with it, no
        # report is recorded after it (its bytes or its WARC record may be missing) and
        # crawler.services stops the crawl.
        self.storage_error = ""

    @property
    def default_run_id(self) -> int:
        """The first run opened: the one a request without a run (robots.txt) is recorded in."""
        return next(iter(self.runs), 0)

    # -- runs ---------------------------------------------------------------------------

    def open_run(self, source: Source | None, start_urls: list[str], allowed_domains: list[str]) -> RunInfo:
        """Create the CrawlRun (resuming an interrupted one of the same source/URLs if any)."""
        with self.db.session() as session:
            previous = self._interrupted_run(session, source, start_urls)
            run = CrawlRun(
                source_id=source.id if source else None, kind=self.kind, status="running", pid=os.getpid(),
                heartbeat_at=utcnow(), stats={"start_urls": sorted(start_urls)},
            )
            session.add(run)
            session.flush()
            info = RunInfo(
                run.id, run.source_id, source.name if source else ",".join(start_urls), list(start_urls),
                list(allowed_domains), source.region if source else "", dict(source.overrides or {}) if source else {},
            )
            if previous is not None:
                self._resume(session, info, previous)
                run.stats = {**run.stats, "resumed_from": previous.id}
            if self.kind == "incremental":
                info.hosted = self._hosted(session, info.source_id)
                info.validators = self._validators(session, info.source_id, pages=list(info.hosted))
            if info.source_id is not None:
                info.nav_keys = set(session.scalars(sa.select(Document.url_key).where(
                    Document.source_id == info.source_id, Document.kind.in_(("home", "hub", "listing")),
                    Document.last_status.between(200, 299))))
        self.runs[info.run_id] = info
        self.counts[info.run_id] = RunCounts()
        self.notes[info.run_id] = {}
        return info

    def _interrupted_run(self, session: Session, source: Source | None, start_urls: list[str]) -> CrawlRun | None:
        """The latest run of the same crawl that died: mark dead 'running' runs interrupted."""
        query = sa.select(CrawlRun).where(CrawlRun.status.in_(("running", "interrupted")))
        query = query.where(CrawlRun.source_id == source.id) if source else query.where(CrawlRun.source_id.is_(None))
        candidates = []
        for run in session.execute(query.order_by(CrawlRun.id.desc())).scalars():
            if source is None and (run.stats or {}).get("start_urls") != sorted(start_urls):
                continue
            if run.status == "running":
                stale = run.heartbeat_at is None or utcnow() - run.heartbeat_at > STALE_HEARTBEAT
                if pid_alive(run.pid) and not stale:
                    continue
                run.status, run.finished_at = "interrupted", utcnow()
                run.message = (run.message + " " if run.message else "") + f"process {run.pid} gone; marked interrupted"
                logger.warning("run %s (pid %s) died while running: marked interrupted", run.id, run.pid)
            if not (run.stats or {}).get("resumed_by"):
                candidates.append(run)
        return candidates[0] if candidates else None

    def _resume(self, session: Session, info: RunInfo, previous: CrawlRun) -> None:
        """Copy the previous run's frontier; pending rows are rescheduled, the rest skipped."""
        table = FrontierEntry.__table__
        rows = session.execute(
            sa.select(table.c.url, table.c.url_key, table.c.depth, table.c.kind, table.c.state, table.c.meta)
            .where(table.c.run_id == previous.id)
        ).mappings().all()
        now = utcnow()
        copies = [{**row, "run_id": info.run_id, "updated_at": now} for row in rows]
        for start in range(0, len(copies), 1000):
            session.execute(sa.insert(table), copies[start:start + 1000])
        info.pending = [dict(r) for r in rows if r["state"] == "pending"]
        info.done_keys = {r["url_key"] for r in rows if r["state"] != "pending"}
        info.resumed_from = previous.id
        previous.stats = {**(previous.stats or {}), "resumed_by": info.run_id}
        logger.info("resuming run %s: %d pending, %d done", previous.id, len(info.pending), len(info.done_keys))

    def _hosted(self, session: Session, source_id: int | None) -> dict[str, list[HostedReport]]:
        """The current attachment reports of the source, by the url key of the page they were found on."""
        newest = (sa.select(ReportVersion.published_at).where(ReportVersion.report_id == Report.id)
                  .order_by(ReportVersion.version.desc()).limit(1).scalar_subquery())
        query = sa.select(Report.source_url, Report.document_url, Report.title, newest).where(
            Report.document_url.is_not(None), Report.status == "current")
        if source_id is not None:
            query = query.where(Report.source_id == source_id)
        hosted: dict[str, list[HostedReport]] = {}
        for page, document_url, title, published_at in session.execute(query):
            hosted.setdefault(url_key(page), []).append(HostedReport(document_url, title, published_at))
        return hosted

    def _validators(self, session: Session, source_id: int | None, pages: list[str]) -> dict[str, tuple[str, str]]:
        """HTTP validators for conditional re-requests: of documents that are known reports, and
        of the pages (url keys) that host attachment reports. Why: an unchanged page answers 304
        and its reports are requested from what was found on it last time (``RunInfo.hosted``),
        so a night re-reads only listings and what changed."""
        columns = (Document.url_key, Document.etag, Document.last_modified)
        has_validator = sa.or_(Document.etag != "", Document.last_modified != "")
        reports = sa.select(*columns).join(ReportUrl, ReportUrl.url_key == Document.url_key).where(has_validator)
        if source_id is not None:
            reports = reports.where(Document.source_id == source_id)
        found = {key: (etag, lm) for key, etag, lm in session.execute(reports)}
        for chunk in chunks(pages):
            hosts = sa.select(*columns).where(has_validator, Document.url_key.in_(chunk))
            found.update((key, (etag, lm)) for key, etag, lm in session.execute(hosts))
        return found

    def known_reports(self, run_id: int) -> list[KnownReport]:
        """The source's current reports with their validators: what the crawl re-requests
        (conditionally) when it did not meet them, so a removed one answers 404/410 and is
        withdrawn however the rest of the crawl went."""
        info = self.runs[run_id]
        if info.source_id is None:
            return []
        query = (sa.select(Report.url, Report.title, Report.source_url, Report.document_url)
                 .where(Report.source_id == info.source_id, Report.status == "current").order_by(Report.id))
        with self.db.session() as session:
            reports = session.execute(query).all()
            validators: dict[str, tuple[str, str]] = {}
            for chunk in chunks([url_key(r.url) for r in reports]):
                rows = session.execute(sa.select(Document.url_key, Document.etag, Document.last_modified)
                                       .where(Document.url_key.in_(chunk)))
                validators.update((key, (etag or "", lm or "")) for key, etag, lm in rows)
        return [KnownReport(r.url, r.title, r.source_url, r.document_url is not None, *validators.get(url_key(r.url), ("", "")))
                for r in reports]

    # -- queued writes --------------------------------------------------------------------

    def frontier_add(self, run_id: int, url: str, key: str, depth: int, kind: str, meta: dict[str, Any]) -> None:
        self._push("frontier", {"run_id": run_id, "url": url, "url_key": key, "depth": depth, "kind": kind,
                                "state": "pending", "meta": meta, "updated_at": utcnow()})

    def frontier_state(self, run_id: int, key: str, state: str) -> None:
        self._push("frontier_state", {"b_run": run_id, "b_key": key, "b_state": state, "b_at": utcnow()})

    def fetch(self, run_id: int | None, row: dict[str, Any], document: dict[str, Any] | None,
              archive: Callable[[], dict[str, Any]] | None = None) -> None:
        """Queue one Fetch row (and the Document it updates, if a response came back).

        ``archive`` writes the exchange to the WARC files in the writer thread, just before the
        row, and returns the row's ``warc_file``/``warc_offset``.
        """
        counts = self.counts.get(run_id) if run_id else None
        if counts is not None:
            with self._counts_lock:
                self._count(counts, row)
        self._push("fetch", (run_id, row, document, archive))

    def report(self, run_id: int, source_id: int | None, candidate: ReportCandidate, size: int,
               archive: Callable[[], object] | None = None) -> None:
        """Queue one report; ``archive`` (run in the writer thread before its rows) stores its bytes."""
        self._push("report", (run_id, source_id, candidate, size, archive))

    def skipped(self, run_id: int, why: str, count: int = 1) -> None:
        self.counts[run_id].skipped[why] += count

    def nav_failed(self, run_id: int, key: str) -> None:
        """A navigation page failed; if it used to work, this run cannot prove any report gone.

        Pages that never worked (a column behind a wall since day one) say nothing new.
        """
        if key in self.runs[run_id].nav_keys:
            self.counts[run_id].listing_errors += 1

    def blocked_host(self, run_id: int | None, host: str, reason: str) -> None:
        if run_id in self.counts:
            self.counts[run_id].blocked.setdefault(host, reason)

    @staticmethod
    def _count(counts: RunCounts, row: dict[str, Any]) -> None:
        counts.outcomes[row["outcome"]] += 1
        if row.get("status") is not None:
            counts.pages += 1
            counts.bytes_downloaded += row.get("size", 0)
        if row["outcome"] == "not_modified":
            counts.not_modified += 1
        if row["outcome"] in ERROR_OUTCOMES:
            counts.errors += 1
            counts.errors_by_kind[row["error_kind"] or row["outcome"]] += 1

    def _push(self, kind: str, payload: Any) -> None:
        self._queue.append((kind, payload))
        if len(self._queue) >= self.flush_rows:
            self._submit()

    def maybe_flush(self) -> None:
        """The reactor's periodic call: hand what is queued to the writer, without waiting for it."""
        if self._queue and time.monotonic() - self._last_flush >= self.flush_interval:
            self._submit()

    def _submit(self) -> None:
        """Hand everything queued to the writer thread (one transaction, in queue order by kind of row)."""
        batch, self._queue = self._queue, []
        self._last_flush = time.monotonic()
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_batches, name="ogi-db-writer", daemon=True)
            self._writer.start()
        self._batches.put(batch)  # blocks only when the writer is 8 batches behind

    def flush(self) -> None:
        """Write everything queued; return when it is committed, or raise the error that stopped the writer."""
        self._submit()
        self._batches.join()
        if self._writer_error is not None:
            raise RuntimeError(f"writing the crawl state failed: {self._writer_error}") from self._writer_error

    @property
    def write_failure(self) -> str:
        """Why the crawl can no longer be recorded (the files or the database cannot be written), or ""."""
        if self.storage_error:
            return f"the archive's files could not be written: {self.storage_error}"
        return f"the database could not be written: {self._writer_error}" if self._writer_error is not None else ""

    def _stop_writer(self) -> None:
        if self._writer is not None:
            self._batches.put(None)
            self._writer.join()
            self._writer = None

    def _write_batches(self) -> None:
        while (batch := self._batches.get()) is not None:
            try:
                if self._writer_error is None:  # a later batch must not be written without the one that failed
                    with self.db.session() as session:
                        if batch:
                            self._write(session, batch)
                        self._heartbeat(session)
            except BaseException as exc:  # raised by flush(); logged now so a long crawl shows it at once
                logger.exception("writing a batch of %d crawl rows failed; nothing more is written", len(batch))
                self._writer_error = exc
            finally:
                self._batches.task_done()
        self._batches.task_done()

    def _write(self, session: Session, queue: list[tuple[str, Any]]) -> None:
        frontier = [p for k, p in queue if k == "frontier"]
        fetches = [p[:3] for k, p in queue if k == "fetch" and self._archive_fetch(*p)]
        reports = [p[:4] for k, p in queue if k == "report" and self._archive_report(*p)]
        states = [p for k, p in queue if k == "frontier_state"]
        if frontier:
            unique = {(r["run_id"], r["url_key"]): r for r in frontier}
            stmt = _insert(self.db.dialect, FrontierEntry.__table__).on_conflict_do_nothing(index_elements=["run_id", "url_key"])
            session.execute(stmt, list(unique.values()))
        if fetches:
            self._write_fetches(session, fetches)
        if reports:
            self._write_reports(session, reports)
        if states:
            t = FrontierEntry.__table__
            stmt = (sa.update(t).where(t.c.run_id == sa.bindparam("b_run"), t.c.url_key == sa.bindparam("b_key"))
                    .values(state=sa.bindparam("b_state"), updated_at=sa.bindparam("b_at")))
            session.connection().execute(stmt, states)

    def _archive_fetch(self, run_id: int | None, row: dict[str, Any], document: Any,
                       archive: Callable[[], dict[str, Any]] | None) -> bool:
        """Write the exchange to the WARC files; a failure leaves the row without a record, not lost."""
        if archive is not None:
            try:
                row.update(archive())
            except Exception as exc:
                logger.exception("could not write %s to the WARC files", row["url"])
                self._storage_failed(exc)
        return True

    def _archive_report(self, run_id: int, source_id: int | None, candidate: ReportCandidate, size: int,
                        archive: Callable[[], object] | None) -> bool:
        """Store the report's bytes; without them the report is not recorded (counted as failed)."""
        if archive is None:
            return True
        try:
            if self.storage_error:
                raise OSError(f"not recorded after a storage failure: {self.storage_error}")
            archive()
        except Exception as exc:
            logger.exception("could not store the bytes of report %s", candidate.url)
            self._storage_failed(exc)
            self._record_failed(run_id, exc)
            return False
        return True

    def _storage_failed(self, exc: BaseException) -> None:
        if isinstance(exc, OSError) and not self.storage_error:
            self.storage_error = str(exc)

    def _record_failed(self, run_id: int, exc: BaseException) -> None:
        with self._counts_lock:
            counts = self.counts[run_id]
            counts.errors += 1
            counts.errors_by_kind["record_failed"] += 1
            counts.outcomes[f"record_failed: {exc}"[:200]] += 1

    def _write_fetches(self, session: Session, fetches: list[tuple[int | None, dict[str, Any], dict[str, Any] | None]]) -> None:
        docs = [d for _, _, d in fetches if d]
        ids: dict[str, int] = {}
        if docs:
            ids = self._upsert_documents(session, docs)
        rows = []
        for run_id, row, doc in fetches:
            rows.append({**row, "run_id": run_id, "document_id": ids.get(doc["url_key"]) if doc else None})
        session.execute(sa.insert(Fetch.__table__), rows)
        for run_id, row, _doc in fetches:
            if row["outcome"] == "not_modified":
                if touch_report(session, row["url"], run_id, row["fetched_at"]) is not None:
                    self._add_count(run_id, "reports_unchanged")
            elif row.get("status") in (404, 410) and mark_gone(session, row["url"], run_id, row["status"]):
                self._add_count(run_id, "reports_withdrawn")

    def _add_count(self, run_id: int | None, name: str) -> None:
        """One more of a count the writer thread finds (the reactor thread reads the counts too)."""
        if run_id in self.counts:
            with self._counts_lock:
                counts = self.counts[run_id]
                setattr(counts, name, getattr(counts, name) + 1)

    def _upsert_documents(self, session: Session, docs: list[dict[str, Any]]) -> dict[str, int]:
        table = Document.__table__
        full = {d["url_key"]: d for d in docs if d["last_status"] != 304}
        touch = {d["url_key"]: d for d in docs if d["last_status"] == 304 and d["url_key"] not in full}
        if full:
            stmt = _insert(self.db.dialect, table)
            keep = ("content_type", "etag", "last_modified", "sha256", "last_status", "last_seen", "kind")
            stmt = stmt.on_conflict_do_update(index_elements=["url_key"], set_={c: stmt.excluded[c] for c in keep})
            session.execute(stmt, [{**d, "first_seen": d["last_seen"]} for d in full.values()])
        if touch:
            stmt = _insert(self.db.dialect, table)
            stmt = stmt.on_conflict_do_update(index_elements=["url_key"], set_={"last_seen": stmt.excluded.last_seen,
                                                                              "last_status": stmt.excluded.last_status})
            session.execute(stmt, [{**d, "first_seen": d["last_seen"]} for d in touch.values()])
        keys = list({**full, **touch})
        found: dict[str, int] = {}
        for chunk in chunks(keys):
            rows = session.execute(sa.select(table.c.id, table.c.url_key).where(table.c.url_key.in_(chunk)))
            found.update({k: i for i, k in rows})
        return found

    def _write_reports(self, session: Session, reports: list[tuple[int, int | None, ReportCandidate, int]]) -> None:
        blobs: dict[str, dict[str, Any]] = {}  # the first report with these bytes names the blob
        for _, _, c, size in reports:
            blobs.setdefault(c.sha256, {"sha256": c.sha256, "size": size, "content_type": c.content_type,
                                        "filename": c.filename, "created_at": utcnow()})
        stmt = _insert(self.db.dialect, Blob.__table__).on_conflict_do_nothing(index_elements=["sha256"])
        session.execute(stmt, list(blobs.values()))
        outcomes = record_reports(session, [(c, run_id, source_id) for run_id, source_id, c, _ in reports])
        for (run_id, _, candidate, _), outcome in zip(reports, outcomes, strict=True):
            if isinstance(outcome, Exception):  # one bad record must not lose the batch
                logger.error("could not record report %s", candidate.url, exc_info=outcome)
                self._record_failed(run_id, outcome)
                continue
            self._add_count(run_id, f"reports_{outcome}")

    def _heartbeat(self, session: Session) -> None:
        now = utcnow()
        for run_id, c in self.counts.items():
            session.execute(sa.update(CrawlRun).where(CrawlRun.id == run_id).values(heartbeat_at=now, **c.columns()))

    # -- end --------------------------------------------------------------------------------

    def finish(self, reason: str = "finished") -> None:
        """Flush, close every run as Scrapy's close ``reason`` says and, after a complete crawl,
        withdraw unseen reports.

        A run is complete only if Scrapy finished normally AND no home, hub or listing page
        failed: a report missing from a listing page that could not be read is not gone.
        """
        status, complete = close_status(reason)
        try:
            self.flush()
        finally:
            self._stop_writer()
        with self.db.session() as session:
            for run_id, info in self.runs.items():
                c = self.counts[run_id]
                if complete and not self.storage_error and not c.listing_errors and info.source_id is not None:
                    c.reports_withdrawn += withdraw_unseen(session, info.source_id, run_id, self.started_at)
                run = session.get(CrawlRun, run_id)
                run.status, run.finished_at = ("failed" if self.storage_error else status), utcnow()
                run.message = "" if reason == "finished" else f"closed: {reason}"
                if self.storage_error:
                    run.message = f"the archive's files could not be written: {self.storage_error}"
                run.stats = {**(run.stats or {}), **c.stats(), **self.notes.get(run_id, {})}
            self._heartbeat(session)


def close_status(reason: str) -> tuple[str, bool]:
    """A run's status after Scrapy closed the spider with ``reason``, and whether the crawl saw everything.

    Only a ``finished`` crawl is complete (it may withdraw the reports it did not see); a
    page limit (``closespider_*``) finishes the runs without proving anything gone.
    """
    if reason == "finished":
        return "finished", True
    if reason.startswith("closespider"):
        return "finished", False
    if reason == "shutdown":
        return "interrupted", False
    return "failed", False
