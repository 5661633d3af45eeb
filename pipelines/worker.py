"""Extraction of archived report versions into the database, safe with several workers at once.

Each version is extracted in its own transaction, so a crash loses at most the version in
hand, and a bad document only marks itself ``failed`` with a readable reason. Extraction runs
in a child process within a time and memory budget (:mod:`pipelines.bounded`), so a
decompression bomb or a pathological table fails its own version, not the worker.

Claiming work differs by back end:

* **PostgreSQL**: ``SELECT … FOR UPDATE SKIP LOCKED`` picks a pending row no other worker
  holds; the row lock lasts for the extraction and its write, and a killed worker's lock
  simply vanishes with its connection, leaving the row pending.
* **SQLite** locks the whole file for any write, so holding a transaction across an
  extraction (seconds for OCR) would block the crawler. A worker claims a row instead by
  moving it from ``pending`` to ``running`` in a short transaction, with its process id in
  ``extraction_error``; rows claimed by a process that no longer exists are put back to
  ``pending`` on the next call (an SQLite file is only ever shared by processes of one host).
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from domain.config import load_settings
from domain.processes import pid_alive
from pipelines import cross_year, provenance
from pipelines.bounded import BoundedExtractor, Budget, ExtractionBugError
from pipelines.extract import EXTRACTOR_VERSION
from pipelines.loaded import ExtractionError
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import CheckResult, ExtractedValue, Report, ReportVersion, Source

logger = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
_CLAIM_PREFIX = "claimed by pid "
POLL_S = 1.0  # how often extraction beside a crawl looks for versions it recorded

Progress = Callable[[ReportVersion, str], None]


def extract_pending(
    db: Database, blob_store: BlobStore, *, limit: int | None = None, progress: Progress | None = None,
    budget: Budget | None = None, crawling: Callable[[], bool] | None = None, stop: threading.Event | None = None,
) -> dict[str, int]:
    """Extract pending versions until none is left (or ``limit`` were handled).

    Returns counts by outcome (``done``, ``failed``). ``progress(version, status)`` is
    called after each version. ``budget`` bounds each document (default: the configured
    ``extract_timeout_s`` / ``extract_memory_mib``).

    Beside a crawl (the nightly extracts what a crawl records while it runs, so extraction is
    not on the crawl's path): while ``crawling()`` is true, an empty queue means "wait for
    more" (polled every :data:`POLL_S`) instead of "done". ``stop`` set ends it after the
    version in hand (a scheduler shutting down).
    """
    if db.dialect == "sqlite":
        _requeue_orphans(db)
    counts: Counter[str] = Counter({DONE: 0, FAILED: 0})
    stop = stop or threading.Event()
    with BoundedExtractor(budget or Budget.from_settings(load_settings())) as extractor:
        while (limit is None or sum(counts.values()) < limit) and not stop.is_set():
            more = crawling is not None and crawling()  # asked before claiming: what the crawl recorded last is claimed after
            status = _extract_next(db, blob_store, extractor, progress)
            if status is None:
                if not more:
                    break
                stop.wait(POLL_S)
                continue
            counts[status] += 1
    return dict(counts)


def requeue(db: Database, *, outdated_only: bool = False) -> int:
    """Mark versions for re-extraction; returns how many are now pending.

    ``outdated_only`` leaves versions whose every component (``provenance``: the extraction
    code, pdfium, tesseract and its model, LibreOffice ...) is still the one that read them.
    Versions being extracted right now (``running``) are left to their worker.
    """
    with db.session() as session:
        stmt = update(ReportVersion).where(ReportVersion.extraction_status != RUNNING)
        if outdated_only:
            rows = session.execute(select(ReportVersion.id, ReportVersion.extractor_version, ReportVersion.provenance)
                                   .where(ReportVersion.extraction_status != RUNNING))
            ids = [vid for vid, code, used in rows if code != EXTRACTOR_VERSION or provenance.outdated(used)]
            for start in range(0, len(ids), 1000):
                session.execute(stmt.where(ReportVersion.id.in_(ids[start:start + 1000])).values(extraction_status=PENDING))
        else:
            session.execute(stmt.values(extraction_status=PENDING))
        return session.scalar(select(func.count()).where(ReportVersion.extraction_status == PENDING)) or 0


def reextract_all(
    db: Database, blob_store: BlobStore, *, outdated_only: bool = False, progress: Progress | None = None,
    budget: Budget | None = None, queued: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Re-run extraction over the archive (after a parser improvement): ``ogi reextract``.

    Every version is re-extracted from its own original bytes, replacing only its own
    values and checks; other versions of the same report are never touched. Versions are
    re-queued first, so an interrupted run is finished by the next ``extract_pending``;
    ``queued`` is told how many before the first is extracted (a progress bar's total).
    """
    total = requeue(db, outdated_only=outdated_only)
    if queued:
        queued(total)
    return extract_pending(db, blob_store, progress=progress, budget=budget)


# ---- claiming -------------------------------------------------------------------------------------

def _extract_next(db: Database, blob_store: BlobStore, extractor: BoundedExtractor, progress: Progress | None) -> str | None:
    """Claim one pending version, extract it, store the result; its status, or None when none is left."""
    if db.dialect == "postgresql":
        with db.session() as session:
            version = session.scalars(
                select(ReportVersion).where(ReportVersion.extraction_status == PENDING)
                .order_by(ReportVersion.id).limit(1).with_for_update(skip_locked=True)
            ).first()
            if version is None:
                return None
            status = extract_version(session, version, blob_store, extractor)
    else:
        version_id = _claim_sqlite(db)
        if version_id is None:
            return None
        with db.session() as session:
            version = session.get(ReportVersion, version_id)
            status = extract_version(session, version, blob_store, extractor)
    if progress:
        progress(version, status)
    return status


def _claim_sqlite(db: Database) -> int | None:
    """Move the first pending version to ``running`` under this process's id."""
    with db.session() as session:
        ids = session.scalars(
            select(ReportVersion.id).where(ReportVersion.extraction_status == PENDING).order_by(ReportVersion.id).limit(20)
        ).all()
        for version_id in ids:
            claimed = session.execute(
                update(ReportVersion)
                .where(ReportVersion.id == version_id, ReportVersion.extraction_status == PENDING)
                .values(extraction_status=RUNNING, extraction_error=f"{_CLAIM_PREFIX}{os.getpid()}")
            ).rowcount
            if claimed:
                return version_id
    return None


def _requeue_orphans(db: Database) -> None:
    """Put ``running`` rows of dead processes back to ``pending`` (SQLite only; see module docstring)."""
    with db.session() as session:
        rows = session.execute(
            select(ReportVersion.id, ReportVersion.extraction_error).where(ReportVersion.extraction_status == RUNNING)
        ).all()
        for version_id, claim in rows:
            owner = claim.removeprefix(_CLAIM_PREFIX) if claim.startswith(_CLAIM_PREFIX) else ""
            pid = int(owner) if owner.isdigit() else None
            if pid is None or not pid_alive(pid):
                logger.info("version %s was claimed by a process that is gone; re-queued", version_id)
                session.execute(
                    update(ReportVersion).where(ReportVersion.id == version_id, ReportVersion.extraction_status == RUNNING)
                    .values(extraction_status=PENDING, extraction_error="")
                )


# ---- storing one version ----------------------------------------------------------------------------

def extract_version(session: Session, version: ReportVersion, blob_store: BlobStore, extractor: BoundedExtractor) -> str:
    """Extract ``version`` from its blob and store the record on it; returns ``done`` or ``failed``.

    Failures are recorded, never raised: an unreadable document or a bug in a stage (logged
    with its traceback) ends as ``failed`` with the reason and no values, stamped with this
    extractor version. A missing blob also fails the version but keeps what an earlier
    extraction made of those bytes: without the bytes there is nothing better to offer.
    """
    hints = _hints(session, version)
    try:
        data = blob_store.get(version.sha256)
    except FileNotFoundError:
        return _fail(version, f"original bytes missing from the blob store (sha256 {version.sha256})")
    version.extractor_version = EXTRACTOR_VERSION
    version.provenance = {"ogi-archive": EXTRACTOR_VERSION}  # a failure names the code that failed
    record = _read(extractor, version, data, hints)
    _clear_results(session, version)  # after reading: on SQLite a write holds the file's lock until commit
    if isinstance(record, str):
        return _fail(version, record)
    _store(session, version, record)
    return DONE


def _read(extractor: BoundedExtractor, version: ReportVersion, data: bytes, hints: dict[str, Any]) -> dict[str, Any] | str:
    """The record of the version's bytes, or why there is none."""
    try:
        return extractor.extract(
            data, content_type=version.content_type, filename=version.filename,
            url=version.document_url or version.source_url, region=hints["region"],
            title_hint=hints["title"], published_hint=hints["published_at"],
        )
    except ExtractionError as exc:
        return exc.reason
    except ExtractionBugError as exc:  # a bug in a stage must not stop the other versions
        logger.error("extraction of version %s crashed: %s", version.id, exc)
        return f"internal error in extraction: {exc}"


def _fail(version: ReportVersion, reason: str) -> str:
    version.extraction_status, version.extraction_error = FAILED, reason
    logger.warning("version %s not extracted: %s", version.id, reason)
    return FAILED


def _hints(session: Session, version: ReportVersion) -> dict[str, Any]:
    """What the crawler knew before extraction (title, date, configured region).

    Kept in ``meta["hints"]`` on first extraction, because extraction overwrites the
    version's own fields and a re-extraction must start from the crawler's view again.
    """
    if "hints" in (version.meta or {}):
        return version.meta["hints"]
    report = version.report
    region = version.region or report.region
    if not region and report.source_id:
        source = session.get(Source, report.source_id)
        region = source.region if source else ""
    hints = {"title": version.title, "published_at": version.published_at, "region": region}
    version.meta = {**(version.meta or {}), "hints": hints}
    return hints


def _store(session: Session, version: ReportVersion, record: dict[str, Any]) -> None:
    """Copy a record onto the version (and fill the report's empty fields)."""
    version.title = record["title"] or version.title
    version.agency = record["agency"] or ""
    version.region = record["region"] or ""
    version.report_year = record["report_year"]
    version.template = record["template"] or ""
    version.published_at = record["published_at"]
    version.text = record["text"]
    version.sections = record["sections"]
    version.ocr = bool(record["ocr"])
    version.meta = {
        **(version.meta or {}),
        "format": record["format"],
        "ocr_confidence": record["ocr_confidence"],
        # per value read from a scan: the review flag says "check these", this says which first
        "cell_confidence": {k: c["confidence"] for k, c in record["cells"].items() if c.get("confidence") is not None},
        "warnings": record["warnings"],
    }
    version.provenance = {**record["provenance"], **provenance.fetched(version.meta)}
    version.extraction_status, version.extraction_error = DONE, ""
    _fill_report(version.report, version)
    _insert(session, ExtractedValue, version, [
        {"key": key, "value": cell["value"], "raw": cell.get("raw") or "", "unit": cell.get("unit") or "",
         "derived": bool(cell.get("derived")), "ocr": bool(cell.get("ocr"))} for key, cell in record["cells"].items()])
    values = {key: cell["value"] for key, cell in record["cells"].items()}
    checks = [{**check, "ok": bool(check["ok"])} for check in record["checks"]]
    _insert(session, CheckResult, version, [
        {"rule": check["rule"], "ok": check["ok"], "detail": check.get("detail") or "", "cells": list(check.get("cells") or []),
         "expected": check.get("expected"), "found": check.get("found")}
        for check in [*checks, *cross_year.check_around(session, version, values)]])


def _clear_results(session: Session, version: ReportVersion) -> None:
    """Delete the version's values and checks.

    Values and checks are written with plain INSERT/DELETE statements, not as ORM objects: a
    report has about 200 of them, and the ORM's unit of work cost more per version than
    reading the document did (bench/results/nightly_scale.txt).
    """
    for model in (ExtractedValue, CheckResult):
        session.execute(delete(model).where(model.version_id == version.id), execution_options={"synchronize_session": False})
    session.expire(version, ["values", "checks"])


def _insert(session: Session, model: type[ExtractedValue | CheckResult], version: ReportVersion,
            rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT of the version's values or checks, in their order."""
    if rows:
        session.execute(insert(model.__table__), [{"version_id": version.id, **row} for row in rows])  # Core: no ORM bookkeeping


def _fill_report(report: Report, version: ReportVersion) -> None:
    """The report takes the version's metadata where it has none yet (it never loses a value)."""
    for name in ("title", "agency", "region", "report_year", "template"):
        if getattr(report, name) in (None, "") and getattr(version, name) not in (None, ""):
            setattr(report, name, getattr(version, name))
