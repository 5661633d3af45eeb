"""Queue choice: what procrastinate costs on the archive's PostgreSQL for the nightly's job sizes.

Reproduce: ``.venv/bin/python bench/queue_choice.py`` (seconds; needs PostgreSQL on 127.0.0.1).
Defers N no-op jobs with a per-batch lock and queueing lock (as ``flow.jobs.enqueue`` does) and
drains them with one worker; figures to ``bench/results/queue_choice.txt``. A nightly has
tens of jobs (batches of hundreds of sources), so anything under a second per thousand jobs
is noise next to the crawl; what decides is the list in the result file.
"""
from __future__ import annotations

import importlib.metadata
import os
import sys
import time
import uuid
from pathlib import Path

import procrastinate
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from flow.jobs import conninfo, ensure_schema

RESULTS = Path(__file__).resolve().parent / "results" / "queue_choice.txt"
PG_SERVER = os.environ.get("OGI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
N = 1000
bench_app = procrastinate.App(connector=procrastinate.PsycopgConnector())


@bench_app.task(name="bench.noop", queue="bench")
def noop(i: int) -> int:
    return i


def main() -> None:
    name = f"ogi_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    try:
        ensure_schema(url)
        with bench_app.replace_connector(procrastinate.SyncPsycopgConnector(conninfo=conninfo(url))) as app, app.open():
            started = time.perf_counter()
            for i in range(N):
                app.configure_task("bench.noop", lock=f"b{i}", queueing_lock=f"b{i}").defer(i=i)
            defer_s = time.perf_counter() - started
        with bench_app.replace_connector(procrastinate.PsycopgConnector(conninfo=conninfo(url))) as app:
            started = time.perf_counter()
            app.run_worker(queues=["bench"], wait=False, concurrency=4, install_signal_handlers=False)
            drain_s = time.perf_counter() - started
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    version = importlib.metadata.version("procrastinate")
    text = f"""procrastinate {version} on PostgreSQL (127.0.0.1), {N} no-op jobs with lock + queueing_lock
defer: {defer_s:.2f} s ({N / defer_s:.0f} jobs/s, one transaction each)
drain, one worker, concurrency 4: {drain_s:.2f} s ({N / drain_s:.0f} jobs/s)
kill -9 recovery: a dead worker's job runs again after Settings.queue_stalled_s without heartbeat
  (tests/test_nightly_queue.py: 6 s; default 30 s)
A nightly of 15,000 sources in batches of 300 is 50 crawl jobs + 50 after-crawl jobs: the queue's
own cost is far below a second; a crawl batch takes minutes.

Celery / Dramatiq on Redis or RabbitMQ: not measured (not installed in this environment); at this
job count their throughput cannot matter either. Chosen: procrastinate, because
- no new service: the archive's PostgreSQL is the queue (a deployment already backs it up);
- jobs are rows: deferred in a transaction, listed and retried with SQL, visible to ogi/web;
- lock= / queueing_lock= serialise a batch and keep it queued once (no home-made locks);
- retries with a max attempt count; failed jobs stay with their error;
- worker heartbeats find the jobs of a worker killed with kill -9 (Celery on Redis needs
  acks_late + a visibility timeout longer than the longest crawl; RabbitMQ needs a consumer timeout).
"""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
