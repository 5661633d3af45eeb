"""Fixity audits: are the bytes the archive holds still exactly the bytes it fetched?

Disks rot, copies get truncated, someone "cleans up" a data directory. An archive that cannot
say whether its holdings are intact is not one (LOCKSS and the Internet Archive audit as a
routine), so :func:`audit` re-reads what is stored and recomputes every digest:

* every blob file hashes to its name (SHA-256), with the size of its ``blobs`` row;
* every report version points at a blob that is recorded and on disk;
* every WARC record's ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` match its bytes
  (warcio's own digest checker, the one ``warcio check`` uses), every WARC file is readable to
  its end, and every fetch row's WARC file exists.

A full audit of a large archive takes hours, so ``sample`` checks that many blobs and WARC
files, continuing where the previous audit stopped (``cursor``): a monthly sample rotates over
the whole archive. ``since`` limits the audit to what was written after a date. Problems name
the blob by its digest or the WARC record by file and offset; nothing is repaired here.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from warcio.archiveiterator import ArchiveIterator

from storage.blobs import BlobStore
from storage.db import chunks
from storage.models import Blob, Fetch, FixityAudit, ReportVersion, utcnow

CHUNK = 1 << 20


@dataclass
class Problem:
    """One thing that is not as recorded: ``kind``, what it concerns (a digest, a file@offset), why."""

    kind: str
    what: str
    detail: str


@dataclass
class FixityResult:
    """What an audit checked and found; ``cursor`` is where the next sampled audit continues."""

    blobs: int = 0
    versions: int = 0
    warc_files: int = 0
    warc_records: int = 0
    problems: list[Problem] = field(default_factory=list)
    cursor: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (blobs may be tens of megabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _rotating(items: list[str], after: str, sample: int | None) -> list[str]:
    """``sample`` items of sorted ``items`` starting after ``after``, wrapping around; all if no sample."""
    if sample is None or sample >= len(items):
        return items
    start = next((i for i, item in enumerate(items) if item > after), 0)
    return (items[start:] + items[:start])[:sample]


def _check_blob(store: BlobStore, blob: Blob) -> Problem | None:
    path = store.path_for(blob.sha256)
    if not path.is_file():
        return Problem("blob_missing", blob.sha256, f"no file at {path}")
    size = path.stat().st_size
    if size != blob.size:
        return Problem("blob_size", blob.sha256, f"{path} has {size} bytes, the archive recorded {blob.size}")
    actual = file_sha256(path)
    if actual != blob.sha256:
        return Problem("blob_digest", blob.sha256, f"{path} hashes to {actual}")
    return None


def _audit_blobs(session: Session, store: BlobStore, result: FixityResult, *, sample: int | None,
                 since: datetime | None, after: str) -> None:
    query = select(Blob.sha256).order_by(Blob.sha256)
    if since is not None:
        query = query.where(Blob.created_at >= since)
    chosen = _rotating(list(session.scalars(query)), after, sample)
    for part in chunks(chosen):  # the chosen rows in a few queries, not one query per blob
        for blob in session.scalars(select(Blob).where(Blob.sha256.in_(part)).order_by(Blob.sha256)):
            result.blobs += 1
            if (problem := _check_blob(store, blob)) is not None:
                result.problems.append(problem)
    if chosen:
        result.cursor["blob"] = chosen[-1]


def _audit_versions(session: Session, store: BlobStore, result: FixityResult, since: datetime | None) -> None:
    """Every version's bytes must be recorded and on disk (checked by existence: hashing is the blobs' part)."""
    query = select(ReportVersion.id, ReportVersion.report_id, ReportVersion.version, ReportVersion.sha256,
                   Blob.sha256.label("known")).outerjoin(Blob, Blob.sha256 == ReportVersion.sha256)
    if since is not None:
        query = query.where(ReportVersion.fetched_at >= since)
    for row in session.execute(query.order_by(ReportVersion.id)):
        result.versions += 1
        what = f"report {row.report_id} version {row.version}"
        if row.known is None:
            result.problems.append(Problem("version_without_blob", what, f"blob {row.sha256} is not recorded"))
        elif not store.path_for(row.sha256).is_file():
            result.problems.append(Problem("version_without_blob", what, f"blob {row.sha256} is not on disk"))


def warc_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(offset, record) of each record of a WARC file, with digests checked as the record is read."""
    with path.open("rb") as fh:
        records = ArchiveIterator(fh, check_digests=True)
        for record in records:
            # Reading to the end is what runs the digest checker: the bytes as stored, a chunk at a
            # time (content_stream() would inflate a gzip Content-Encoding whole: a stored bomb).
            while record.raw_stream.read(CHUNK):
                pass
            yield records.get_record_offset(), record


def gzip_damage(path: Path) -> str:
    """Why a gzipped file is damaged ('' if intact): gzip checks each member's CRC-32 and length,
    which warcio's reader does not, so a truncated or corrupted tail is only found this way."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _check_warc(path: Path, result: FixityResult) -> None:
    result.warc_files += 1
    if path.suffix == ".gz" and (damage := gzip_damage(path)):
        result.problems.append(Problem("warc_unreadable", path.name, damage))
        return
    try:
        for offset, record in warc_records(path):
            result.warc_records += 1
            if record.digest_checker.passed is False:
                detail = "; ".join(str(p) for p in record.digest_checker.problems)
                result.problems.append(Problem("warc_digest", f"{path.name}@{offset}", detail))
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt file is a finding, not a crash
        result.problems.append(Problem("warc_unreadable", path.name, f"{type(exc).__name__}: {exc}"))


def _audit_warcs(session: Session, warc_dir: Path, result: FixityResult, *, sample: int | None,
                 since: datetime | None, after: str) -> None:
    names = sorted(p.name for p in warc_dir.glob("*.warc*")) if warc_dir.is_dir() else []
    if since is not None:
        names = [n for n in names if datetime.fromtimestamp((warc_dir / n).stat().st_mtime, since.tzinfo) >= since]
    chosen = _rotating(names, after, sample)
    for name in chosen:
        _check_warc(warc_dir / name, result)
    if chosen:
        result.cursor["warc"] = chosen[-1]
    referenced = session.scalars(select(Fetch.warc_file).where(Fetch.warc_file != "").distinct())
    for name in referenced:
        if not (warc_dir / name).is_file():
            result.problems.append(Problem("warc_missing", name, f"fetches point at {warc_dir / name}, which does not exist"))


def audit(session: Session, data_dir: str | os.PathLike[str], *, sample: int | None = None,
          since: datetime | None = None) -> FixityResult:
    """Audit the archive whose files are under ``data_dir``; record and return the result.

    With ``sample``, that many blobs and WARC files are checked, after those of the last audit.
    """
    root = Path(data_dir)
    last = session.scalars(select(FixityAudit).order_by(FixityAudit.id.desc()).limit(1)).first()
    after = dict(last.cursor or {}) if last is not None and sample is not None else {}
    started, result = utcnow(), FixityResult()
    store = BlobStore(root / "blobs")
    _audit_blobs(session, store, result, sample=sample, since=since, after=after.get("blob", ""))
    _audit_versions(session, store, result, since)
    _audit_warcs(session, root / "warc", result, sample=sample, since=since, after=after.get("warc", ""))
    session.add(FixityAudit(started_at=started, finished_at=utcnow(), sample=sample, since=since, ok=result.ok,
                            counts={"blobs": result.blobs, "versions": result.versions, "warc_files": result.warc_files,
                                    "warc_records": result.warc_records},
                            problems=[asdict(p) for p in result.problems[:1000]], cursor=result.cursor))
    return result
