"""Extraction of archived versions into the database, on SQLite and PostgreSQL, with several workers."""
from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ogi.cli import main
from pipelines.extract import EXTRACTOR_VERSION
from pipelines.worker import extract_pending, reextract_all
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import CheckResult, ExtractedValue, ReportVersion, Source
from storage.versions import ReportCandidate, record_report

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
SEED_000 = (CORPUS / "seeds" / "000_754b2c1a6681c1c1.txt").read_bytes()
SEED_002 = (CORPUS / "seeds" / "002_ff5e69430f7bf06e.txt").read_bytes()
HONGZE_2023 = (CORPUS / "real" / "reports" / "huaian_hongze_district_2023.pdf").read_bytes()
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _record(db: Database, blobs: BlobStore, data: bytes, url: str, *, title: str = "", filename: str = "",
            content_type: str = "", source_id: int | None = None, when: datetime = T0) -> int:
    """A version recorded the way the crawler records it; returns its id."""
    sha = blobs.put(data)
    with db.session() as session:
        candidate = ReportCandidate(url=url, source_url=url, document_url=url if filename else None, title=title,
                                    sha256=sha, content_type=content_type, filename=filename, fetched_at=when)
        _, version, _ = record_report(session, candidate, source_id=source_id)
        return version.id


def test_pending_versions_are_extracted_and_stored(db: Database, blobs: BlobStore) -> None:
    with db.session() as session:
        source = Source(name="寿县", province="安徽省", city="淮南市")
        session.add(source)
        session.flush()
        source_id = source.id
    txt = _record(db, blobs, SEED_000, "http://www.shouxian.gov.cn/zx2020.txt", title="年度报告", source_id=source_id)
    pdf = _record(db, blobs, HONGZE_2023, "http://www.hongze.gov.cn/hz2023.pdf",
                  title="洪泽区人民政府2023年政府信息公开工作年度报告", filename="hz2023.pdf", content_type="application/pdf")
    seen: list[tuple[int, str]] = []
    counts = extract_pending(db, blobs, progress=lambda version, status: seen.append((version.id, status)))
    assert counts == {"done": 2, "failed": 0}
    assert seen == [(txt, "done"), (pdf, "done")]
    with db.session() as session:
        v = session.get(ReportVersion, txt)
        assert (v.extraction_status, v.extraction_error, v.extractor_version) == ("done", "", EXTRACTOR_VERSION)
        assert (v.title, v.agency, v.report_year, v.template, v.published_at) == (
            "众兴镇2020年度政府信息公开工作年度报告", "众兴镇人民政府", 2020, "2019", "2021-01-18")
        assert v.region == "安徽省/淮南市/寿县", "the source's region, refined from the text"
        assert set(v.sections) == {"overview", "active", "applications", "appeals", "problems", "other"}
        assert v.text.startswith("众兴镇2020年度") and v.meta["format"] == "txt" and v.ocr is False
        values = {row.key: row for row in v.values}
        assert values["active.procurement.amount"].raw == "发包价561342.67元"
        assert values["active.procurement.amount"].value == pytest.approx(561342.67)
        assert values["applications.new.total"].value == 0
        assert values["appeals.review.total"].value == 0
        assert v.checks and all(check.ok for check in v.checks if check.ok is not None)  # None: cross-year rule not checked
        report = v.report
        assert (report.agency, report.report_year, report.template, report.region) == (
            "众兴镇人民政府", 2020, "2019", "安徽省/淮南市/寿县")
        p = session.get(ReportVersion, pdf)
        assert (p.agency, p.report_year, p.template, p.meta["format"]) == ("淮安市洪泽区人民政府", 2023, "2021", "pdf")
        assert session.scalar(select(ExtractedValue.id).where(ExtractedValue.version_id == pdf).limit(1))
        assert session.scalar(select(CheckResult.id).where(CheckResult.version_id == pdf).limit(1))
    assert extract_pending(db, blobs) == {"done": 0, "failed": 0}, "nothing is extracted twice"


def test_bad_input_is_recorded_not_raised(db: Database, blobs: BlobStore) -> None:
    corrupt = _record(db, blobs, b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", "http://a.gov.cn/x.pdf",
                      filename="x.pdf", content_type="application/pdf")
    missing = _record(db, blobs, b"will be deleted", "http://a.gov.cn/y.txt")
    good = _record(db, blobs, SEED_002, "http://a.gov.cn/z.txt")
    with db.session() as session:
        blobs.path_for(session.get(ReportVersion, missing).sha256).unlink()
    assert extract_pending(db, blobs) == {"done": 1, "failed": 2}
    with db.session() as session:
        bad = session.get(ReportVersion, corrupt)
        assert bad.extraction_status == "failed" and "pdf" in bad.extraction_error.lower()
        assert bad.extractor_version == EXTRACTOR_VERSION
        gone = session.get(ReportVersion, missing)
        assert gone.extraction_status == "failed" and "missing" in gone.extraction_error
        assert gone.extractor_version == "", "nothing was extracted from bytes we do not have"
        assert session.get(ReportVersion, good).agency == "长春市双阳区太平镇人民政府"


def test_reextract_keeps_old_results_when_the_bytes_are_gone(db: Database, blobs: BlobStore) -> None:
    v = _record(db, blobs, SEED_002, "http://a.gov.cn/z.txt")
    extract_pending(db, blobs)
    with db.session() as session:
        version = session.get(ReportVersion, v)
        version.extractor_version = "0.0.old"
        count = len(version.values)
        blobs.path_for(version.sha256).unlink()
    assert reextract_all(db, blobs) == {"done": 0, "failed": 1}
    with db.session() as session:
        version = session.get(ReportVersion, v)
        assert (version.extraction_status, version.extractor_version, len(version.values)) == ("failed", "0.0.old", count)


def test_limit_stops_early(db: Database, blobs: BlobStore) -> None:
    for n in range(3):
        _record(db, blobs, SEED_002 + f"\n{n}".encode(), f"http://a.gov.cn/{n}.txt")
    assert extract_pending(db, blobs, limit=2) == {"done": 2, "failed": 0}
    assert extract_pending(db, blobs) == {"done": 1, "failed": 0}


def test_reextract_replaces_only_each_versions_own_results(db: Database, blobs: BlobStore) -> None:
    """Two versions of one report (different bytes): re-extraction rebuilds each from its own bytes."""
    url = "http://www.shouxian.gov.cn/zx2020.txt"
    v1 = _record(db, blobs, SEED_000, url)
    revised = SEED_000.replace("累计发布各类信息1280条".encode(), "累计发布各类信息1300条".encode()).replace(
        b"\t19\n", b"\t20\n")
    v2 = _record(db, blobs, revised, url, when=T0 + timedelta(days=3))
    extract_pending(db, blobs)
    with db.session() as session:
        old = session.get(ReportVersion, v1)
        old.extractor_version = "0.0.old"
        old.values[0].value = 999.0  # what an older, buggier parser might have stored
        count_v2 = len(session.get(ReportVersion, v2).values)
    counts = reextract_all(db, blobs)
    assert counts == {"done": 2, "failed": 0}
    with db.session() as session:
        first, second = session.get(ReportVersion, v1), session.get(ReportVersion, v2)
        assert first.extractor_version == second.extractor_version == EXTRACTOR_VERSION
        assert 999.0 not in [row.value for row in first.values]
        assert "1280条" in first.text and "1300条" in second.text
        by_key = {r.key: r.value for r in first.values}, {r.key: r.value for r in second.values}
        assert by_key[0]["active.procurement.projects"] == 19 and by_key[1]["active.procurement.projects"] == 20
        assert len(second.values) == count_v2
        orphans = session.scalars(select(ExtractedValue).where(ExtractedValue.version_id.not_in([v1, v2]))).all()
        assert orphans == []


def test_ogi_reextract_outdated_only(db: Database, db_url: str, blobs: BlobStore, tmp_path: Path) -> None:
    """``ogi reextract --outdated-only`` is the worker's reextract_all: only older extractors' versions run again."""
    a = _record(db, blobs, SEED_000, "http://a.gov.cn/a.txt")
    b = _record(db, blobs, SEED_002, "http://a.gov.cn/b.txt")
    extract_pending(db, blobs)
    with db.session() as session:
        session.get(ReportVersion, a).extractor_version = "0.0.old"
        session.get(ReportVersion, b).agency = "untouched"
    args = ["--data-dir", str(tmp_path / "data"), "reextract", "--outdated-only", "--db", db_url]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"re-extracted 1 versions with extractor {EXTRACTOR_VERSION}: 1 done, 0 failed" in result.output
    with db.session() as session:
        assert session.get(ReportVersion, a).extractor_version == EXTRACTOR_VERSION
        assert session.get(ReportVersion, b).agency == "untouched"


def test_report_fields_are_filled_only_when_empty(db: Database, blobs: BlobStore) -> None:
    v = _record(db, blobs, SEED_000, "http://a.gov.cn/a.txt")
    with db.session() as session:
        report = session.get(ReportVersion, v).report
        report.agency = "寿县众兴镇人民政府（人工核对）"
    extract_pending(db, blobs)
    with db.session() as session:
        report = session.get(ReportVersion, v).report
        assert report.agency == "寿县众兴镇人民政府（人工核对）"
        assert report.report_year == 2020 and report.template == "2019"


def _worker(db_url: str, blob_root: str, queue: multiprocessing.Queue) -> None:
    db = Database(db_url, migrate=False)
    handled: list[int] = []
    extract_pending(db, BlobStore(blob_root), progress=lambda version, status: handled.append(version.id))
    db.dispose()
    queue.put(handled)


def test_several_workers_share_the_queue(db: Database, blobs: BlobStore, db_url: str) -> None:
    """Three processes at once: every pending version is extracted exactly once."""
    ids = [_record(db, blobs, SEED_000 + f"\n附{n}".encode(), f"http://a.gov.cn/{n}.txt") for n in range(12)]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(db_url, str(blobs.root), queue)) for _ in range(3)]
    for w in workers:
        w.start()
    handled = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    flat = sorted(i for part in handled for i in part)
    assert flat == sorted(ids), "each version handled once, none skipped"
    with db.session() as session:
        statuses = session.scalars(select(ReportVersion.extraction_status)).all()
        assert set(statuses) == {"done"}
        per_version = session.scalars(select(ExtractedValue.version_id)).all()
        assert {v: per_version.count(v) for v in ids} == {v: per_version.count(ids[0]) for v in ids}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_claims_of_dead_workers_are_requeued(db: Database, blobs: BlobStore) -> None:
    dead = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,))
    dead.start()
    dead.join()
    orphan = _record(db, blobs, SEED_000, "http://a.gov.cn/a.txt")
    busy = _record(db, blobs, SEED_002, "http://a.gov.cn/b.txt")
    with db.session() as session:
        for vid, pid in ((orphan, dead.pid), (busy, os.getppid())):
            version = session.get(ReportVersion, vid)
            version.extraction_status, version.extraction_error = "running", f"claimed by pid {pid}"
    assert extract_pending(db, blobs) == {"done": 1, "failed": 0}
    with db.session() as session:
        assert session.get(ReportVersion, orphan).extraction_status == "done"
        assert session.get(ReportVersion, busy).extraction_status == "running", "a live worker keeps its claim"
