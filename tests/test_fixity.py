"""Fixity audits (``ogi verify``) on a real archive: blobs, versions and WARC records re-read.

The archive is written with the project's own stores (BlobStore, WarcStore, record_report);
then bytes are damaged the ways disks and people damage them, and the audit must name each
problem by digest or file@offset, exit non-zero, and record what it found.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ogi.cli import main
from storage.blobs import BlobStore
from storage.db import Database
from storage.fixity import audit
from storage.models import Blob, Fetch, FixityAudit
from storage.versions import ReportCandidate, record_report
from storage.warc import WarcStore

BODIES = [f"<html><body>{year}年政府信息公开工作年度报告</body></html>".encode() for year in (2021, 2022, 2023)]


@pytest.fixture
def archive(db: Database, tmp_path: Path) -> tuple[Database, Path, list[str]]:
    """Three reports, each with its blob, its Blob row, a version and a WARC exchange."""
    data = tmp_path / "data"
    blobs, warcs = BlobStore(data / "blobs"), WarcStore(data / "warc")
    digests = []
    with db.session() as s:
        for i, body in enumerate(BODIES):
            url = f"http://gov.test/ndbg/{i}.html"
            sha = blobs.put(body)
            s.add(Blob(sha256=sha, size=len(body), content_type="text/html"))
            name, offset = warcs.write_exchange(url, "GET", [("User-Agent", "t")], 200, [("Content-Type", "text/html")], body)
            s.add(Fetch(url=url, status=200, sha256=sha, size=len(body), warc_file=name, warc_offset=offset, outcome="ok"))
            record_report(s, ReportCandidate(url=url, source_url=url, document_url=None, title=f"报告{i}", sha256=sha))
            digests.append(sha)
    warcs.close()
    return db, data, digests


def _verify(db: Database, data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), "verify", "--db", db.url, *args])
    return result.exit_code, result.output


def test_an_intact_archive_passes_and_the_audit_is_recorded(archive: tuple[Database, Path, list[str]]) -> None:
    db, data, _ = archive
    code, out = _verify(db, data)
    assert code == 0, out
    assert "intact" in out and "3 blobs, 3 versions, 7 WARC records in 1 files"  # warcinfo + 3 x (response, request) in out
    with db.session() as s:
        row = s.scalars(select(FixityAudit)).one()
        assert row.ok and row.counts == {"blobs": 3, "versions": 3, "warc_files": 1, "warc_records": 7} and row.problems == []


def test_a_changed_or_missing_blob_is_named_by_its_digest(archive: tuple[Database, Path, list[str]]) -> None:
    db, data, digests = archive
    store = BlobStore(data / "blobs")
    damaged = store.path_for(digests[0])
    damaged.write_bytes(damaged.read_bytes().replace(b"2021", b"2012"))  # bit rot: same size, other bytes
    store.path_for(digests[1]).unlink()
    code, out = _verify(db, data, "--json")
    assert code == 1
    found = {(p["kind"], p["what"]) for p in json.loads(out)["problems"]}
    assert ("blob_digest", digests[0]) in found
    assert ("blob_missing", digests[1]) in found
    assert any(kind == "version_without_blob" for kind, _ in found)
    assert all(digests[2] not in what for _, what in found)


def test_a_warc_record_whose_digest_does_not_match_is_named_by_file_and_offset(archive: tuple[Database, Path, list[str]]) -> None:
    db, data, _ = archive
    bad = data / "warc" / "ogi-tampered.warc.gz"
    with bad.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        record = writer.create_warc_record("http://gov.test/x.html", "response", payload=io.BytesIO(b"original bytes"),
                                           length=14, http_headers=http)
        record.rec_headers.replace_header("WARC-Payload-Digest", "sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        writer.write_record(record)
    code, out = _verify(db, data)
    assert code == 1
    assert "warc_digest: ogi-tampered.warc.gz@0" in out and "payload" in out.lower()


def test_a_truncated_warc_file_and_a_lost_one_are_reported(archive: tuple[Database, Path, list[str]]) -> None:
    db, data, _ = archive
    (warc,) = (data / "warc").glob("*.warc.gz")
    warc.write_bytes(warc.read_bytes()[:-40])
    code, out = _verify(db, data)
    assert code == 1 and f"warc_unreadable: {warc.name}" in out
    warc.unlink()
    code, out = _verify(db, data)
    assert code == 1 and f"warc_missing: {warc.name}" in out


def test_samples_rotate_over_the_archive(archive: tuple[Database, Path, list[str]]) -> None:
    db, data, digests = archive
    seen = []
    for _ in range(3):
        with db.session() as s:
            result = audit(s, data, sample=1)
        assert result.ok and result.blobs == 1
        seen.append(result.cursor["blob"])
    assert sorted(seen) == sorted(digests), "three samples of one cover the three blobs"


def test_a_missing_archive_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--db", f"sqlite:///{tmp_path / 'nothing.sqlite3'}"])
    assert result.exit_code != 0 and "no archive" in result.output and not (tmp_path / "nothing.sqlite3").exists()


def test_audits_show_in_ogi_runs_and_the_admin_api(archive: tuple[Database, Path, list[str]]) -> None:
    from fastapi.testclient import TestClient

    from domain.config import Settings
    from web.app import create_app

    db, data, digests = archive
    _verify(db, data)
    BlobStore(data / "blobs").path_for(digests[2]).unlink()
    _verify(db, data)
    runs = CliRunner().invoke(main, ["runs", "--db", db.url])
    assert runs.exit_code == 0 and "Fixity audits" in runs.output
    assert "intact" in runs.output and "problem(s)" in runs.output
    settings = Settings(database_url=db.url, data_dir=str(data), admin_token="t0ken")
    with TestClient(create_app(settings, db)) as client:
        assert client.get("/api/admin/fixity").status_code in (401, 403)
        audits = client.get("/api/admin/fixity", headers={"Authorization": "Bearer t0ken"}).json()["audits"]
    assert [a["ok"] for a in audits] == [False, True]
    assert {"kind": "blob_missing", "what": digests[2]} in [{k: p[k] for k in ("kind", "what")} for p in audits[0]["problems"]]


def test_the_scheduler_audits_a_rotating_sample_every_month(archive: tuple[Database, Path, list[str]]) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import scheduler as sched
    from domain.config import Settings

    db, data, _ = archive
    settings = Settings(database_url=db.url, data_dir=str(data), fixity_sample=2)
    sh = ZoneInfo("Asia/Shanghai")
    assert sched.run_once(settings, datetime(2027, 3, 14, 12, tzinfo=sh), sched.Runner(settings, db)) == []
    (outcome,) = sched.run_once(settings, datetime(2027, 3, 15, 4, 30, tzinfo=sh), sched.Runner(settings, db))
    assert outcome == {"job": "fixity:monthly", "ok": True, "blobs": 2, "warc_records": 7, "problems": 0}
    assert sched.run_once(settings, datetime(2027, 3, 15, 5, tzinfo=sh), sched.Runner(settings, db)) == [], "once a month"
    with db.session() as s:
        assert [a.sample for a in s.scalars(select(FixityAudit))] == [2]
