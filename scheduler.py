"""The scheduler: nightly incremental re-crawls and yearly full sweeps of every enabled source.

``python scheduler.py`` runs until SIGTERM/SIGINT; ``python scheduler.py --once [--now ISO]``
runs the jobs that are due and exits (for cron, systemd timers and tests).

Why it looks like this:

- Jobs live in the archive's own database (APScheduler's ``SQLAlchemyJobStore``, table
  ``apscheduler_jobs``, created by APScheduler), so they survive restarts and a machine that
  was off runs each missed job once (``coalesce``) if it is still within its misfire grace.
- Jobs are synchronised from the ``sources`` table on every start without touching the
  ``next_run_time`` of unchanged jobs: replacing them would silently drop missed runs.
- Each run is ``ogi crawl --source NAME --kind incremental|full`` in a subprocess, because
  Twisted's reactor cannot be restarted inside one process.
- Never two runs of one source at once, across processes too: a lock per source
  (``pg_try_advisory_lock`` on PostgreSQL, ``flock`` on a file beside the SQLite database) is
  held for the whole run, and a source with a ``running`` CrawlRun whose process is alive
  (e.g. a manual ``ogi crawl``) is not started again. A refused run is retried later by a
  one-off job, so a yearly sweep is not lost because the nightly run was still going.
- After a run the value diffs of revisions are added to the outbox events
  (:func:`storage.diff.complete_revision_details`) and the alerts are sent
  (``alerts.send.send_pending``); what happened is recorded in the run's ``stats``.

Schedules (all per source, in ``Source.overrides["schedule"]``, defaults from Settings)::

    schedule:
      timezone: Asia/Shanghai        # default Settings.timezone
      incremental: "0 2 * * *"       # crontab, or false; default Settings.nightly_cron
      full: ["30 3 10 2 *"]          # crontabs, or false; default: one sweep in each of
                                     # Settings.full_sweep_months, staggered per source
      misfire_grace_hours: 6         # default 6 for incremental, 168 for full sweeps
      crawl_settings:                # Scrapy settings for this source's crawls (``-s NAME=VALUE``)
        DOWNLOAD_DELAY: 5
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import hashlib
import importlib.util
import json
import logging
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import func, select

from ogi.config import Settings, load_settings
from storage.db import Database
from storage.diff import complete_revision_details
from storage.models import CrawlRun, Source, utcnow
from storage.runs import live_runs

logger = logging.getLogger("scheduler")

JOBSTORE_TABLE = "apscheduler_jobs"
JOB_FUNC = "scheduler:run_source_job"  # by name, so stored jobs load in any process
JOB_PREFIX = "crawl:"
DEFAULT_GRACE_HOURS = {"incremental": 6, "full": 7 * 24}
RETRY_DELAY = timedelta(minutes=20)
# Full sweeps are spread over the first 28 days of the month and the small hours, so the
# portals of one province are not all swept at once.
STAGGER_DAYS, STAGGER_HOURS = 28, 6


@dataclass(frozen=True)
class JobSpec:
    """One scheduled crawl of one source."""

    id: str
    source: str
    kind: str  # incremental | full
    trigger: BaseTrigger
    misfire_grace_time: int  # seconds


def stagger(name: str, salt: str = "") -> tuple[int, int, int]:
    """(day of month 1-28, hour 0-5, minute) for a source: fixed per name, spread across names."""
    h = int.from_bytes(hashlib.sha256(f"{name}\0{salt}".encode()).digest()[:8], "big")
    return 1 + h % STAGGER_DAYS, (h // STAGGER_DAYS) % STAGGER_HOURS, (h // (STAGGER_DAYS * STAGGER_HOURS)) % 60


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab(expr: str, tz: ZoneInfo) -> CronTrigger:
    """A trigger from a standard 5-field crontab (day of week 0 or 7 = Sunday).

    APScheduler 3's ``CronTrigger.from_crontab`` counts weekdays from Monday = 0, so "1" would
    mean Tuesday; numbers are turned into day names first.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"crontab needs 5 fields (minute hour day month weekday), got {expr!r}")
    fields[4] = re.sub(r"(?<![/\d])\d+", lambda m: _CRON_DAYS[int(m.group()) % 7], fields[4])
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=tz)


def _months(spec: str) -> list[int]:
    months = [int(m) for m in str(spec).replace(" ", "").split(",") if m]
    if not months or any(not 1 <= m <= 12 for m in months):
        raise ValueError(f"full_sweep_months must list months 1-12, got {spec!r}")
    return months


def source_jobs(source: Source, settings: Settings) -> list[JobSpec]:
    """The jobs of one source from its ``overrides["schedule"]`` and the settings' defaults.

    Raises ValueError on an invalid schedule (bad crontab, unknown time zone).
    """
    schedule = dict((source.overrides or {}).get("schedule") or {})
    tz = ZoneInfo(schedule.get("timezone") or settings.timezone)
    grace = schedule.get("misfire_grace_hours")
    specs = []
    incremental = schedule.get("incremental", settings.nightly_cron)
    if incremental:
        specs.append(JobSpec(f"{JOB_PREFIX}{source.name}:incremental", source.name, "incremental",
                             crontab(incremental, tz),
                             int(3600 * (grace or DEFAULT_GRACE_HOURS["incremental"]))))
    full = schedule.get("full")
    if full is None:
        triggers = []
        for month in _months(schedule.get("full_sweep_months", settings.full_sweep_months)):
            day, hour, minute = stagger(source.name, str(month))
            triggers.append(CronTrigger(month=month, day=day, hour=hour, minute=minute, timezone=tz))
    else:
        triggers = [crontab(expr, tz) for expr in ([full] if isinstance(full, str) else full or [])]
    for i, trigger in enumerate(triggers):
        specs.append(JobSpec(f"{JOB_PREFIX}{source.name}:full:{i}", source.name, "full", trigger,
                             int(3600 * (grace or DEFAULT_GRACE_HOURS["full"]))))
    return specs


def jobstore_url(db_url: str) -> str:
    """The archive's database URL in the form SQLAlchemy wants (psycopg 3 for PostgreSQL)."""
    if db_url.startswith("postgresql://"):
        return "postgresql+psycopg://" + db_url[len("postgresql://"):]
    return db_url


def build_scheduler(settings: Settings, *, threads: int = 4) -> BackgroundScheduler:
    """A scheduler on the archive's database; not started. ``max_instances=1`` and ``coalesce`` for every job."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=jobstore_url(settings.db_url), tablename=JOBSTORE_TABLE)},
        executors={"default": {"type": "threadpool", "max_workers": threads}},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=ZoneInfo(settings.timezone),
    )


@dataclass
class SyncResult:
    added: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    kept: list[str] = dataclasses.field(default_factory=list)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)  # source name -> reason


def sync_jobs(scheduler: BackgroundScheduler, db: Database, settings: Settings, now: datetime | None = None) -> SyncResult:
    """Make the job store hold exactly the jobs of the enabled sources.

    Unchanged jobs are left alone (their ``next_run_time`` carries missed runs across a
    restart); changed ones are rescheduled from ``now``; jobs of disabled or deleted sources
    are removed. A source with an invalid schedule is reported in ``errors`` and skipped.
    The scheduler must be started (it may be paused) so the job store is open.
    """
    now = now or datetime.now(scheduler.timezone)
    result, wanted = SyncResult(), {}
    with db.session() as session:
        for source in session.scalars(select(Source).where(Source.enabled.is_(True)).order_by(Source.name)):
            try:
                wanted.update((spec.id, spec) for spec in source_jobs(source, settings))
            except (ValueError, KeyError, TypeError) as exc:
                result.errors[source.name] = f"invalid schedule: {exc}"
                logger.error("source %s: invalid schedule, not scheduled: %s", source.name, exc)
    sources = {spec.source for spec in wanted.values()} | set(result.errors)
    for job in scheduler.get_jobs():
        if job.id in wanted or not job.id.startswith(JOB_PREFIX):
            continue
        if job.kwargs.get("retry") and job.kwargs.get("source") in sources:
            result.kept.append(job.id)
            continue
        scheduler.remove_job(job.id)
        result.removed.append(job.id)
    for spec in wanted.values():
        _sync_one(scheduler, spec, now, result)
    return result


def _sync_one(scheduler: BackgroundScheduler, spec: JobSpec, now: datetime, result: SyncResult) -> None:
    job = scheduler.get_job(spec.id)
    first = spec.trigger.get_next_fire_time(None, now)
    if job is None:
        scheduler.add_job(JOB_FUNC, trigger=spec.trigger, id=spec.id, name=f"{spec.kind} crawl of {spec.source}",
                          kwargs={"source": spec.source, "kind": spec.kind}, misfire_grace_time=spec.misfire_grace_time,
                          next_run_time=first)
        result.added.append(spec.id)
    elif repr(job.trigger) != repr(spec.trigger) or job.misfire_grace_time != spec.misfire_grace_time:
        scheduler.modify_job(spec.id, trigger=spec.trigger, next_run_time=first, misfire_grace_time=spec.misfire_grace_time)
        result.updated.append(spec.id)
    else:
        result.kept.append(spec.id)


@dataclass(frozen=True)
class DueRun:
    """A job that is due at ``now``: its latest missed fire time (coalesced) and whether it misfired."""

    job: Job
    run_time: datetime
    missed: int  # fire times coalesced into this one run
    misfired: bool  # later than the job's misfire grace: skipped, as APScheduler would


def due_runs(scheduler: BackgroundScheduler, now: datetime) -> list[DueRun]:
    """What is due at ``now`` (the controllable clock of ``--once`` and the tests), computed from the triggers."""
    due = []
    for job in scheduler.get_jobs():
        if job.next_run_time is None or job.next_run_time > now:
            continue
        times, t = [], job.next_run_time
        while t is not None and t <= now:
            times.append(t)
            t = job.trigger.get_next_fire_time(t, now)
        grace = job.misfire_grace_time
        due.append(DueRun(job, times[-1], len(times), grace is not None and (now - times[-1]).total_seconds() > grace))
    return sorted(due, key=lambda d: (d.run_time, d.job.id))


def advance(scheduler: BackgroundScheduler, due: DueRun, now: datetime) -> None:
    """Move a due job past ``now`` (or remove a one-off job), before running it, as APScheduler does."""
    following = due.job.trigger.get_next_fire_time(due.run_time, now)
    if following is None:
        scheduler.remove_job(due.job.id)
    else:
        scheduler.modify_job(due.job.id, next_run_time=following)


def crawl_command(settings: Settings, source: str, kind: str) -> list[str]:
    """The subprocess that crawls one source: ``ogi crawl --source NAME --kind KIND --db URL``."""
    return [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", settings.data_dir,
            "crawl", "--source", source, "--kind", kind, "--db", settings.db_url]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


class Runner:
    """Runs crawls of sources in subprocesses, one at a time per source, and the steps after them."""

    def __init__(self, settings: Settings, db: Database | None = None,
                 command: Callable[[Settings, str, str], list[str]] = crawl_command) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.command = command
        self.stopping = threading.Event()
        self._children: set[subprocess.Popen[bytes]] = set()
        self._children_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None  # for retry jobs when a run is refused

    # -- the guard ---------------------------------------------------------------------------
    @contextmanager
    def source_lock(self, source: str) -> Iterator[bool]:
        """Hold the per-source lock for the block; yields False when another process holds it."""
        digest = hashlib.sha256(f"ogi-crawl:{source}".encode()).digest()
        if self.db.dialect == "postgresql":
            key = int.from_bytes(digest[:8], "big", signed=True)
            with self.db.engine.connect() as conn:
                got = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
                conn.commit()
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(select(func.pg_advisory_unlock(key)))
                        conn.commit()
            return
        path = self._lock_dir() / f"{digest.hex()[:20]}.lock"
        with open(path, "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _lock_dir(self) -> Path:
        database = self.db.engine.url.database
        base = Path(database).parent if database and database != ":memory:" else Path(self.settings.data_dir)
        path = base / ".crawl-locks"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- one run -------------------------------------------------------------------------------
    def run(self, source: str, kind: str) -> dict[str, Any]:
        """Crawl ``source`` now unless it is already being crawled; return what happened."""
        with self.source_lock(source) as got:
            busy = not got or self._source_busy(source)
            if busy:
                logger.warning("source %s is being crawled already: %s crawl postponed", source, kind)
                self._schedule_retry(source, kind)
                return {"source": source, "kind": kind, "status": "skipped", "reason": "already running"}
            return self._run_locked(source, kind)

    def _source_busy(self, source: str) -> bool:
        with self.db.session() as session:
            row = session.scalars(select(Source).where(Source.name == source)).first()
            return bool(row and live_runs(session, row.id))

    def _crawl_settings(self, source: str) -> list[str]:
        """``-s NAME=VALUE`` for the source's ``schedule.crawl_settings`` (e.g. a slower portal's delay)."""
        with self.db.session() as session:
            row = session.scalars(select(Source).where(Source.name == source)).first()
            extra = ((row.overrides or {}).get("schedule") or {}).get("crawl_settings") or {} if row else {}
        return [arg for name, value in extra.items() for arg in ("-s", f"{name}={value}")]

    def _schedule_retry(self, source: str, kind: str) -> None:
        if self.scheduler is None or self.stopping.is_set():
            return
        when = datetime.now(self.scheduler.timezone) + RETRY_DELAY
        self.scheduler.add_job(JOB_FUNC, trigger=DateTrigger(when), id=f"{JOB_PREFIX}{source}:{kind}:retry",
                               kwargs={"source": source, "kind": kind, "retry": True}, replace_existing=True,
                               misfire_grace_time=int(3600 * DEFAULT_GRACE_HOURS[kind]), name=f"retry {kind} crawl of {source}")

    def _run_locked(self, source: str, kind: str) -> dict[str, Any]:
        started = utcnow()
        log_path = Path(self.settings.data_dir) / "logs" / f"crawl-{source}-{kind}-{started:%Y%m%dT%H%M%S}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting %s crawl of %s (log: %s)", kind, source, log_path)
        command = self.command(self.settings, source, kind) + self._crawl_settings(source)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            with self._children_lock:
                self._children.add(proc)
            try:
                returncode = proc.wait()
            finally:
                with self._children_lock:
                    self._children.discard(proc)
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        run_id = self._settle_run(source, kind, proc.pid, started, returncode, tail)
        outcome = {"source": source, "kind": kind, "run_id": run_id, "returncode": returncode, "log": str(log_path)}
        if not self.stopping.is_set():
            outcome.update(self.after_run(run_id))
        return outcome

    def _settle_run(self, source: str, kind: str, pid: int, started: datetime, returncode: int, tail: str) -> int:
        """The CrawlRun of the subprocess, marked finished/failed/interrupted; created if the crawl made none."""
        with self.db.session() as session:
            src = session.scalars(select(Source).where(Source.name == source)).first()
            query = select(CrawlRun).where(CrawlRun.started_at >= started - timedelta(seconds=5))
            if src is not None:
                query = query.where(CrawlRun.source_id == src.id)
            runs = session.scalars(query.order_by(CrawlRun.id)).all()
            run = next((r for r in runs if r.pid == pid), runs[-1] if runs else None)
            if run is None:
                run = CrawlRun(source_id=src.id if src else None, kind=kind, status="failed", started_at=started,
                               finished_at=utcnow(), pid=pid, message=f"crawl exited with {returncode} before recording a run: {tail[-500:]}")
                session.add(run)
            elif run.status == "running":
                run.status = "interrupted" if self.stopping.is_set() or returncode < 0 else ("finished" if returncode == 0 else "failed")
                run.finished_at = run.finished_at or utcnow()
                if returncode != 0:
                    run.message = (run.message + "\n" if run.message else "") + f"exit status {returncode}"
            run.stats = {**(run.stats or {}), "scheduler": {"returncode": returncode, "kind": kind}}
            session.flush()
            return run.id

    def after_run(self, run_id: int) -> dict[str, Any]:
        """Add value diffs to the run's revision events, then send alerts; record both in the run's stats."""
        stats: dict[str, Any] = {}
        with self.db.session() as session:
            stats["revisions_described"] = complete_revision_details(session, run_id=run_id)
        if importlib.util.find_spec("alerts.send") is None:
            stats["alerts"] = {"skipped": "alerts.send is not installed"}
        else:
            try:
                from alerts.send import send_pending

                stats["alerts"] = _jsonable(send_pending(self.db, self.settings, run_id=run_id))
            except Exception as exc:  # noqa: BLE001 - any failure is recorded and shown by `ogi runs`
                logger.exception("sending alerts after run %s failed", run_id)
                stats["alerts_error"] = f"{type(exc).__name__}: {exc}"
        with self.db.session() as session:
            run = session.get(CrawlRun, run_id)
            run.stats = {**(run.stats or {}), **stats}
        return stats

    # -- stopping ------------------------------------------------------------------------------
    def terminate(self) -> list[subprocess.Popen[bytes]]:
        """Ask running crawls to stop (SIGTERM) without waiting; safe in a signal handler."""
        self.stopping.set()
        with self._children_lock:
            children = list(self._children)
        for proc in children:
            proc.terminate()
        return children

    def stop(self, timeout: float = 30) -> None:
        """Terminate running crawls (SIGTERM, then SIGKILL after ``timeout``); their runs end ``interrupted``."""
        for proc in self.terminate():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()


_runner: Runner | None = None


def run_source_job(source: str, kind: str, retry: bool = False) -> dict[str, Any]:
    """The function every stored job calls (by name): crawl one source with this process's runner."""
    global _runner
    if _runner is None:
        _runner = Runner(load_settings())
    return _runner.run(source, kind)


def _parse_now(value: str | None, tz: ZoneInfo) -> datetime:
    if not value:
        return datetime.now(tz)
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=tz)


def run_once(settings: Settings, now: datetime | None = None, runner: Runner | None = None) -> list[dict[str, Any]]:
    """Synchronise the jobs, run every job due at ``now`` (each once, coalesced), and return the outcomes."""
    global _runner
    runner = _runner = runner or Runner(settings)
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    runner.scheduler = scheduler
    try:
        now = now or datetime.now(scheduler.timezone)
        sync_jobs(scheduler, runner.db, settings, now)
        outcomes = []
        for due in due_runs(scheduler, now):
            advance(scheduler, due, now)
            if due.misfired:
                logger.warning("job %s missed its run at %s by more than its grace: skipped", due.job.id, due.run_time)
                outcomes.append({"job": due.job.id, "status": "misfired", "run_time": due.run_time.isoformat()})
                continue
            if runner.stopping.is_set():
                break
            outcome = runner.run(due.job.kwargs["source"], due.job.kwargs["kind"])
            outcomes.append({"job": due.job.id, "run_time": due.run_time.isoformat(), "missed": due.missed, **outcome})
        return outcomes
    finally:
        runner.scheduler = None
        scheduler.shutdown(wait=False)


def serve(settings: Settings, stop: threading.Event | None = None) -> None:
    """Run the scheduler until ``stop`` is set (SIGTERM/SIGINT set it in :func:`main`)."""
    global _runner
    stop = stop or threading.Event()
    runner = _runner = Runner(settings)
    scheduler = build_scheduler(settings)
    scheduler.start(paused=True)
    runner.scheduler = scheduler
    result = sync_jobs(scheduler, runner.db, settings)
    logger.info("scheduler started: %d job(s) (%d added, %d updated, %d removed)", len(scheduler.get_jobs()),
                len(result.added), len(result.updated), len(result.removed))
    for job in scheduler.get_jobs():
        logger.info("  %s next at %s", job.id, job.next_run_time)
    scheduler.resume()
    print("scheduler running; SIGTERM or Ctrl-C stops it", flush=True)
    stop.wait()
    logger.info("stopping: terminating running crawls")
    scheduler.pause()
    runner.stop()
    scheduler.shutdown(wait=True)
    logger.info("scheduler stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scheduler.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run the jobs due now and exit")
    parser.add_argument("--now", help="with --once: the time to take as now (ISO 8601; default: the clock)")
    parser.add_argument("--db", help="database URL (default: $OGI_DATABASE_URL or the config file)")
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("--data-dir", help="data directory")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO - 10 * args.verbose, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    settings = load_settings(args.config, database_url=args.db, data_dir=args.data_dir)
    if args.once:
        runner = Runner(settings)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.terminate())
        outcomes = run_once(settings, _parse_now(args.now, ZoneInfo(settings.timezone)), runner)
        for outcome in outcomes:
            print(json.dumps(outcome, ensure_ascii=False, default=str))
        return 1 if any(o.get("returncode") not in (None, 0) for o in outcomes) else 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    serve(settings, stop)
    return 0


if __name__ == "__main__":
    # Run the importable module, not ``__main__``: stored jobs call "scheduler:run_source_job",
    # which must see the runner that main() set up.
    import scheduler

    sys.exit(scheduler.main())
