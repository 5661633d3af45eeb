"""Broad crawls: one crawl process for a batch of sources (flow.nightly.run_batch, as the nightly runs it).

Real loopback portals (the benchmark's county sites, few pages each) and a real hanging
server; politeness is read from the portals' own request logs.
"""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from portal_simulator import PortalServer, build_scale_site
from sqlalchemy import func, select

from domain.config import Settings
from flow.nightly import Batch, BatchResult, plan_batches, run_batch
from storage.db import Database
from storage.models import CrawlRun, Report, ReportVersion, Source
from tests.politeness import assert_polite

DELAY = 0.4
POLITE = {"DOWNLOAD_DELAY": DELAY, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "AUTOTHROTTLE_ENABLED": False}
HOSTS = 20


@pytest.fixture(scope="module")
def portals() -> Iterator[PortalServer]:
    with PortalServer(build_scale_site(hosts=HOSTS, first_address=40, departments=2)) as server:
        yield server


@pytest.fixture
def hanging() -> Iterator[str]:
    """A host that accepts connections and never answers (robots.txt included)."""
    listener = socket.create_server(("127.0.0.90", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.90:{listener.getsockname()[1]}/"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    listener.close()


def add_source(db: Database, name: str, url: str, crawl_settings: dict) -> None:
    with db.session() as s:
        s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                     overrides={"schedule": {"crawl_settings": crawl_settings}}))


def test_one_process_crawls_a_batch_politely_per_host(db: Database, settings: Settings, portals: PortalServer,
                                                      hanging: str) -> None:
    portals.log.clear()
    for name, url in portals.base_urls.items():
        add_source(db, name, url, POLITE)
    add_source(db, "hangs", hanging, {**POLITE, "OGI_SOURCE_MAX_SECONDS": 4})
    names = [*portals.base_urls, "hangs"]
    batches = plan_batches(db, [(n, "full") for n in names], 100)
    assert batches == [Batch("full", tuple(names))]  # per-host settings do not split a batch

    # Extraction after the crawl here: threads extracting beside it would run in this process, whose
    # busy interpreter delays the simulator's request log (test_extraction_runs_beside_the_crawl).
    settings.extract_workers = 0
    started = time.monotonic()
    result = run_batch(settings, db, batches[0])
    elapsed = time.monotonic() - started
    assert result.returncode == 0, open(result.log, encoding="utf-8").read()[-3000:]
    assert elapsed < 60  # the hanging portal held up nothing beyond its 4 s budget

    manifest = portals.manifest()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == len(manifest.reports)
        runs = {r.source.name: r for r in s.scalars(select(CrawlRun))}
        assert set(runs) == set(names) and len({r.pid for r in runs.values()}) == 1
        assert all(r.status == "finished" for r in runs.values())
        assert "time budget spent (4 s)" in runs["hangs"].stats["blocked"].values()
        assert runs["hangs"].reports_withdrawn == 0
    for site in portals.base_urls:
        assert_polite([e.time for e in portals.log.entries(site)], DELAY, site)
    # One after-crawl flow for the batch, recorded in every run.
    assert "alerts" in result.after_crawl and all(o["batch_size"] == HOSTS + 1 for o in result.outcomes())


def test_process_wide_settings_get_their_own_batch(db: Database) -> None:
    add_source(db, "a", "http://127.0.0.41/", POLITE)
    add_source(db, "b", "http://127.0.0.42/", {"ROBOTSTXT_OBEY": False})
    add_source(db, "c", "http://127.0.0.43/", {})
    batches = plan_batches(db, [("a", "incremental"), ("b", "incremental"), ("c", "incremental"), ("a", "full")], 1000)
    assert batches == [Batch("incremental", ("a", "c")), Batch("incremental", ("b",), (("ROBOTSTXT_OBEY", "False"),)),
                       Batch("full", ("a",))]
    assert [b.sources for b in plan_batches(db, [(n, "full") for n in "abc"], 1)] == [("a",), ("c",), ("b",)]


def test_extraction_runs_beside_the_crawl(db: Database, settings: Settings, portals: PortalServer) -> None:
    """Reports are extracted while their batch is still crawling, each exactly once, and counted in the flow."""
    for name, url in portals.base_urls.items():
        add_source(db, name, url, POLITE)
    crawl: list[subprocess.Popen[bytes]] = []
    result: list[BatchResult] = []
    batch = Batch("full", tuple(portals.base_urls))
    thread = threading.Thread(target=lambda: result.append(run_batch(settings, db, batch, started_process=crawl.append)))
    thread.start()
    extracted_while_crawling = 0
    deadline = time.monotonic() + 120
    while (not crawl or crawl[0].poll() is None) and time.monotonic() < deadline:
        with db.session() as s:
            done = s.scalar(select(func.count()).select_from(ReportVersion).where(ReportVersion.extraction_status == "done"))
        if crawl and crawl[0].poll() is None:
            extracted_while_crawling = done
        time.sleep(0.2)
    thread.join(120)
    reports = len(portals.manifest().reports)
    assert result and result[0].returncode == 0
    assert 0 < extracted_while_crawling
    assert result[0].after_crawl["extract"] == {"done": reports, "failed": 0}
    with db.session() as s:
        statuses = s.execute(select(ReportVersion.extraction_status, func.count()).group_by(ReportVersion.extraction_status))
        assert dict(statuses.all()) == {"done": reports}
