"""End to end: `ogi crawl` on the simulated portal (TRS + Hanweb + a blocked host) -> database -> WARC.

The crawler has never seen these sites: every report in the portal's manifest must be
found with the archived bytes the portal served, nothing else may become a report, traps
and robots-disallowed paths are not walked, blocked and broken answers are recorded with
readable reasons, and the WARC files validate. Each crawl runs in a subprocess because
Twisted's reactor runs once per process.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from portal_simulator import PortalServer, TrapOptions, build_site
from warcio.archiveiterator import ArchiveIterator

from storage.blobs import BlobStore, sha256_hex
from storage.db import Database
from storage.models import CrawlRun, Fetch, FrontierEntry, Report, ReportVersion

FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "-s", "LOG_LEVEL=WARNING", "-s", "OGI_MAX_DOWNLOAD_MB=1", "-s", "DOWNLOAD_TIMEOUT=1", "-s", "RETRY_TIMES=1"]


@pytest.fixture
def portal():
    """A fresh portal per test: its flaky page fails only on the first request it ever gets."""
    site = build_site(options=TrapOptions(big_file_mb=1.5, slow_seconds=4))
    with PortalServer(site) as server:
        yield site, server


def crawl(urls, db_url: str, data_dir: Path, *extra: str, wait: bool = True, env: dict | None = None):
    cmd = [sys.executable, "-m", "ogi", "crawl", *urls, "--db", db_url, "--json", "--no-extract", *FAST, *extra]
    env = {**os.environ, "OGI_DATA_DIR": str(data_dir), **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_crawl_finds_every_report_and_nothing_else(portal, db_url, tmp_path):
    site, server = portal
    truth = site.manifest()
    server.log.clear()
    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"sources": [{
        "name": "qingyuan", "title": "清源县人民政府", "province": "浙江省", "city": "杭州市", "county": "清源县",
        "start_urls": list(server.base_urls.values()),
        "allowed_domains": sorted({u.split("/")[2].split(":")[0] for u in server.base_urls.values()}),
    }]}, allow_unicode=True), encoding="utf-8")
    summary = crawl([], db_url, tmp_path, "--source", "qingyuan", env={"OGI_SOURCES_FILE": str(sources)})
    assert summary["status"] == "finished"
    assert summary["reports_new"] == len(truth.reports)

    db = Database(db_url)
    with db.session() as s:
        reports = {r.url: r for r in s.execute(sa.select(Report)).scalars()}
        versions = s.execute(sa.select(ReportVersion)).scalars().all()
        fetches = s.execute(sa.select(Fetch).order_by(Fetch.id)).scalars().all()
        run = s.execute(sa.select(CrawlRun)).scalar_one()
        pending = s.execute(sa.select(FrontierEntry).where(FrontierEntry.state == "pending")).scalars().all()
    db.dispose()

    # every report, with the bytes the portal served, and nothing else
    assert set(reports) == truth.report_urls()
    assert not set(reports) & set(truth.not_reports)
    blobs = BlobStore(tmp_path / "blobs")
    for expected in truth.reports:
        report = reports[expected.url]
        assert (report.report_year, report.template) == (expected.year, expected.template), expected.url
        assert report.region == "浙江省/杭州市/清源县" and report.status == "current" and report.source_id
        version = next(v for v in versions if v.report_id == report.id)
        assert version.sha256 == expected.sha256, expected.url
        assert sha256_hex(blobs.get(version.sha256)) == version.sha256
        assert version.extraction_status == "pending"
        if expected.kind == "inline":
            assert report.document_url is None and report.source_url == expected.url
        else:
            assert report.document_url == expected.url and report.source_url == expected.page_url
    assert len(versions) == len(reports)

    # the run and its frontier are complete
    assert run.status == "finished" and run.pid and run.reports_new == len(truth.reports) and run.source_id
    assert run.reports_withdrawn == 0
    assert not pending
    errors = run.stats["errors_by_kind"]
    # the end-of-crawl check names each report-like page fetched but not recorded, with its reason: here look-alikes only
    assert run.stats["unrecorded"] and all(url in truth.not_reports and why for url, why in run.stats["unrecorded"].items())

    # robots.txt obeyed; traps bounded; walls not hammered
    for url in truth.forbidden:
        assert not server.log.fetched(url), url
    outcome = {}
    for f in fetches:
        outcome.setdefault(f.url, []).append(f)
    for trap in truth.traps:
        prefix = trap.url.split("?")[0].rsplit("/", 1)[0] + "/" if trap.kind == "repeated_segments" else trap.url.split("?")[0]
        if trap.expect == "bounded":
            assert len(server.log.matching(prefix)) <= 3, (trap.kind, server.log.urls())
        elif trap.expect == "blocked":
            assert server.log.count(trap.url) <= 1, trap
            if server.log.fetched(trap.url):
                last = outcome[trap.url][-1]
                assert last.outcome == "blocked" and ("412" in last.error or "WAF" in last.error), last.error
        elif trap.expect == "error":
            rows = outcome[trap.url]
            assert rows[-1].outcome == "error" and rows[-1].error, trap
            assert trap.url not in reports
        elif trap.expect == "retried":
            assert server.log.count(trap.url) >= 2 and trap.url in {r.source_url for r in reports.values()}
    assert summary["blocked"] and errors.get("blocked")
    assert {"not_a_document", "truncated", "too_large", "timeout", "redirect_loop"} <= set(errors)
    too_large = next(f for f in fetches if f.error_kind == "too_large")
    assert "size cap" in too_large.error and too_large.warc_file

    # every exchange with a response is in the WARC files, and they validate
    warcs = sorted((tmp_path / "warc").glob("*.warc.gz"))
    assert warcs
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", *map(str, warcs)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    responses = set()
    for path in warcs:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    responses.add(record.rec_headers.get_header("WARC-Target-URI"))
    assert {f.url for f in fetches if f.status is not None} <= responses
    assert all(f.warc_file for f in fetches if f.status is not None)


def test_killed_crawl_resumes_then_incremental_recrawl_asks_conditionally(portal, tmp_path):
    """kill -9 half-way; the next crawl resumes (nothing refetched or recorded twice); a third,
    incremental crawl re-requests known reports with validators and gets 304s."""
    site, server = portal
    truth = site.manifest()
    db_url = f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    db = Database(db_url)  # migrated before the crawler starts, so the two never migrate at once
    urls = list(server.base_urls.values())
    slow = ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "-s", "DOWNLOAD_DELAY=0.15", "-s", "OGI_FLUSH_INTERVAL=0.1"]
    proc = crawl(urls, db_url, tmp_path, *slow, wait=False)
    deadline = time.monotonic() + 60
    done_before: set[str] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        with db.session() as s:
            done_before = set(s.scalars(sa.select(FrontierEntry.url).where(FrontierEntry.state == "done")))
            reports = s.scalar(sa.select(sa.func.count()).select_from(Report))
        if reports >= 2 and len(done_before) >= 8:
            break
    assert proc.poll() is None, "the crawl ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with db.session() as s:  # what the killed run had committed
        done_before = set(s.scalars(sa.select(FrontierEntry.url).where(FrontierEntry.state == "done")))
    server.log.clear()

    summary = crawl(urls, db_url, tmp_path)
    with db.session() as s:
        runs = s.execute(sa.select(CrawlRun).order_by(CrawlRun.id)).scalars().all()
        versions = s.execute(sa.select(ReportVersion)).scalars().all()
        report_urls = set(s.scalars(sa.select(Report.url)))
    assert [r.status for r in runs] == ["interrupted", "finished"]
    assert runs[1].stats["resumed_from"] == runs[0].id and summary["status"] == "finished"
    assert report_urls == truth.report_urls()
    assert len(versions) == len(truth.reports)  # nothing recorded twice
    refetched = {u for u in done_before if server.log.fetched(u)}
    assert not refetched, refetched

    server.log.clear()
    summary = crawl(urls, db_url, tmp_path, "--kind", "incremental")
    conditional = [e for e in server.log.entries() if {"If-None-Match", "If-Modified-Since"} & set(e.headers)]
    assert conditional and all(e.status == 304 for e in conditional)
    hosting = {r.page_url for r in truth.reports if r.url != r.page_url}  # article pages with an attachment
    assert hosting and hosting <= {e.url for e in conditional}  # unchanged: 304, and their attachments still asked
    assert summary["not_modified"] == len(conditional)
    assert summary["reports_new"] == summary["reports_changed"] == 0
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ReportVersion)) == len(truth.reports)
        latest = s.execute(sa.select(CrawlRun).order_by(CrawlRun.id.desc())).scalars().first()
        seen = s.scalars(sa.select(Report.url).where(Report.last_seen >= latest.started_at)).all()
    db.dispose()
    assert set(seen) == truth.report_urls()  # unchanged or 304: last_seen moved for every report
