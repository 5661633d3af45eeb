"""A crawl killed with ``kill -9`` half-way resumes where it stopped: nothing lost, nothing recorded twice.

The portal answers slowly so the crawl can be killed while it is busy; the state that
matters (frontier, fetches, reports) is in the database, so the next ``ogi crawl`` of the
same source picks up the interrupted run's pending URLs and skips the ones it finished.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from portal_simulator import PortalServer, build_site
from portal_simulator.builder import Portal
from sqlalchemy import func, select

from domain.config import Settings
from storage.db import Database
from storage.models import CrawlRun, FrontierEntry, Report, ReportVersion, Source
from storage.runs import effective_status

PAUSE = 0.4  # seconds per response while the first crawl runs
SERIAL = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]


@pytest.fixture
def slow_portal() -> Iterator[tuple[Portal, PortalServer, list[float]]]:
    """The TRS site, every answer delayed by ``pause[0]`` seconds (set it to 0 to speed up)."""
    portal = build_site(("trs",), traps_on=False)
    site, pause = portal.sites["trs"], [PAUSE]
    respond = site.respond
    site.respond = lambda request: dataclasses.replace(respond(request), delay=pause[0])  # type: ignore[method-assign]
    with PortalServer(portal) as server:
        yield portal, server, pause


def _crawl(settings: Settings) -> list[str]:
    return [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir, "crawl",
            "--source", "trs", "--kind", "full", "--db", settings.db_url, "--json", *SERIAL]


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_killed_crawl_resumes_without_loss_or_duplicates(db: Database, settings: Settings,
                                                         slow_portal: tuple[Portal, PortalServer, list[float]]) -> None:
    portal, server, pause = slow_portal
    url = server.base_urls["trs"]
    with db.session() as s:
        s.add(Source(name="trs", start_urls=[url], allowed_domains=[urlsplit(url).hostname]))
    truth = portal.manifest()

    first = subprocess.Popen(_crawl(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _count(db, Report) < 1 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the crawl ended before it could be killed: make the portal slower"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed_at = time.time()
    recorded = _count(db, Report)
    assert 1 <= recorded < len(truth.reports), "killed too late to test resuming"
    with db.session() as s:
        killed = s.scalars(select(CrawlRun)).one()
        assert killed.status == "running" and effective_status(killed) == "interrupted"
        done = {e.url for e in s.scalars(select(FrontierEntry).where(FrontierEntry.run_id == killed.id,
                                                                     FrontierEntry.state == "done"))}
    assert done, "the killed run recorded no finished URL"

    pause[0] = 0
    second = subprocess.run(_crawl(settings), capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]

    with db.session() as s:
        runs = s.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
        assert [(r.id, effective_status(r)) for r in runs] == [(killed.id, "interrupted"), (runs[1].id, "finished")]
        assert runs[1].stats.get("resumed_from") == killed.id
        # Every report once, each with exactly one version (the killed run's versions were not recorded again).
        assert s.scalar(select(func.count()).select_from(Report)) == len(truth.reports)
        assert s.scalar(select(func.count()).select_from(ReportVersion)) == len(truth.reports)
        shas = set(s.scalars(select(ReportVersion.sha256)))
    assert shas == {r.sha256 for r in truth.reports}
    # It resumed where it stopped: what the killed run had finished was not downloaded again.
    again = {e.url for e in server.log.entries() if e.time >= killed_at and e.url in done}
    assert again == set(), f"refetched after resume: {sorted(again)}"
