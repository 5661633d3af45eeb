"""Two nights on a portal that changes in between, with the real crawler and the real scheduler.

Night one is a full crawl (``ogi crawl --kind full``). Between the nights the portal
publishes a new report, silently revises one (new bytes, same URL), replaces an attachment
(new URL, the old one 404), removes one (404) and moves one (new URL, the old one 404).
Night two is the nightly incremental crawl run by ``python scheduler.py --once`` in a new
process (a scheduler restart on the same database), which also completes the revision
details and hands the events to the alerts step. Afterwards: new versions exist for exactly
the reports whose bytes changed, the removed one is withdrawn, the moved one is linked (not
duplicated), and the job store and run history are right.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from portal_simulator import PortalServer, build_site
from portal_simulator.builder import Portal
from sqlalchemy import func, select

import scheduler as sched
from domain.config import Settings
from ogi.cli import main
from storage.db import Database
from storage.diff import value_changes
from storage.models import ChangeEvent, CrawlRun, Report, ReportVersion, Source
from storage.runs import effective_status
from storage.versions import find_report

ROOT = Path(__file__).resolve().parents[1]
SH = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2027, 1, 10, 20, 0, tzinfo=SH)
NIGHT_TWO = datetime(2027, 1, 11, 2, 15, tzinfo=SH)
LOCAL = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}  # the portal is local
FAST = [arg for name, value in LOCAL.items() for arg in ("-s", f"{name}={value}")]


@pytest.fixture
def portal() -> Iterator[tuple[Portal, PortalServer]]:
    site = build_site(traps_on=False)
    with PortalServer(site) as server:
        yield site, server


def add_sources(db: Database, server: PortalServer) -> None:
    """One source per simulated site; the scheduler passes ``crawl_settings`` to its crawls."""
    with db.session() as s:
        for name, url in server.base_urls.items():
            s.add(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                         overrides={"schedule": {"crawl_settings": LOCAL}}))


def ogi_crawl(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``ogi crawl`` in a subprocess, as the scheduler runs it (one Twisted reactor per process)."""
    cmd = [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir, "crawl",
           *args, "--db", settings.db_url, "--json", *FAST]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"ogi crawl hung; last log lines:\n{_log_tail(exc.stderr)}")
    assert proc.returncode == 0, proc.stdout[-3000:] + _log_tail(proc.stderr)
    return proc


def _log_tail(err: bytes | str | None, lines: int = 40) -> str:
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else (err or "")
    return "\n".join([line for line in text.splitlines() if "DEBUG" not in line][-lines:])


def test_two_nights_on_a_changing_portal(db: Database, settings: Settings, portal: tuple[Portal, PortalServer]) -> None:
    site, server = portal
    add_sources(db, server)
    ogi_crawl(settings, "--source", "trs", "--source", "hanweb", "--kind", "full")
    night_one = site.manifest()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Report)) == len(night_one.reports)
    # The scheduler's jobs exist before the night (created by an evening start of the scheduler).
    assert sched.run_once(settings, EVENING, sched.Runner(settings, db)) == []

    site.add_report("trs")
    site.revise_report("zhongxing-2020")  # inline HTML with tables: a figure changes
    site.replace_attachment("taiping-2020")
    site.remove_report("pingtan-2017")
    site.move_report("pingtan-2019")
    night_two = site.manifest()

    proc = subprocess.run(
        [sys.executable, str(ROOT / "scheduler.py"), "--once", "--now", NIGHT_TWO.isoformat(), "--db", settings.db_url,
         "--data-dir", settings.data_dir],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count('"returncode": 0') == 2, proc.stdout

    before = {r.key: r for r in night_one.reports}
    changed = {r.key for r in night_two.reports if r.key in before and r.sha256 != before[r.key].sha256}
    assert {"zhongxing-2020", "taiping-2020"} <= changed
    with db.session() as s:
        # Every report published now is current, with its bytes as the latest version.
        for truth in night_two.reports:
            report = find_report(s, truth.url)
            assert report is not None and report.status == "current", truth.key
            assert report.versions[-1].sha256 == truth.sha256, truth.key
            expected = 2 if truth.key in changed else 1
            assert len(report.versions) == expected, (truth.key, [v.version for v in report.versions])
        # Nothing duplicated: one report per report the portal ever published.
        assert s.scalar(select(func.count()).select_from(Report)) == len(night_two.reports) + len(night_two.withdrawn)
        duplicates = s.execute(select(ReportVersion.report_id, ReportVersion.sha256).group_by(
            ReportVersion.report_id, ReportVersion.sha256).having(func.count() > 1)).all()
        assert duplicates == []
        # The removed one is withdrawn, with its archived version kept.
        removed = find_report(s, before["pingtan-2017"].url)
        assert removed.status == "withdrawn" and removed.withdrawn_at is not None and len(removed.versions) == 1
        # The moved one is the same report under both URLs; the replaced attachment too.
        for key in ("pingtan-2019", "taiping-2020"):
            old, new = before[key].url, night_two.by_key(key).url
            assert old != new and find_report(s, old).id == find_report(s, new).id
        # Outbox: new, revised and withdrawn events of night two; the revision says which figure changed.
        run_ids = [r.id for r in s.scalars(select(CrawlRun).where(CrawlRun.kind == "incremental"))]
        kinds = sorted(e.kind for e in s.scalars(select(ChangeEvent).where(ChangeEvent.run_id.in_(run_ids))))
        assert kinds == sorted(["new"] + ["revised"] * len(changed) + ["withdrawn"])
        revised = find_report(s, before["zhongxing-2020"].url)
        assert value_changes(s, revised.versions[0].id, revised.versions[1].id), "the bumped figure shows in the diff"
        event = s.scalars(select(ChangeEvent).where(ChangeEvent.report_id == revised.id, ChangeEvent.kind == "revised")).one()
        assert event.details["changes"]["values_changed"] >= 1
        # Run history: two full runs, two incremental runs, all finished, alerts step recorded.
        runs = s.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
        assert [(r.kind, effective_status(r)) for r in runs] == [("full", "finished")] * 2 + [("incremental", "finished")] * 2
        assert all("alerts" in r.stats["after_crawl"] for r in runs[2:])
        assert sum(r.reports_withdrawn for r in runs[2:]) == 1 and sum(r.reports_new for r in runs[2:]) == 1
        revised_id = revised.id
    # The job store after the restart: every job still there, the nightly one moved to the next night.
    with db.engine.connect() as conn:  # two sources' nightly and two sweeps each, and the monthly fixity audit
        assert conn.execute(sa.text("select count(*) from apscheduler_jobs")).scalar() == 7
    scheduler = sched.build_scheduler(settings)
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job("crawl:trs:incremental").next_run_time == datetime(2027, 1, 12, 2, 0, tzinfo=SH)
    finally:
        scheduler.shutdown(wait=False)
    out = CliRunner().invoke(main, ["diff", str(revised_id), "--db", settings.db_url])
    assert out.exit_code == 0 and "更正" in out.output and "Values changed" in out.output, out.output
    out = CliRunner().invoke(main, ["runs", "--db", settings.db_url])
    assert out.exit_code == 0 and out.output.count("│ finished │") == 4, out.output
