"""``ogi scheduler``: the nightly and yearly crawls of every enabled source (``scheduler.py``).

The same as ``python scheduler.py``, which stays the design card's entry point; this one is
for users who have only the ``ogi`` command, and takes its settings like every other command
(``ogi --config FILE scheduler``); ``--db`` and ``--data-dir`` are accepted after the
command name too, as ``scheduler.py`` takes them.
"""
from __future__ import annotations

from datetime import datetime

import click

from ogi.cli import Context, db_option, pass_context


class IsoTime(click.ParamType):
    """An ISO 8601 time (``2025-03-01T02:00``; without a zone, the settings' timezone)."""

    name = "ISO"

    def convert(self, value: str | datetime, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        import scheduler

        if isinstance(value, datetime):
            return value
        try:
            return scheduler.parse_now(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run the jobs due now and exit (for cron, systemd timers and tests).")
@click.option("--now", type=IsoTime(), default=None, help="With --once: the time to take as now (default: the clock).")
@db_option
@click.option("--data-dir", default=None, help="Where WARC files, blobs and the default SQLite database live "
                                               "(as `ogi --data-dir`; the crawls it starts use it too).")
@pass_context
def scheduler_cmd(ctx: Context, once: bool, now: datetime | None, db_url: str | None, data_dir: str | None) -> None:
    """Run the scheduler until SIGTERM/Ctrl-C, or with --once the jobs due now (one JSON line each).

    Exits 1 when a crawl it started failed.
    """
    import scheduler

    if now is not None and not once:
        raise click.UsageError("--now needs --once")
    if db_url:
        ctx.settings.database_url = db_url
    if data_dir:
        ctx.settings.data_dir = data_dir
    status = scheduler.run(ctx.settings, once=once, now=now)
    if status:
        raise click.exceptions.Exit(status)


def register(group: click.Group) -> None:
    group.add_command(scheduler_cmd)
