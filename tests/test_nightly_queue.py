"""The nightly on the task queue (procrastinate on a real PostgreSQL): two ``ogi worker`` processes,
one killed with kill -9 mid-batch; everything archived once, politely, and mailed once (a real SMTP server).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from portal_simulator import PortalServer, build_scale_site
from sqlalchemy import func, select

from alerts.subscriptions import subscribe
from domain.config import Settings
from flow.jobs import connected, enqueue
from flow.nightly import plan_batches
from storage.db import Database
from storage.models import ChangeEvent, CrawlRun, Digest, Report, ReportVersion, Source
from tests.mail import BASE_URL, SENDER, Collector
from tests.politeness import assert_polite

DELAY = 0.4
POLITE = {"DOWNLOAD_DELAY": DELAY, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "AUTOTHROTTLE_ENABLED": False}
STALLED_S = 6


@pytest.fixture
def portals() -> Iterator[PortalServer]:
    with PortalServer(build_scale_site(hosts=20, first_address=120, departments=2)) as server:
        yield server


def worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OGI_QUEUE_STALLED_S": str(STALLED_S), "OGI_SMTP_HOST": settings.smtp_host,
           "OGI_SMTP_PORT": str(settings.smtp_port), "OGI_SMTP_FROM": settings.smtp_from, "OGI_BASE_URL": settings.base_url}
    return subprocess.Popen([sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir,
                             "worker", "--db", settings.db_url, "--queue-url", settings.db_url, "--until-empty"],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)


def test_two_workers_one_killed_everything_once(pg_url: str, tmp_path: Path, portals: PortalServer, collector: Collector,
                                                smtp_port: int) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=pg_url, queue_url=pg_url, queue_stalled_s=STALLED_S,
                        smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_from=SENDER, base_url=BASE_URL)
    db = Database(pg_url)
    with db.session() as s:
        subscribe(s, "night@example.org")
        for name, url in portals.base_urls.items():
            s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                         overrides={"schedule": {"crawl_settings": POLITE}}))
    batches = plan_batches(db, [(n, "full") for n in portals.base_urls], 5)
    with connected(settings, sync=True) as queue, queue.open():
        assert len([i for i in enqueue(queue, batches) if i]) == 4
        assert enqueue(queue, batches[:1]) == [None]  # queued once (queueing lock)

    first, second = worker(settings, tmp_path / "w1.log"), worker(settings, tmp_path / "w2.log")
    try:
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:  # kill the first worker in the middle of a batch
            with db.session() as s:
                pids = {r.pid for r in s.scalars(select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.pages > 0))}
            children = {int(p) for task in Path(f"/proc/{first.pid}/task").iterdir()  # jobs run in threads
                        for p in (task / "children").read_text().split()}
            victim = next(iter(pids & children), None)
            time.sleep(0.2)
        assert victim is not None, "the first worker never crawled: " + (tmp_path / "w1.log").read_text()[-3000:]
        os.kill(victim, signal.SIGKILL)  # the machine dies: its crawl process and its worker
        first.kill()
        assert second.wait(timeout=150) == 0, (tmp_path / "w2.log").read_text()[-3000:]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()

    manifest = portals.manifest()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == len(manifest.reports)
        assert s.scalar(select(func.count()).select_from(ReportVersion)) == len(manifest.reports)
        assert s.scalar(select(func.count()).select_from(ChangeEvent).where(ChangeEvent.kind == "new")) == len(manifest.reports)
        latest = {}
        for run in s.scalars(select(CrawlRun).order_by(CrawlRun.id)):
            latest[run.source.name] = run
        assert set(latest) == set(portals.base_urls) and all(r.status == "finished" for r in latest.values())
        new_reports = set(s.scalars(select(ChangeEvent.report_id).where(ChangeEvent.kind == "new")))
        digests_sent = s.scalar(select(func.count()).select_from(Digest).where(Digest.status == "sent"))
    mail = collector.by_recipient()["night@example.org"]
    mailed = Counter(int(m) for msg in mail for m in re.findall(r"/reports/(\d+)\b(?!/versions)",
                                                                msg.get_body(("plain",)).get_content()))
    assert set(mailed) == new_reports and set(mailed.values()) == {1}, "every new report mailed once"
    assert len(mail) == digests_sent == len({msg["Message-ID"] for msg in mail}), "each digest delivered once"
    for site in portals.base_urls:  # politeness held across the two workers and the re-run
        assert_polite([e.time for e in portals.log.entries(site)], DELAY, site)
    db.dispose()
