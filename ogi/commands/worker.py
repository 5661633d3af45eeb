"""``ogi worker``: run the nightly's jobs (crawl batches, after-crawl flows) from the task queue.

Start as many as you like, on any machine that shares the database, the queue (procrastinate
on PostgreSQL, ``--queue-url`` / ``OGI_QUEUE_URL``) and the data directory::

    ogi --data-dir /srv/ogi worker --db postgresql://… --queue-url postgresql://… --concurrency 4
    ogi worker --queue after_crawl --concurrency 2     # a machine that only extracts

``scheduler.py`` (or ``ogi scheduler``) keeps the clock and queues batches of due sources.
"""
from __future__ import annotations

import click

from ogi.cli import Context, db_option, pass_context


@click.command("worker")
@db_option
@click.option("--queue-url", default=None, metavar="URL", help="The queue's PostgreSQL URL (default: OGI_QUEUE_URL).")
@click.option("--queue", "queues", multiple=True, type=click.Choice(["crawl", "after_crawl"]),
              help="Only these queues (repeatable; default: both).")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Jobs at once in this process (each crawl batch is its own crawl process).")
@click.option("--until-empty", is_flag=True, help="Return when the queues are empty (also waits for other workers' jobs).")
@pass_context
def worker_cmd(ctx: Context, db_url: str | None, queue_url: str | None, queues: tuple[str, ...], concurrency: int,
               until_empty: bool) -> None:
    """Run queued crawl batches and after-crawl flows until stopped (SIGTERM finishes the jobs in hand)."""
    from flow.jobs import QUEUES, work

    if db_url:
        ctx.settings.database_url = db_url
    if queue_url:
        ctx.settings.queue_url = queue_url
    if not ctx.settings.queue_url:
        raise click.UsageError("no task queue configured: give --queue-url or set OGI_QUEUE_URL")
    work(ctx.settings, queues=queues or QUEUES, concurrency=concurrency, until_empty=until_empty)


def register(group: click.Group) -> None:
    group.add_command(worker_cmd)
