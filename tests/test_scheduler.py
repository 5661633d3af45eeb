"""The scheduler, driven by a controllable clock: schedules, persistence across restarts, coalescing,
misfires, the per-source guard, and clean stops.

Crawls here are a small stand-in script run as a real subprocess against the real database
(it records a CrawlRun as ``ogi crawl`` does); tests/test_nights.py runs the real crawler.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select

import scheduler as sched
from domain.config import Settings
from storage.db import Database
from storage.models import CrawlRun, Source

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2027, 1, 10, 12, 0, tzinfo=SH)
ROOT = Path(__file__).resolve().parents[1]

# Records a run per source of the batch the way `ogi crawl` does (pid, running -> finished),
# after sleeping argv[3] seconds; the sources are argv[4:].
FAKE_CRAWL = """
import os, sys, time
from sqlalchemy import select
from storage.db import Database
from storage.models import CrawlRun, Source, utcnow
kind, db_url, pause, *sources = sys.argv[1:]
db = Database(db_url)
with db.session() as s:
    runs = [CrawlRun(source_id=s.scalars(select(Source).where(Source.name == source)).one().id, kind=kind, pid=os.getpid())
            for source in sources]
    s.add_all(runs)
time.sleep(float(pause))
with db.session() as s:
    for run in runs:
        run = s.get(CrawlRun, run.id)
        run.status, run.finished_at, run.pages = "finished", utcnow(), 3
"""


def fake_crawl(pause: float = 0):
    """The crawl command of a batch (the scheduler's ``command``), as a stand-in script."""
    return lambda settings, batch: [sys.executable, "-c", FAKE_CRAWL, batch.kind, settings.db_url, str(pause), *batch.sources]


def _add_sources(db: Database, *names: str, **overrides: dict) -> None:
    with db.session() as s:
        for name in names:
            s.add(Source(name=name, overrides=overrides.get(name, {})))


def _started(settings: Settings) -> sched.BackgroundScheduler:
    scheduler = sched.build_scheduler(settings)
    scheduler.start(paused=True)
    return scheduler


def _runs(db: Database) -> list[tuple[str, str, str]]:
    with db.session() as s:
        return [(r.source.name, r.kind, r.status) for r in s.scalars(select(CrawlRun).order_by(CrawlRun.id))]


def test_stagger_is_stable_and_spread() -> None:
    slots = [sched.stagger(f"county-{n}", "2") for n in range(60)]
    assert slots == [sched.stagger(f"county-{n}", "2") for n in range(60)]
    assert all(1 <= d <= 28 and 0 <= h <= 5 and 0 <= m <= 59 for d, h, m in slots)
    assert len(set(slots)) >= 58 and len({d for d, _, _ in slots}) >= 20


def test_default_and_overridden_schedules() -> None:
    settings = Settings()
    jobs = {j.id: j for j in sched.source_jobs(Source(name="zhangshu", overrides={}), settings)}
    assert set(jobs) == {"crawl:zhangshu:incremental", "crawl:zhangshu:full:0", "crawl:zhangshu:full:1"}
    nightly = jobs["crawl:zhangshu:incremental"].trigger.get_next_fire_time(None, T0)
    assert nightly == datetime(2027, 1, 11, 2, 0, tzinfo=SH)
    sweeps = [jobs[f"crawl:zhangshu:full:{i}"].trigger.get_next_fire_time(None, T0) for i in (0, 1)]
    assert [s.month for s in sweeps] == [2, 4] and all(s.hour < 6 for s in sweeps)  # after 31 Jan and 31 Mar

    custom = Source(name="xqq", overrides={"schedule": {"incremental": "30 1 * * 1", "full": ["0 4 15 3 *"],
                                                        "timezone": "UTC", "misfire_grace_hours": 1}})
    jobs = {j.kind: j for j in sched.source_jobs(custom, settings)}
    assert jobs["incremental"].trigger.get_next_fire_time(None, T0).isoformat() == "2027-01-11T01:30:00+00:00"
    assert jobs["full"].trigger.get_next_fire_time(None, T0).isoformat() == "2027-03-15T04:00:00+00:00"
    assert jobs["full"].misfire_grace_time == 3600
    assert sched.source_jobs(Source(name="off", overrides={"schedule": {"incremental": False, "full": False}}), settings) == []
    with pytest.raises(ValueError):
        sched.source_jobs(Source(name="bad", overrides={"schedule": {"incremental": "every night"}}), settings)


def test_jobs_persist_across_restart_and_missed_runs_coalesce(db: Database, settings: Settings) -> None:
    _add_sources(db, "shouxian", "fuyang", "broken", broken={"schedule": {"full": ["61 * * * *"]}})
    first = _started(settings)
    result = sched.sync_jobs(first, db, settings, T0)
    assert len(result.added) == 7 and set(result.errors) == {"broken"}  # 3 per good source + the fixity audit
    job = first.get_job("crawl:shouxian:incremental")
    nightly = job.next_run_time
    assert job.func is sched.run_source_job and job.kwargs == {"source": "shouxian", "kind": "incremental"}
    first.shutdown(wait=False)
    with db.engine.connect() as conn:  # APScheduler's own table, in the archive's database
        assert conn.execute(sa.text("select count(*) from apscheduler_jobs")).scalar() == 7

    # The machine was off for ten nights; on restart nothing is rescheduled from "now".
    later = T0 + timedelta(days=10, hours=-9)  # 03:00 on 20 January
    second = _started(settings)
    with db.session() as s:
        s.scalars(select(Source).where(Source.name == "fuyang")).one().enabled = False
    result = sched.sync_jobs(second, db, settings, later)
    assert sorted(result.removed) == ["crawl:fuyang:full:0", "crawl:fuyang:full:1", "crawl:fuyang:incremental"]
    assert result.added == [] and second.get_job("crawl:shouxian:incremental").next_run_time == nightly
    crawls = [d for d in sched.due_runs(second, later) if d.job.id.startswith(sched.JOB_PREFIX)]  # the 15th's audit too
    assert [(d.job.id, d.missed, d.misfired) for d in crawls] == [("crawl:shouxian:incremental", 10, False)]
    assert crawls[0].run_time == datetime(2027, 1, 20, 2, 0, tzinfo=SH)
    # Past the grace (6 h after 02:00) the missed run is skipped, as APScheduler would.
    assert sched.due_runs(second, later + timedelta(hours=6))[-1].misfired
    second.shutdown(wait=False)


def test_changed_schedule_is_rescheduled(db: Database, settings: Settings) -> None:
    _add_sources(db, "shuangyang")
    scheduler = _started(settings)
    sched.sync_jobs(scheduler, db, settings, T0)
    with db.session() as s:
        s.scalars(select(Source)).one().overrides = {"schedule": {"incremental": "0 3 * * *"}}
    result = sched.sync_jobs(scheduler, db, settings, T0)
    assert result.updated == ["crawl:shuangyang:incremental"] and len(result.kept) == 3  # 2 full sweeps + fixity
    assert scheduler.get_job("crawl:shuangyang:incremental").next_run_time == datetime(2027, 1, 11, 3, 0, tzinfo=SH)
    scheduler.shutdown(wait=False)


def test_run_once_runs_each_due_job_once_and_history_survives_restart(db: Database, settings: Settings) -> None:
    _add_sources(db, "zhangshu", "xqq", xqq={"schedule": {"incremental": "0 2 * * *", "full": False}})
    assert sched.run_once(settings, T0, sched.Runner(settings, db, fake_crawl())) == []  # jobs created, none due
    night = datetime(2027, 1, 11, 2, 30, tzinfo=SH)
    outcomes = sched.run_once(settings, night, sched.Runner(settings, db, fake_crawl()))
    assert sorted(o["job"] for o in outcomes) == ["crawl:xqq:incremental", "crawl:zhangshu:incremental"]
    assert all(o["returncode"] == 0 for o in outcomes)
    assert sorted(_runs(db)) == [("xqq", "incremental", "finished"), ("zhangshu", "incremental", "finished")]
    assert {o["batch_size"] for o in outcomes} == {2}  # both due sources in one crawl process
    with db.session() as s:
        assert len({r.pid for r in s.scalars(select(CrawlRun))}) == 1
        stats = s.scalars(select(CrawlRun)).first().stats
        assert stats["scheduler"]["returncode"] == 0 and "alerts" in stats["after_crawl"]
        assert stats["after_crawl"]["diffs"]["described"] == 0

    # A new scheduler instance on the same database: nothing is due again, the history is intact.
    assert sched.run_once(settings, night + timedelta(minutes=5), sched.Runner(settings, db, fake_crawl())) == []
    restarted = _started(settings)
    assert restarted.get_job("crawl:zhangshu:incremental").next_run_time == datetime(2027, 1, 12, 2, 0, tzinfo=SH)
    assert len(restarted.get_jobs()) == 5  # 2 sources' nightly and full sweeps + the monthly fixity audit
    restarted.shutdown(wait=False)
    assert len(_runs(db)) == 2

    # Three nights later, at 09:00: more than 6 h after 02:00, so the coalesced run misfires.
    outcomes = sched.run_once(settings, night + timedelta(days=3, hours=6, minutes=30), sched.Runner(settings, db, fake_crawl()))
    assert {o["status"] for o in outcomes} == {"misfired"} and len(_runs(db)) == 2


def test_a_source_being_crawled_is_not_started_twice(db: Database, settings: Settings) -> None:
    _add_sources(db, "yongxing")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with db.session() as s:
        src = s.scalars(select(Source)).one()
        s.add(CrawlRun(source_id=src.id, kind="manual", status="running", pid=dead.pid))  # killed earlier
        live = CrawlRun(source_id=src.id, kind="manual", status="running", pid=os.getpid())  # `ogi crawl` by hand
        s.add(live)
    runner = sched.Runner(settings, db, fake_crawl())
    runner.scheduler = scheduler = _started(settings)
    assert runner.run("yongxing", "incremental")["status"] == "skipped"
    retry = scheduler.get_job("crawl:yongxing:incremental:retry")
    assert retry is not None and retry.kwargs == {"source": "yongxing", "kind": "incremental", "retry": True}
    # The retry job is kept by a later sync (it is not in the sources' schedules but belongs to one).
    assert "crawl:yongxing:incremental:retry" in sched.sync_jobs(scheduler, db, settings).kept
    scheduler.shutdown(wait=False)

    with db.session() as s:
        s.get(CrawlRun, live.id).status = "finished"
    # Another process (here: another runner) holding the lock also blocks a start.
    with sched.Runner(settings, db, fake_crawl()).source_lock("yongxing") as got:
        assert got
        assert runner.run("yongxing", "incremental")["status"] == "skipped"
    assert runner.run("yongxing", "incremental")["returncode"] == 0


def test_stop_terminates_the_crawl_and_marks_it_interrupted(db: Database, settings: Settings) -> None:
    _add_sources(db, "slow")
    runner = sched.Runner(settings, db, fake_crawl(pause=60))
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(runner.run("slow", "full")))
    worker.start()
    deadline = time.monotonic() + 30
    while not _runs(db) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _runs(db) == [("slow", "full", "running")]
    started = time.monotonic()
    runner.stop(timeout=10)
    worker.join(20)
    assert not worker.is_alive() and time.monotonic() - started < 15
    assert outcome["returncode"] == -signal.SIGTERM
    assert _runs(db) == [("slow", "full", "interrupted")]


def test_scheduler_process_stops_cleanly_on_sigterm(db: Database, settings: Settings, tmp_path: Path) -> None:
    _add_sources(db, "huangpi")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scheduler.py"), "--db", db.url, "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "scheduler running" in line:
                break
        assert any("crawl:huangpi:incremental" in line for line in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "scheduler stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    with db.engine.connect() as conn:  # one source's three jobs + the monthly fixity audit
        assert conn.execute(sa.text("select count(*) from apscheduler_jobs")).scalar() == 4


@pytest.mark.parametrize("expr, weekday", [("0 2 * * 1", 0), ("0 2 * * 0", 6), ("0 2 * * 7", 6), ("0 2 * * 5-6", 4)])
def test_crontab_weekdays_count_from_sunday(expr: str, weekday: int) -> None:
    assert sched.crontab(expr, SH).get_next_fire_time(None, T0).weekday() == weekday


def test_running_scheduler_batches_the_sources_due_together(db: Database, settings: Settings) -> None:
    """``serve()``: the jobs that fire together run as one batch; coalescing and misfire grace as stored."""
    now = datetime.now(SH)
    # "missed" and "toolate" fire daily at the hour they missed, so no later night of theirs falls
    # before now (at 02:00-08:00 Shanghai time the default 02:00 nightly would be a run in grace).
    _add_sources(db, "jingxian", "taihe", "missed", "toolate",
                 missed=_daily_at(now - timedelta(hours=3)), toolate=_daily_at(now - timedelta(hours=10)))
    helper = _started(settings)
    sched.sync_jobs(helper, db, settings, T0)
    helper.shutdown(wait=False)
    # Due in a second; "missed" 3 h ago (within the 6 h grace: run once); "toolate" 10 h ago (skipped).
    _set_next_run(settings, {"jingxian": now + timedelta(seconds=1), "taihe": now + timedelta(seconds=1),
                             "missed": now - timedelta(hours=3), "toolate": now - timedelta(hours=10)})

    stop = threading.Event()
    server = threading.Thread(target=sched.serve, args=(settings, stop, sched.Runner(settings, db, fake_crawl(), window=2)))
    server.start()
    try:
        deadline = time.monotonic() + 30
        while _flowed(db) < 3:  # crawled, then the batch's after-crawl flow ran
            assert time.monotonic() < deadline, _runs(db)
            time.sleep(0.2)
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()
    assert sorted(_runs(db)) == [(n, "incremental", "finished") for n in ("jingxian", "missed", "taihe")]
    with db.session() as s:
        runs = s.scalars(select(CrawlRun)).all()
        assert len({r.pid for r in runs}) == 1  # one crawl process for the three
        assert all("alerts" in r.stats["after_crawl"] for r in runs)  # the after-crawl flow ran for the batch
    restarted = _started(settings)  # each job moved on to its next night, in the stored job table
    assert all(restarted.get_job(f"crawl:{n}:incremental").next_run_time > now
               for n in ("jingxian", "taihe", "missed", "toolate"))
    restarted.shutdown(wait=False)


def _daily_at(when: datetime) -> dict:
    """Source overrides for a nightly crawl at ``when``'s time of day (Shanghai)."""
    return {"schedule": {"timezone": "Asia/Shanghai", "incremental": f"{when.minute} {when.hour} * * *"}}


def _flowed(db: Database) -> int:
    with db.session() as s:
        return sum("after_crawl" in (r.stats or {}) for r in s.scalars(select(CrawlRun)))


def _set_next_run(settings: Settings, times: dict[str, datetime]) -> None:
    """Set stored nightly jobs' next run times, as a restarted machine finds them.

    Straight in APScheduler's job store: a scheduler of its own, even paused, would process
    past-due jobs as it shuts down.
    """
    store = SQLAlchemyJobStore(url=sched.jobstore_url(settings.db_url), tablename=sched.JOBSTORE_TABLE)
    store.start(sched.build_scheduler(settings), "default")
    for source, when in times.items():
        job = store.lookup_job(f"crawl:{source}:incremental")
        job.next_run_time = when
        store.update_job(job)
    store.shutdown()
