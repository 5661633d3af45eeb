"""Extraction of archived report versions into the database, safe with several workers at once.

Each version is extracted in its own transaction, so a crash loses at most the version in
hand, and a bad document only marks itself ``failed`` with a readable reason.

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
from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ogi.processes import pid_alive
from pipelines.document import ExtractionError
from pipelines.extract import EXTRACTOR_VERSION, extract_document
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import CheckResult, ExtractedValue, Report, ReportVersion, Source

logger = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
_CLAIM_PREFIX = "claimed by pid "

Progress = Callable[[ReportVersion, str], None]


def extract_pending(
    db: Database, blob_store: BlobStore, *, limit: int | None = None, progress: Progress | None = None
) -> dict[str, int]:
    """Extract pending versions until none is left (or ``limit`` were handled).

    Returns counts by outcome (``done``, ``failed``). ``progress(version, status)`` is
    called after each version.
    """
    if db.dialect == "sqlite":
        _requeue_orphans(db)
    counts: Counter[str] = Counter({DONE: 0, FAILED: 0})
    while limit is None or sum(counts.values()) < limit:
        status = _extract_next(db, blob_store, progress)
        if status is None:
            break
        counts[status] += 1
    return dict(counts)


def requeue(db: Database, *, outdated_only: bool = False) -> int:
    """Mark versions for re-extraction; returns how many are now pending.

    ``outdated_only`` leaves versions already extracted by this ``EXTRACTOR_VERSION``.
    Versions being extracted right now (``running``) are left to their worker.
    """
    with db.session() as session:
        stmt = update(ReportVersion).where(ReportVersion.extraction_status != RUNNING)
        if outdated_only:
            stmt = stmt.where(ReportVersion.extractor_version != EXTRACTOR_VERSION)
        session.execute(stmt.values(extraction_status=PENDING))
        return session.scalar(select(func.count()).where(ReportVersion.extraction_status == PENDING)) or 0


def reextract_all(
    db: Database, blob_store: BlobStore, *, outdated_only: bool = False, progress: Progress | None = None
) -> dict[str, int]:
    """Re-run extraction over the archive (after a parser improvement).

    Every version is re-extracted from its own original bytes, replacing only its own
    values and checks; other versions of the same report are never touched. Versions are
    re-queued first, so an interrupted run is finished by the next ``extract_pending``.
    """
    requeue(db, outdated_only=outdated_only)
    return extract_pending(db, blob_store, progress=progress)


# ---- claiming -------------------------------------------------------------------------------------

def _extract_next(db: Database, blob_store: BlobStore, progress: Progress | None) -> str | None:
    """Claim one pending version, extract it, store the result; its status, or None when none is left."""
    if db.dialect == "postgresql":
        with db.session() as session:
            version = session.scalars(
                select(ReportVersion).where(ReportVersion.extraction_status == PENDING)
                .order_by(ReportVersion.id).limit(1).with_for_update(skip_locked=True)
            ).first()
            if version is None:
                return None
            status = extract_version(session, version, blob_store)
    else:
        version_id = _claim_sqlite(db)
        if version_id is None:
            return None
        with db.session() as session:
            version = session.get(ReportVersion, version_id)
            status = extract_version(session, version, blob_store)
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
            pid = int(claim[len(_CLAIM_PREFIX):]) if claim.startswith(_CLAIM_PREFIX) and claim[len(_CLAIM_PREFIX):].isdigit() else None
            if pid is None or not pid_alive(pid):
                logger.info("version %s was claimed by a process that is gone; re-queued", version_id)
                session.execute(
                    update(ReportVersion).where(ReportVersion.id == version_id, ReportVersion.extraction_status == RUNNING)
                    .values(extraction_status=PENDING, extraction_error="")
                )


# ---- storing one version ----------------------------------------------------------------------------

def extract_version(session: Session, version: ReportVersion, blob_store: BlobStore) -> str:
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
    version.values.clear()
    version.checks.clear()
    version.extractor_version = EXTRACTOR_VERSION
    try:
        record = extract_document(
            data, content_type=version.content_type, filename=version.filename,
            url=version.document_url or version.source_url, region=hints["region"],
            title_hint=hints["title"], published_hint=hints["published_at"],
        )
    except ExtractionError as exc:
        return _fail(version, exc.reason)
    except Exception as exc:  # a bug in a stage must not stop the other versions
        logger.exception("extraction of version %s crashed", version.id)
        return _fail(version, f"internal error in extraction: {type(exc).__name__}: {exc}")
    _store(session, version, record)
    return DONE


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
        "warnings": record["warnings"],
    }
    version.values.extend(
        ExtractedValue(key=key, value=cell["value"], raw=cell.get("raw") or "", unit=cell.get("unit") or "",
                       derived=bool(cell.get("derived")), ocr=bool(cell.get("ocr")))
        for key, cell in record["values"].items()
    )
    version.checks.extend(
        CheckResult(rule=check["rule"], ok=bool(check["ok"]), detail=check.get("detail") or "",
                    cells=list(check.get("cells") or []), expected=check.get("expected"), found=check.get("found"))
        for check in record["checks"]
    )
    version.extraction_status, version.extraction_error = DONE, ""
    _fill_report(version.report, version)


def _fill_report(report: Report, version: ReportVersion) -> None:
    """The report takes the version's metadata where it has none yet (it never loses a value)."""
    for name in ("title", "agency", "region", "report_year", "template"):
        if getattr(report, name) in (None, "") and getattr(version, name) not in (None, ""):
            setattr(report, name, getattr(version, name))
