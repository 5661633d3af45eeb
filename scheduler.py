"""The scheduler: nightly incremental re-crawls and yearly full sweeps of every enabled source.

``python scheduler.py`` runs until SIGTERM/SIGINT; ``python scheduler.py --once [--now ISO]``
runs the jobs that are due and exits (for cron, systemd timers and tests).

Why it looks like this:

- Jobs live in the archive's own database (APScheduler's ``SQLAlchemyJobStore``, table
  ``apscheduler_jobs``, created by APScheduler), so they survive restarts and a machine that
  was off runs each missed job once (``coalesce``) if it is still within its misfire grace.
- Jobs are synchronised from the ``sources`` table on every start without touching the
  ``next_run_time`` of unchanged jobs: replacing them would silently drop missed runs.
- Due sources are crawled in batches (``Settings.nightly_batch_size``, :mod:`flow.nightly`):
  one ``ogi crawl --source A --source B … --kind incremental|full`` subprocess per batch
  (Twisted's reactor cannot be restarted inside one process), each source with its own run,
  politeness per host and budget; the after-crawl flow runs once per batch. ``--once`` plans
  the batches from everything due; the long-running scheduler keeps one job per source (so
  each keeps its own coalescing and misfire grace) whose firing only *collects* the source:
  what fires within :data:`COLLECT_WINDOW_S` of the first is planned into batches together,
  which run on a few local threads, or are queued when ``queue_url`` is set (``ogi worker``
  runs them).
- Never two runs of one source at once, across processes too: a lock per source
  (``pg_try_advisory_lock`` on PostgreSQL, ``flock`` on a file beside the SQLite database) is
  held for the whole run, and a source with a ``running`` CrawlRun whose process is alive
  (e.g. a manual ``ogi crawl``) is not started again. A refused run is retried later by a
  one-off job, so a yearly sweep is not lost because the nightly run was still going.
- Extraction runs beside a batch's crawl (``Settings.extract_workers`` processes, or
  ``ogi.extract_beside`` jobs on the queue), so it is not on the crawl's path; after the batch
  the after-crawl flow (:func:`flow.after_crawl.after_crawl`: the last extractions, value
  diffs of revisions, search index, alerts) runs once for all its runs (one digest per
  subscriber per batch); what happened is recorded in each run's ``stats``.

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
import json
import logging
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
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

from domain.config import Settings, load_settings
from flow.nightly import Batch, crawl_command, plan_batches, run_batch
from storage.db import Database
from storage.fixity import audit
from storage.models import Source
from storage.runs import live_runs

logger = logging.getLogger("scheduler")

JOBSTORE_TABLE = "apscheduler_jobs"
JOB_FUNC = "scheduler:run_source_job"  # by name, so stored jobs load in any process
JOB_PREFIX = "crawl:"
FIXITY_JOB, FIXITY_FUNC = "fixity:monthly", "scheduler:run_fixity_job"
DEFAULT_GRACE_HOURS = {"incremental": 6, "full": 7 * 24}
RETRY_DELAY = timedelta(minutes=20)
# The long-running scheduler's jobs due at one time fire within milliseconds of each other;
# what fires within this many seconds of the first is batched together.
COLLECT_WINDOW_S = 5.0
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
    _sync_fixity(scheduler, settings, now, result)
    return result


def _sync_fixity(scheduler: BackgroundScheduler, settings: Settings, now: datetime, result: SyncResult) -> None:
    """The monthly fixity audit of a rotating sample (``fixity_cron``, ``fixity_sample``)."""
    job = scheduler.get_job(FIXITY_JOB)
    if not settings.fixity_cron:
        if job is not None:
            scheduler.remove_job(FIXITY_JOB)
            result.removed.append(FIXITY_JOB)
        return
    trigger = crontab(settings.fixity_cron, ZoneInfo(settings.timezone))
    first = trigger.get_next_fire_time(None, now)
    if job is None:
        scheduler.add_job(FIXITY_FUNC, trigger=trigger, id=FIXITY_JOB, name="monthly fixity audit",
                          misfire_grace_time=int(DEFAULT_GRACE_HOURS["full"] * 3600), next_run_time=first)
        result.added.append(FIXITY_JOB)
    elif repr(job.trigger) != repr(trigger):
        scheduler.modify_job(FIXITY_JOB, trigger=trigger, next_run_time=first)
        result.updated.append(FIXITY_JOB)
    else:
        result.kept.append(FIXITY_JOB)


def run_fixity(settings: Settings, db: Database) -> dict[str, Any]:
    """Audit ``fixity_sample`` blobs and WARC files after the last audit's (storage/fixity.py)."""
    with db.session() as session:
        result = audit(session, settings.data_dir, sample=settings.fixity_sample)
    if not result.ok:
        logger.error("fixity audit: %d problem(s), e.g. %s", len(result.problems), result.problems[0])
    return {"job": FIXITY_JOB, "ok": result.ok, "blobs": result.blobs, "warc_records": result.warc_records,
            "problems": len(result.problems)}


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


class Runner:
    """Runs batches of sources in crawl subprocesses (:func:`flow.nightly.run_batch`), never two runs of one source at once."""

    def __init__(self, settings: Settings, db: Database | None = None,
                 command: Callable[[Settings, Batch], list[str]] = crawl_command, *,
                 window: float = COLLECT_WINDOW_S, threads: int = 4) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.command = command
        self.stopping = threading.Event()
        self._children: set[subprocess.Popen[bytes]] = set()
        self._children_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None  # for retry jobs when a run is refused
        self.window = window
        self._due: dict[tuple[str, str], None] = {}  # collected (source, kind), in firing order
        self._due_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._batches = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="batch")  # threads start on first use

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

    # -- runs ----------------------------------------------------------------------------------
    def run(self, source: str, kind: str) -> dict[str, Any]:
        """Crawl ``source`` now unless it is already being crawled; return what happened."""
        return self.run_batch(Batch(kind, (source,)))[0]

    def run_batch(self, batch: Batch) -> list[dict[str, Any]]:
        """Crawl the batch's sources in one process, except those being crawled already (retried later).

        One outcome per source; the after-crawl flow ran once for the whole batch.
        """
        with ExitStack() as stack:
            free, skipped = [], []
            for source in batch.sources:
                got = stack.enter_context(self.source_lock(source))
                (free if got and not self._source_busy(source) else skipped).append(source)
            for source in skipped:
                logger.warning("source %s is being crawled already: %s crawl postponed", source, batch.kind)
                self._schedule_retry(source, batch.kind)
            outcomes = [{"source": s, "kind": batch.kind, "status": "skipped", "reason": "already running"} for s in skipped]
            if free:
                result = run_batch(self.settings, self.db, dataclasses.replace(batch, sources=tuple(free)),
                                   command=self.command, started_process=self._track, stopping=self.stopping)
                with self._children_lock:
                    self._children = {p for p in self._children if p.poll() is None}
                outcomes += result.outcomes()
        order = {s: i for i, s in enumerate(batch.sources)}
        return sorted(outcomes, key=lambda o: order[o["source"]])

    # -- the long-running scheduler's due jobs ---------------------------------------------------
    def collect(self, source: str, kind: str) -> dict[str, Any]:
        """A job fired: note the due crawl; what fires within ``window`` s of the first is batched together.

        The job returns at once instead of crawling in APScheduler's thread, so every source
        due at 02:00 joins the same batches whatever the size of the scheduler's thread pool.
        """
        with self._due_lock:
            self._due[(source, kind)] = None
            if self._timer is None and not self.stopping.is_set():
                self._timer = threading.Timer(self.window, self._dispatch)
                self._timer.daemon = True
                self._timer.start()
        return {"source": source, "kind": kind, "status": "collected"}

    def _dispatch(self) -> None:
        """Plan the collected crawls into batches and queue them (``queue_url``) or run them here."""
        with self._due_lock:
            due, self._due, self._timer = list(self._due), {}, None
        if self.stopping.is_set() or not due:
            return
        try:
            batches = plan_batches(self.db, due, self.settings.nightly_batch_size)
            if self.settings.queue_url:  # procrastinate imported only then
                from flow.jobs import defer_batches

                defer_batches(self.settings, batches)
                logger.info("queued %d batch(es) of %d due crawl(s)", len(batches), len(due))
                return
        except Exception as exc:  # noqa: BLE001 - the database or the queue is down (any driver error): each crawl is retried later
            logger.error("could not plan or queue %d due crawl(s), each retried in %s: %s", len(due), RETRY_DELAY, exc)
            for source, kind in due:
                self._schedule_retry(source, kind)
            return
        for batch in batches:
            self._batches.submit(self._run_logged, batch)

    def _run_logged(self, batch: Batch) -> None:
        if self.stopping.is_set():
            return
        try:
            for outcome in self.run_batch(batch):
                logger.info("%s crawl of %s: %s", outcome["kind"], outcome["source"], outcome.get("status") or
                            f"exit status {outcome.get('returncode')}")
        except Exception:  # nobody waits on this thread: the reason goes to the log, and the runs say what was done
            logger.exception("%s batch of %d source(s) failed", batch.kind, len(batch.sources))

    def _track(self, proc: subprocess.Popen[bytes]) -> None:
        with self._children_lock:
            self._children.add(proc)

    def _source_busy(self, source: str) -> bool:
        with self.db.session() as session:
            row = session.scalars(select(Source).where(Source.name == source)).first()
            return bool(row and live_runs(session, row.id))

    def _schedule_retry(self, source: str, kind: str) -> None:
        if self.scheduler is None or self.stopping.is_set():
            return
        when = datetime.now(self.scheduler.timezone) + RETRY_DELAY
        self.scheduler.add_job(JOB_FUNC, trigger=DateTrigger(when), id=f"{JOB_PREFIX}{source}:{kind}:retry",
                               kwargs={"source": source, "kind": kind, "retry": True}, replace_existing=True,
                               misfire_grace_time=int(3600 * DEFAULT_GRACE_HOURS[kind]), name=f"retry {kind} crawl of {source}")

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
        """Terminate running crawls (SIGTERM, then SIGKILL after ``timeout``); their runs end ``interrupted``.

        Collected crawls not yet started are dropped (their jobs have moved on; a restart
        within the misfire grace does not bring them back, as with any run cut short).
        """
        with self._due_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._due, self._timer = {}, None
        for proc in self.terminate():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._batches.shutdown(wait=True, cancel_futures=True)


_runner: Runner | None = None


def run_source_job(source: str, kind: str, retry: bool = False) -> dict[str, Any]:
    """The function every stored job calls (by name): this process's runner batches the source with others due."""
    global _runner
    if _runner is None:
        _runner = Runner(load_settings())
    return _runner.collect(source, kind)


def run_fixity_job() -> dict[str, Any]:
    """The function the stored audit job calls (by name), with this process's runner."""
    runner = _runner or Runner(load_settings())
    return run_fixity(runner.settings, runner.db)


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
        outcomes, jobs = [], {}
        for due in due_runs(scheduler, now):
            advance(scheduler, due, now)
            if due.misfired:
                logger.warning("job %s missed its run at %s by more than its grace: skipped", due.job.id, due.run_time)
                outcomes.append({"job": due.job.id, "status": "misfired", "run_time": due.run_time.isoformat()})
                continue
            if due.job.id == FIXITY_JOB:
                outcomes.append(run_fixity(settings, runner.db))
                continue
            jobs.setdefault((due.job.kwargs["source"], due.job.kwargs["kind"]), due)
        batches = plan_batches(runner.db, jobs, settings.nightly_batch_size)
        if settings.queue_url:  # queued; local workers help until the queue is empty (procrastinate imported only then)
            from flow.jobs import run_on_queue

            done = run_on_queue(settings, runner.db, batches)
        else:
            done = [o for batch in batches if not runner.stopping.is_set() for o in runner.run_batch(batch)]
        for outcome in done:
            due = jobs[(outcome["source"], outcome["kind"])]
            outcomes.append({"job": due.job.id, "run_time": due.run_time.isoformat(), "missed": due.missed, **outcome})
        return outcomes
    finally:
        runner.scheduler = None
        scheduler.shutdown(wait=False)


def serve(settings: Settings, stop: threading.Event | None = None, runner: Runner | None = None) -> None:
    """Run the scheduler until ``stop`` is set (SIGTERM/SIGINT set it in :func:`main`)."""
    global _runner
    stop = stop or threading.Event()
    runner = _runner = runner or Runner(settings)
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
    """``python scheduler.py [--once] [--now ISO] [--db URL] [--config FILE] [--data-dir DIR]``."""
    parser = argparse.ArgumentParser(prog="scheduler.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="run the jobs due now and exit")
    parser.add_argument("--now", type=parse_now, help="with --once: the time to take as now (ISO 8601; default: the clock)")
    parser.add_argument("--db", help="database URL (default: $OGI_DATABASE_URL or the config file)")
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("--data-dir", help="data directory")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO - 10 * args.verbose, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    settings = load_settings(args.config, database_url=args.db, data_dir=args.data_dir)
    return run(settings, once=args.once, now=args.now)


def parse_now(value: str) -> datetime:
    """``--now``: an ISO 8601 time; without a zone it is taken in the settings' timezone by :func:`run`."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None


def run(settings: Settings, *, once: bool = False, now: datetime | None = None) -> int:
    """What ``scheduler.py`` and ``ogi scheduler`` run: the jobs due at ``now`` (``once``; one JSON
    line per outcome, exit status 1 if a crawl failed), or the scheduler until SIGTERM/SIGINT."""
    if once:
        runner = Runner(settings)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.terminate())
        tz = ZoneInfo(settings.timezone)
        when = datetime.now(tz) if now is None else now if now.tzinfo else now.replace(tzinfo=tz)
        outcomes = run_once(settings, when, runner)
        for outcome in outcomes:
            print(json.dumps(outcome, ensure_ascii=False, default=str), flush=True)
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
