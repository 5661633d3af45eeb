"""A queue job that keeps failing, or keeps taking its worker process down with it, is retried a
bounded number of times, then parked with its reason where ``ogi runs`` and ``GET /api/admin/jobs``
show it, and never holds up the other jobs (procrastinate on a real PostgreSQL)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from click.testing import CliRunner
from fastapi.testclient import TestClient
from portal_simulator import PortalServer, build_scale_site
from sqlalchemy import func, select

from domain.config import Settings
from flow.jobs import MAX_ATTEMPTS, connected, enqueue, parked_jobs, work
from flow.nightly import Batch
from ogi.cli import main
from storage.db import Database
from storage.models import CrawlRun, Report, Source
from web.app import create_app


def test_a_failing_crawl_batch_is_retried_then_parked_with_its_reason(pg_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=pg_url, queue_url=pg_url, admin_token="t0ken")
    db = Database(pg_url)
    # The crawl process of this batch exits non-zero every time: the source does not exist.
    with connected(settings, sync=True) as queue, queue.open():
        enqueue(queue, [Batch("incremental", ("nosuch",))])
    work(settings, until_empty=True)  # returns: a parked job does not hold up the queue

    (job,) = parked_jobs(settings)
    assert job.task == "ogi.crawl_batch" and job.sources == ["nosuch"] and job.attempts == MAX_ATTEMPTS
    assert job.error.startswith("CrawlError: crawl process exited with 1") and "unknown source(s): nosuch" in job.error, job.error

    runs = CliRunner().invoke(main, ["runs", "--db", pg_url], env={"OGI_QUEUE_URL": pg_url}, terminal_width=250)
    assert runs.exit_code == 0, runs.output
    assert "Parked jobs" in runs.output and "ogi.crawl_batch" in runs.output, runs.output[-3000:]
    assert "crawl process exited with 1" in runs.output and "unknown source(s): nosuch" in runs.output
    assert "Parked jobs" not in CliRunner().invoke(main, ["runs", "--db", pg_url], env={"OGI_QUEUE_URL": ""}).output

    with TestClient(create_app(settings, db)) as client:
        assert client.get("/api/admin/jobs").status_code in (401, 403)
        answer = client.get("/api/admin/jobs", headers={"Authorization": "Bearer t0ken"}).json()
    assert answer["queue"] is True
    assert [(j["id"], j["sources"], j["attempts"]) for j in answer["jobs"]] == [(job.id, ["nosuch"], MAX_ATTEMPTS)]
    assert answer["jobs"][0]["error"] == job.error
    db.dispose()


STALLED_S = 4


def _crawl_child(worker: subprocess.Popen[bytes], db: Database, source: str, timeout: float = 90) -> int | None:
    """The pid of ``source``'s crawl process once the worker runs it (None if the worker ends first)."""
    deadline = time.monotonic() + timeout
    while worker.poll() is None and time.monotonic() < deadline:
        with db.session() as s:
            pids = set(s.scalars(select(CrawlRun.pid).join(Source).where(Source.name == source, CrawlRun.status == "running")))
        children = {int(p) for task in Path(f"/proc/{worker.pid}/task").glob("*")  # jobs run in threads
                    for p in (task / "children").read_text().split()}
        if pids & children:
            return next(iter(pids & children))
        time.sleep(0.2)
    return None


def test_a_job_that_keeps_killing_its_worker_is_parked_and_the_rest_done(pg_url: str, tmp_path: Path) -> None:
    """Each time a worker takes the "poison" batch, the worker dies with it (kill -9 of the worker and
    its crawl, as an OOM kill of the machine's process would): after MAX_ATTEMPTS such deaths the
    job is parked with why, the next worker does the other batch and returns."""
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=pg_url, queue_url=pg_url, admin_token="t0ken",
                        queue_stalled_s=STALLED_S)
    db = Database(pg_url)
    polite = {"DOWNLOAD_DELAY": 0.5, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "AUTOTHROTTLE_ENABLED": False}
    with PortalServer(build_scale_site(hosts=2, first_address=170, departments=1)) as portals:
        (poison, poison_url), (good, good_url) = portals.base_urls.items()
        with db.session() as s:
            for name, url in ((poison, poison_url), (good, good_url)):
                s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                             overrides={"schedule": {"crawl_settings": polite}}))
        with connected(settings, sync=True) as queue, queue.open():
            enqueue(queue, [Batch("full", (poison,)), Batch("full", (good,))])
        env = {**os.environ, "OGI_QUEUE_STALLED_S": str(STALLED_S)}
        cmd = [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir, "worker",
               "--db", pg_url, "--queue-url", pg_url, "--until-empty"]
        deaths = 0
        for attempt in range(MAX_ATTEMPTS + 1):
            log = tmp_path / f"worker{attempt}.log"
            worker = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
            try:
                victim = _crawl_child(worker, db, poison)
                if victim is None:  # the poison job is parked: this worker did the rest and returned
                    assert worker.wait(timeout=120) == 0, log.read_text()[-3000:]
                    break
                os.kill(victim, signal.SIGKILL)
                worker.kill()
                worker.wait()
                deaths += 1
            finally:
                if worker.poll() is None:
                    worker.kill()
        manifest = {r.url for r in portals.manifest().reports if urlsplit(r.url).hostname == urlsplit(good_url).hostname}

    assert deaths == MAX_ATTEMPTS
    (job,) = [j for j in parked_jobs(settings) if j.task == "ogi.crawl_batch"]
    assert job.sources == [poison] and job.attempts == MAX_ATTEMPTS
    assert job.error == f"its worker died {MAX_ATTEMPTS} times (killed or crashed)", job.error
    with db.session() as s:  # the other batch was not held up
        good_reports = s.scalar(select(func.count()).select_from(Report).join(Source).where(Source.name == good))
    assert good_reports == len(manifest) > 0

    runs = CliRunner().invoke(main, ["runs", "--db", pg_url], env={"OGI_QUEUE_URL": pg_url}, terminal_width=250)
    assert "Parked jobs" in runs.output and f"its worker died {MAX_ATTEMPTS} times" in runs.output, runs.output[-3000:]
    with TestClient(create_app(settings, db)) as client:
        answer = client.get("/api/admin/jobs", headers={"Authorization": "Bearer t0ken"}).json()
    assert {"id": job.id, "sources": [poison], "error": job.error} in [
        {k: j[k] for k in ("id", "sources", "error")} for j in answer["jobs"]]
    db.dispose()
