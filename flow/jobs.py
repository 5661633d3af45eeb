"""The nightly on a task queue: crawl batches and the after-crawl flow as procrastinate jobs.

Why procrastinate (bench/results/queue_choice.txt, README "Workers"): the archive already
runs on PostgreSQL, so the queue needs no new service; a job is a row, deferred in a
transaction; ``lock=`` serialises the jobs of one batch (two workers never crawl the same
sources, so never the same hosts, at once) and ``queueing_lock=`` keeps a batch queued once;
a failing job runs at most :data:`MAX_ATTEMPTS` times and then stays
``failed`` (parked: :func:`parked_jobs`, shown by ``ogi runs`` and ``GET /api/admin/jobs``);
workers send heartbeats, so the jobs of a worker killed with ``kill -9`` are found stalled and
run again elsewhere (:func:`retry_stalled`), at most as many times. procrastinate keeps no
error text, so each failure's reason is written to :data:`FAILURES_TABLE` beside its jobs.

Nothing is recorded twice when a batch runs again: each source's interrupted run is resumed
(``crawler.state``), report versions are keyed by content hash and alert events are claimed
once from the outbox.

Queues: ``crawl`` (polite and mostly waiting: many per machine) and ``after_crawl``
(extraction: CPU, OCR, LibreOffice; its concurrency is set per machine with
``ogi worker --queue after_crawl --concurrency N``), so extraction is never on a crawl's path.
A crawl batch's job queues ``ogi.extract_beside`` as it starts: that job extracts what the crawl
records while it runs; then the batch's ``ogi.after_batch`` extracts the last versions and runs
diffs, index and alerts once for the batch.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
from procrastinate.exceptions import AlreadyEnqueued

from domain.config import Settings, load_settings
from flow.after_crawl import after_crawl
from flow.nightly import Batch, run_batch
from pipelines.bounded import Budget
from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database

logger = logging.getLogger(__name__)

CRAWL_QUEUE, AFTER_QUEUE = "crawl", "after_crawl"
QUEUES = (CRAWL_QUEUE, AFTER_QUEUE)
MAX_ATTEMPTS = 3  # runs of a job in all; then it is parked
# procrastinate's max_attempts counts the retries after the first run.
RETRY = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS - 1, wait=2)
FAILURES_TABLE = "ogi_job_failures"  # the last failure of each job: procrastinate keeps none

app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=["flow.jobs"])
_settings: Settings | None = None  # the worker process's settings (``ogi worker`` sets them)


class CrawlError(RuntimeError):
    """The crawl process of a batch failed; the job runs up to :data:`MAX_ATTEMPTS` times."""


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return "postgresql://" + url.split("://", 1)[1] if url.startswith("postgresql") else url


@contextmanager
def connected(settings: Settings, *, sync: bool = False) -> Iterator[procrastinate.App]:
    """The app on ``settings.queue_url`` for the block (not opened); its tables are created on first use.

    ``sync``: for deferring from plain code (:func:`enqueue`); workers use the asynchronous connector.
    """
    global _settings
    if not settings.queue_url:
        raise ValueError("no task queue configured (set queue_url / OGI_QUEUE_URL to a PostgreSQL URL)")
    _settings = settings
    ensure_schema(settings.queue_url)
    connector = procrastinate.SyncPsycopgConnector if sync else procrastinate.PsycopgConnector
    with app.replace_connector(connector(conninfo=conninfo(settings.queue_url))) as queue:
        yield queue


def ensure_schema(url: str) -> None:
    """Create procrastinate's tables once; concurrent first starts wait for each other."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('ogi-procrastinate-schema'))")
        try:
            if conn.execute("select to_regclass('procrastinate_jobs')").fetchone()[0] is None:
                conn.execute(procrastinate.schema.SchemaManager.get_schema())
            conn.execute(f"create table if not exists {FAILURES_TABLE} (job_id bigint primary key references"
                         " procrastinate_jobs(id) on delete cascade, attempts integer not null, error text not null,"
                         " failed_at timestamptz not null default now())")
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('ogi-procrastinate-schema'))")


def _worker_settings() -> Settings:
    return _settings or load_settings()


def note_failure(url: str, job_id: int, attempts: int, reason: str) -> None:
    """Keep a job's latest failure (its attempt count and why), for when it is parked."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(f"insert into {FAILURES_TABLE} (job_id, attempts, error) values (%s, %s, %s) on conflict (job_id)"
                     " do update set attempts = excluded.attempts, error = excluded.error, failed_at = now()",
                     (job_id, attempts, reason[-2000:]))


@contextmanager
def failure_noted(context: procrastinate.JobContext) -> Iterator[None]:
    """Around a task's body: an exception is noted with the job before procrastinate retries or parks it."""
    try:
        yield
    except Exception as exc:
        note_failure(_worker_settings().queue_url, context.job.id, context.job.attempts + 1, f"{type(exc).__name__}: {exc}")
        raise


@app.task(name="ogi.crawl_batch", queue=CRAWL_QUEUE, retry=RETRY,
          pass_context=True)
def crawl_batch(context: procrastinate.JobContext, batch: dict[str, Any]) -> dict[str, Any]:
    """Crawl one batch (one crawl process), then queue its after-crawl flow; raise when the crawl failed."""
    settings = _worker_settings()
    db = Database(settings.db_url)
    with failure_noted(context):
        context.app.configure_task("ogi.extract_beside").defer(crawl_job=context.job.id)
        try:
            result = run_batch(settings, db, Batch.from_dict(batch), flow=False)
        finally:
            db.dispose()
        context.app.configure_task("ogi.after_batch").defer(run_ids=sorted(result.run_ids.values()))
        if result.returncode != 0:
            raise CrawlError(f"crawl process exited with {result.returncode}: {_last_lines(result.log)} (log: {result.log})")
    return {"runs": result.run_ids}


def _last_lines(log: str, n: int = 3) -> str:
    with open(log, encoding="utf-8", errors="replace") as fh:
        return " / ".join(line.strip() for line in fh.read()[-4000:].splitlines()[-n:] if line.strip())


@app.task(name="ogi.after_batch", queue=AFTER_QUEUE, retry=RETRY,
          pass_context=True)
def after_batch(context: procrastinate.JobContext, run_ids: list[int]) -> dict[str, Any]:
    """Extraction, revision diffs, index and alerts for a batch's runs (one digest per subscriber)."""
    settings = _worker_settings()
    db = Database(settings.db_url)
    with failure_noted(context):
        try:
            return after_crawl(db, settings, run_ids).as_dict()
        finally:
            db.dispose()


@app.task(name="ogi.extract_beside", queue=AFTER_QUEUE, retry=RETRY, pass_context=True)
def extract_beside(context: procrastinate.JobContext, crawl_job: int) -> dict[str, int]:
    """Extract what a crawl batch records while its job ``crawl_job`` runs, on an after_crawl worker:
    extraction is not on the crawl's path, and the batch's after_batch job finds little left.

    It never waits for a crawl that is not running (queued, waiting for a retry, or its worker
    dead): a worker with one slot must not wait on a job only it could run.
    """
    settings = _worker_settings()
    db = Database(settings.db_url)
    with failure_noted(context):
        try:
            return extract_pending(db, BlobStore(settings.blob_dir), budget=Budget.from_settings(settings),
                                   crawling=_while_running(settings, crawl_job))
        finally:
            db.dispose()


def _while_running(settings: Settings, job_id: int, every_s: float = 2.0) -> Callable[[], bool]:
    """True while the job runs on a live worker (asked of the queue at most every ``every_s``); once false, false."""
    asked, running = -every_s, True

    def running_now() -> bool:
        nonlocal asked, running
        if running and time.monotonic() - asked >= every_s:
            asked = time.monotonic()
            with psycopg.connect(conninfo(settings.queue_url), autocommit=True) as conn:
                running = bool(conn.execute(
                    "select 1 from procrastinate_jobs j join procrastinate_workers w on w.id = j.worker_id where j.id = %s"
                    " and j.status = 'doing' and w.last_heartbeat > now() - make_interval(secs => %s)",
                    (job_id, settings.queue_stalled_s)).fetchone())
        return running

    return running_now


def batch_lock(batch: Batch) -> str:
    """The lock of a batch: the same sources and kind never run twice at once, nor queue twice."""
    return f"crawl:{batch.kind}:" + hashlib.sha256("\0".join(sorted(batch.sources)).encode()).hexdigest()[:24]


def enqueue(queue: procrastinate.App, batches: Iterable[Batch]) -> list[int | None]:
    """Queue the batches (``None`` for one that is queued already); ``queue`` must be open."""
    ids = []
    for batch in batches:
        lock = batch_lock(batch)
        try:
            ids.append(queue.configure_task("ogi.crawl_batch", lock=lock, queueing_lock=lock).defer(batch=batch.as_dict()))
        except AlreadyEnqueued:
            logger.info("batch %s is queued already", lock)
            ids.append(None)
    return ids


def defer_batches(settings: Settings, batches: Iterable[Batch]) -> list[int | None]:
    """Queue the batches on ``settings.queue_url`` (what the long-running scheduler does at the due time)."""
    with connected(settings, sync=True) as queue, queue.open():
        return enqueue(queue, batches)


async def retry_stalled(queue: procrastinate.App) -> int:
    """Put the jobs of workers without a heartbeat (``Settings.queue_stalled_s``) back in the queue; ``queue`` must be open.

    A job whose workers died :data:`MAX_ATTEMPTS` times (a document that crashes a native
    library takes its worker with it) is parked instead, so it cannot kill workers forever.
    """
    settings = _worker_settings()
    stalled = list(await queue.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.queue_stalled_s))
    for job in stalled:
        died = job.attempts + 1
        if died >= MAX_ATTEMPTS:
            logger.error("job %s (%s): its worker died %d times: parked", job.id, job.task_name, died)
            note_failure(settings.queue_url, job.id, died, f"its worker died {died} times (killed or crashed)")
            await queue.job_manager.finish_job(job, procrastinate.jobs.Status.FAILED, delete_job=False)
            continue
        logger.warning("job %s (%s) of a dead worker: queued again", job.id, job.task_name)
        await queue.job_manager.retry_job(job)
    return len(stalled)


@dataclass(frozen=True)
class ParkedJob:
    """A job that failed :data:`MAX_ATTEMPTS` times and is left aside, with why."""

    id: int
    task: str
    sources: list[str]  # a crawl batch's sources (empty for other jobs)
    args: dict[str, Any]
    attempts: int
    error: str
    failed_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "sources": self.sources, "args": self.args, "attempts": self.attempts,
                "error": self.error, "failed_at": self.failed_at.isoformat() if self.failed_at else None}


def parked_jobs(settings: Settings, limit: int = 50) -> list[ParkedJob]:
    """The newest parked (``failed``) jobs of the ogi queues; none while the queue has no tables yet."""
    with psycopg.connect(conninfo(settings.queue_url), autocommit=True) as conn:
        if conn.execute(f"select to_regclass('{FAILURES_TABLE}')").fetchone()[0] is None:
            return []
        rows = conn.execute(f"select j.id, j.task_name, j.args, j.attempts, f.error, f.failed_at from procrastinate_jobs j"
                            f" left join {FAILURES_TABLE} f on f.job_id = j.id where j.status = 'failed'"
                            " and j.queue_name = any(%s) order by j.id desc limit %s", (list(QUEUES), limit)).fetchall()
    return [ParkedJob(id_, task, list((args.get("batch") or {}).get("sources") or []), args, max(attempts, 1),
                      error or "(no reason recorded)", failed_at) for id_, task, args, attempts, error, failed_at in rows]


@app.periodic(cron="* * * * *", periodic_id="retry_stalled")
@app.task(name="ogi.retry_stalled", queue=CRAWL_QUEUE, queueing_lock="ogi.retry_stalled", pass_context=True)
async def retry_stalled_job(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute, in long-running workers: the jobs of dead workers run again."""
    return await retry_stalled(context.app)


async def _recover(queue: procrastinate.App) -> int:
    """Stalled jobs back in the queue, then the number of jobs left in the ogi queues."""
    async with queue.open_async():
        await retry_stalled(queue)
        jobs = [job for q in QUEUES for status in ("todo", "doing")
                for job in await queue.job_manager.list_jobs_async(queue=q, status=status)]
        return sum(job.task_name != "ogi.retry_stalled" for job in jobs)


def work(settings: Settings, *, queues: Iterable[str] = QUEUES, concurrency: int = 1, until_empty: bool = False) -> None:
    """Run a worker on this machine: forever, or (``until_empty``) until the ogi queues are empty.

    A worker that runs until the queues are empty also waits for jobs other workers are
    doing, and takes over those whose worker died.
    """
    stalled = settings.queue_stalled_s
    options = {"queues": list(queues), "concurrency": concurrency, "install_signal_handlers": not until_empty,
               "update_heartbeat_interval": max(1, stalled / 5), "stalled_worker_timeout": stalled}
    with connected(settings) as queue:
        if not until_empty:
            asyncio.run(_recover(queue))
            queue.run_worker(**options, wait=True)
            return
        while asyncio.run(_recover(queue)):
            queue.run_worker(**options, wait=False)
            time.sleep(1)  # jobs held by other workers: wait for them, or for them to be found stalled


def run_on_queue(settings: Settings, db: Database, batches: list[Batch], *, concurrency: int = 2) -> list[dict[str, Any]]:
    """Queue the batches, work on them here until the queues are empty, and return one outcome per source.

    ``scheduler.py --once`` uses it when a queue is configured: other machines' workers share
    the work; this one returns when all of it is done.
    """
    from sqlalchemy import select

    from storage.models import CrawlRun, Source, utcnow

    started = utcnow()
    defer_batches(settings, batches)
    work(settings, concurrency=concurrency, until_empty=True)
    outcomes = []
    with db.session() as session:
        for batch in batches:
            for name in batch.sources:
                run = session.scalars(select(CrawlRun).join(Source).where(Source.name == name, CrawlRun.started_at >= started)
                                      .order_by(CrawlRun.id.desc())).first()
                returncode = ((run.stats or {}).get("scheduler") or {}).get("returncode") if run else None
                outcomes.append({"source": name, "kind": batch.kind, "run_id": run.id if run else None,
                                 "status": run.status if run else "not run", "returncode": returncode,
                                 "batch_size": len(batch.sources)})
    return outcomes
