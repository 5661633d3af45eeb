"""Faults during a night, with the real crawler, scheduler, SMTP server and file system.

Each fault is made for real on loopback: an SMTP port nobody listens on, a hostile portal among
normal ones, a data directory on a small tmpfs that fills up, a private PostgreSQL instance
stopped with ``pg_ctl stop -m immediate`` mid-crawl. The promise checked after each: the night
ends (failed or paused) with a readable reason in its run, a re-run once the fault is gone
completes, and nothing is half-written (``storage.fixity.audit``: every version has its blob,
every blob its digest, every WARC record its digests). The long version, random kill -9 at
scale, is ``bench/fault_soak.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from portal_simulator import PortalServer, build_scale_site
from sqlalchemy import func, select

import scheduler as sched
from domain.config import Settings
from flow.nightly import crawl_command, plan_batches, run_batch
from storage.db import Database
from storage.fixity import audit
from storage.models import Blob, CrawlRun, Digest, Fetch, Report, ReportVersion, Source
from tests.mail import BASE_URL, SENDER, Collector, free_port, start_smtp, sub
from tests.rss import measured, peak_mb
from tests.test_hostile_crawl import gzip_bomb, listing_html, report_html

ROOT = Path(__file__).resolve().parents[1]
SH = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2027, 1, 10, 20, 0, tzinfo=SH)
NIGHTS = [datetime(2027, 1, 11 + n, 2, 15, tzinfo=SH) for n in range(3)]
LOCAL = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}


@pytest.fixture(scope="module")
def small_portal() -> Iterator[PortalServer]:
    """One county site (a few dozen pages, HTML and PDF reports) on its own loopback address."""
    with PortalServer(build_scale_site(hosts=1, first_address=150, departments=2)) as server:
        yield server


def add_sources(db: Database, urls: dict[str, str], crawl_settings: dict | None = None) -> None:
    with db.session() as s:
        for name, url in urls.items():
            s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                         overrides={"schedule": {"crawl_settings": {**LOCAL, **(crawl_settings or {})}}}))


def nightly(settings: Settings, now: datetime, env: dict[str, str] | None = None,
            timeout: float = 120) -> list[dict]:
    """``scheduler.py --once --now NOW`` in its own process, as cron runs it; its outcomes."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scheduler.py"), "--once", "--now", now.isoformat(), "--db", settings.db_url,
         "--data-dir", settings.data_dir],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})},
    )
    outcomes = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert outcomes, proc.stdout[-3000:] + proc.stderr[-3000:]
    return outcomes


def smtp_env(port: int) -> dict[str, str]:
    return {"OGI_SMTP_HOST": "127.0.0.1", "OGI_SMTP_PORT": str(port), "OGI_SMTP_FROM": SENDER, "OGI_BASE_URL": BASE_URL}


def assert_intact(db: Database, settings: Settings) -> None:
    """Nothing half-written: the fixity audit over every blob, version and WARC record finds no
    problem, and every blob came from an exchange whose WARC file is there."""
    warc_dir = Path(settings.data_dir) / "warc"
    with db.session() as s:
        result = audit(s, settings.data_dir)
        archived = select(Fetch.sha256).where(Fetch.warc_file != "")
        orphans = s.scalars(select(Blob.sha256).where(Blob.sha256.not_in(archived))).all()
        files = set(s.scalars(select(Fetch.warc_file).where(Fetch.warc_file != "").distinct()))
    assert result.ok, result.problems[:10]
    assert orphans == [], f"blobs without a WARC record: {orphans[:5]}"
    assert {name for name in files if not (warc_dir / name).exists()} == set()


def count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


# -- SMTP down for a night ---------------------------------------------------------------------


def test_smtp_down_for_a_night_then_each_digest_once(db: Database, settings: Settings,
                                                     small_portal: PortalServer) -> None:
    add_sources(db, small_portal.base_urls)
    sub(db, "a@example.org")
    sub(db, "b@example.org", lang="en")
    assert sched.run_once(settings, EVENING, sched.Runner(settings, db)) == []  # the evening start creates the jobs
    port = free_port()  # nobody listens here tonight

    [night] = nightly(settings, NIGHTS[0], smtp_env(port))
    assert night["returncode"] == 0, night
    with db.session() as s:
        run = s.get(CrawlRun, night["run_id"])
        assert run.status == "finished" and run.reports_new == len(small_portal.manifest().reports)
        alerts = run.stats["alerts"]
        assert (alerts["failed"], alerts["sent"], alerts["pending"]) == (2, 0, 2), alerts
        assert all("ConnectionRefusedError" in e and "retry after" in e for e in alerts["errors"]), alerts
        digests = s.scalars(select(Digest)).all()
        assert all(d.status == "pending" and "Connection refused" in d.last_error for d in digests)
    shown = subprocess.run([sys.executable, "-m", "ogi", "runs", "--db", settings.db_url], capture_output=True,
                           text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "400"})
    assert shown.returncode == 0 and "failed=2" in shown.stdout and "errors=2" in shown.stdout, shown.stdout

    # The day passes (the digests' back-off is over); the next night SMTP is up.
    with db.session() as s:
        for digest in s.scalars(select(Digest)):
            digest.next_attempt_at -= timedelta(days=1)
    collector = Collector()
    controller = start_smtp(port, collector)
    try:
        for when in NIGHTS[1:]:  # two more nights: the second must send nothing again
            [night] = nightly(settings, when, smtp_env(port))
            assert night["returncode"] == 0, night
    finally:
        controller.stop()
    delivered = collector.by_recipient()
    assert sorted(delivered) == ["a@example.org", "b@example.org"]
    assert all(len(messages) == 1 for messages in delivered.values()), {k: len(v) for k, v in delivered.items()}
    with db.session() as s:
        assert {d.status for d in s.scalars(select(Digest))} == {"sent"}
        assert count(db, ReportVersion) == count(db, Report) == len(small_portal.manifest().reports)
    assert_intact(db, settings)


# -- a hostile portal among normal ones, in one nightly batch --------------------------------------

BOMB_MB = 200  # unpacked; about 200 KB on the wire
LINKS_REPORT = "链接县2023年政府信息公开工作年度报告"


class HostileHandler(BaseHTTPRequestHandler):
    """One hostile behaviour per server (``server.kind``): a gzip bomb, an endless redirect chain,
    a 100,000-link page, or an endless trickle (one byte every 0.2 s of a body that never ends)."""

    protocol_version = "HTTP/1.1"
    server: HostileServer

    def do_GET(self) -> None:
        try:
            getattr(self, f"_{self.server.kind}")()
        except (BrokenPipeError, ConnectionResetError):  # the crawler gave up, as it should
            self.close_connection = True

    def _answer(self, body: bytes, status: int = 200, **headers: str) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _front(self) -> bool:
        """robots.txt and the front page (the server's listing); False for other paths."""
        if self.path == "/robots.txt":
            self._answer(b"User-agent: *\nDisallow:\n", Content_Type="text/plain")
        elif self.path == "/":
            self._answer(self.server.front)
        else:
            return False
        return True

    def _bomb(self) -> None:
        if not self._front():
            self._answer(self.server.bomb, Content_Encoding="gzip")

    def _redirects(self) -> None:
        if not self._front():
            hop = int(self.path.rsplit("/", 1)[-1] or 0) if self.path.startswith("/hop/") else 0
            self._answer(b"", 302, Location=f"/hop/{hop + 1}")

    def _links(self) -> None:
        if not self._front():
            self._answer(report_html(LINKS_REPORT) if self.path == "/r.html" else b"", 200)

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Connection", "close")  # no length: the body ends when the server closes, i.e. never
        self.end_headers()
        while not self.server.stopping.wait(0.2):
            self.wfile.write(b" ")
            self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's parameter name; quiet
        pass


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, kind: str, address: str, bomb: bytes, front: bytes) -> None:
        super().__init__((address, 0), HostileHandler)
        self.kind, self.bomb, self.front, self.stopping = kind, bomb, front, threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        """The crawler hanging up on a trickle or a bomb is the point, not a server error."""

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}/"


@pytest.fixture(scope="module")
def hostile() -> Iterator[dict[str, HostileServer]]:
    bomb = gzip_bomb(BOMB_MB)
    # Front pages built once: the 100,000-link one rebuilt per request would swell this process,
    # whose peak RSS forked crawls inherit in their wait4 figures (tests/test_hostile_crawl.py).
    fronts = {"bomb": [("/r.html", "炸弹县2023年政府信息公开工作年度报告")],
              "redirects": [("/hop/0", "跳转县2023年政府信息公开工作年度报告")],
              "links": [*((f"/dept{i}/", f"部门信息公开{i}") for i in range(100_000)), ("/r.html", LINKS_REPORT)],
              "trickle": []}
    servers = {kind: HostileServer(kind, f"127.0.0.{170 + n}", bomb, listing_html(links))
               for n, (kind, links) in enumerate(fronts.items())}
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
               for s in servers.values()]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers.values():
        server.stopping.set()
        server.shutdown()
        server.server_close()


def test_hostile_portals_in_a_nightly_batch_are_bounded(tmp_path: Path, hostile: dict[str, HostileServer]) -> None:
    """SQLite only: the bounds are the crawler's, the database plays no part."""
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=f"sqlite:///{tmp_path / 'ogi.sqlite3'}")
    db = Database(settings.db_url)
    with PortalServer(build_scale_site(hosts=3, first_address=160, departments=2)) as normal:
        add_sources(db, normal.base_urls)
        add_sources(db, {kind: server.url for kind, server in hostile.items()},
                    {"DOWNLOAD_TIMEOUT": 3, "OGI_SOURCE_MAX_SECONDS": 10, "OGI_SOURCE_MAX_PAGES": 300})
        [batch] = plan_batches(db, [(name, "incremental") for name in [*normal.base_urls, *hostile]], 100)
        assert len(batch.sources) == 7
        rss = tmp_path / "maxrss"
        started = time.monotonic()
        result = run_batch(settings, db, batch, command=lambda s, b: measured(crawl_command(s, b), rss))
        seconds, peak = time.monotonic() - started, peak_mb(rss)
        manifest = normal.manifest()

    log = Path(result.log).read_text("utf-8", "replace")
    assert result.returncode == 0, log[-3000:]
    print(f"hostile batch: {seconds:.1f} s, crawl peak RSS {peak:.0f} MB")
    assert seconds < 60 and peak < 400, (seconds, peak)
    with db.session() as s:
        runs = {r.source.name: r for r in s.scalars(select(CrawlRun))}
        assert {name: r.status for name, r in runs.items()} == dict.fromkeys(batch.sources, "finished")
        by_source = dict(s.execute(select(Source.name, func.count(Report.id)).join(Report).group_by(Source.name)).all())
        assert {name: by_source.get(name, 0) for name in normal.base_urls} == {
            name: sum(1 for r in manifest.reports if r.url.startswith(url)) for name, url in normal.base_urls.items()}
        fetches = {kind: s.scalars(select(Fetch).where(Fetch.run_id == runs[kind].id)).all() for kind in hostile}
        bombs = [f for f in fetches["bomb"] if f.url.endswith("/r.html")]
        assert bombs and all(f.error_kind == "too_large" for f in bombs), [(f.error_kind, f.error) for f in bombs]
        hops = [f for f in fetches["redirects"] if "/hop/" in f.url]
        assert 0 < len(hops) <= 12 and hops[-1].error_kind == "redirect_loop", [(f.outcome, f.error) for f in hops]
        assert "more than 10 redirections" in hops[-1].error
        assert runs["links"].stats["skipped"]["links_over_cap"] > 90_000, runs["links"].stats
        assert by_source.get("links") == 1  # the report beside the 100,000 links was found
        trickle = fetches["trickle"]
        # Each fetch timed out; a retry the spent budget stopped is recorded as such, not dropped.
        kinds = [(f.error_kind, f.error) for f in trickle]
        assert kinds and kinds[0][0] == "timeout", kinds
        assert all(kind == "timeout" or (kind == "budget" and error.startswith("not retried: time budget spent"))
                   for kind, error in kinds), kinds
        assert runs["trickle"].stats["blocked"] == {urlsplit(hostile["trickle"].url).hostname: "time budget spent (10 s)"}
        assert s.scalar(select(func.count()).select_from(Blob).where(Blob.size > 20 * 2**20)) == 0
    assert_intact(db, settings)
    db.dispose()
    # The bomb is archived as received (compressed): auditing it must not inflate it.
    verify = subprocess.run(measured([sys.executable, "-m", "ogi", "--data-dir", settings.data_dir, "verify",
                                      "--db", settings.db_url], rss), capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and int(rss.read_text()) / 1024 < 200, (verify.stdout[-2000:], rss.read_text())


# -- the disk full at the data directory -------------------------------------------------------------


@pytest.fixture
def small_disk(settings: Settings) -> Iterator[Path]:
    """The data directory on a tmpfs of its own (root only), nearly filled by a ballast file."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "ogi-test-disk", str(data)], check=True)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` free bytes with a ballast file."""
    ballast = disk / "ballast"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    ballast.write_bytes(bytes(max(0, free - leave)))
    return ballast


def test_disk_full_fails_the_crawl_with_its_reason_and_a_rerun_completes(db: Database, settings: Settings,
                                                                        small_portal: PortalServer, small_disk: Path) -> None:
    add_sources(db, small_portal.base_urls)
    [batch] = plan_batches(db, [(name, "incremental") for name in small_portal.base_urls], 10)
    ballast = fill(small_disk, 64 * 1024)

    first = run_batch(settings, db, batch)
    with db.session() as s:
        run = s.get(CrawlRun, first.run_ids[batch.sources[0]])
        assert first.returncode != 0 and run.status == "failed", (first.returncode, run.status, run.message)
        assert "No space left on device" in run.message, run.message
        assert run.reports_withdrawn == 0  # an incomplete crawl proves nothing gone
    assert_intact(db, settings)

    ballast.unlink()  # space is freed
    second = run_batch(settings, db, batch)
    assert second.returncode == 0, Path(second.log).read_text("utf-8", "replace")[-3000:]
    with db.session() as s:
        run = s.get(CrawlRun, second.run_ids[batch.sources[0]])
        assert run.status == "finished" and run.message == "", run.message
        archived = {r.url: [v.sha256 for v in r.versions] for r in s.scalars(select(Report))}
    assert archived == {r.url: [r.sha256] for r in small_portal.manifest().reports}
    assert_intact(db, settings)


# -- PostgreSQL restarted mid-crawl -----------------------------------------------------------------

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


class PrivatePostgres:
    """A PostgreSQL instance of this test's own (initdb in a temporary directory, a free port):
    stopping the machine's cluster would break every other test running on it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ogi-pg-"))
        self.data, self.port = self.root / "data", free_port()
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        admin = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "ogi"'))
        admin.dispose()

    def _as_postgres(self, *cmd: object) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)], check=True, capture_output=True, timeout=60)

    def url(self, name: str = "ogi") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-o", options, "-l", self.root / "log", "-w", "start")

    def stop(self) -> None:
        """``-m immediate``: no shutdown checkpoint, clients cut off, as a crash or an OOM kill would."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0 or PG_BIN is None:
        pytest.skip("a private PostgreSQL instance needs root (to run it as the postgres user) and its binaries")
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.remove()


def test_postgresql_restarted_mid_crawl(tmp_path: Path, private_pg: PrivatePostgres) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), database_url=private_pg.url())
    db = Database(settings.db_url)
    polite = {"DOWNLOAD_DELAY": 0.15, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}
    with PortalServer(build_scale_site(hosts=1, first_address=180, departments=4)) as portal:
        add_sources(db, portal.base_urls, polite)
        [batch] = plan_batches(db, [(name, "incremental") for name in portal.base_urls], 10)
        outcome: dict[str, object] = {}
        procs: list[subprocess.Popen[bytes]] = []
        crawl = threading.Thread(target=lambda: outcome.update(result=run_batch(settings, db, batch,
                                                                                 started_process=procs.append)))
        crawl.start()
        deadline = time.monotonic() + 60
        while count(db, Report) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        private_pg.stop()
        # The database stays down until the crawl process has given up, so the nightly finds it
        # down too: it must wait for it (not crash, not lose the run's outcome).
        while procs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)
        private_pg.start()
        crawl.join(120)
        first = outcome["result"]
        with db.session() as s:
            run = s.get(CrawlRun, first.run_ids[batch.sources[0]])
            assert first.returncode != 0 and run.status == "failed", (first.returncode, run.status, run.message)
            assert "the database could not be written" in run.message and "OperationalError" in run.message, run.message
            assert run.reports_withdrawn == 0
            assert s.scalar(select(func.count()).select_from(Report)) < len(portal.manifest().reports)  # stopped mid-crawl
        assert_intact(db, settings)

        second = run_batch(settings, db, batch)  # the database is back
        assert second.returncode == 0, Path(second.log).read_text("utf-8", "replace")[-3000:]
        with db.session() as s:
            assert s.get(CrawlRun, second.run_ids[batch.sources[0]]).status == "finished"
            archived = {r.url: [v.sha256 for v in r.versions] for r in s.scalars(select(Report))}
        assert archived == {r.url: [r.sha256] for r in portal.manifest().reports}
    assert_intact(db, settings)
    db.dispose()
