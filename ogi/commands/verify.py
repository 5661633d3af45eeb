"""``ogi verify``: a fixity audit of the archive (storage/fixity.py), with a non-zero exit on any mismatch.

Meant for cron and for the scheduler's monthly audit as much as for people: the summary is one
line, each problem one line naming the blob by its digest or the WARC record by file@offset,
and the result is recorded in the archive (``ogi runs`` and the admin API show the last ones).
"""
from __future__ import annotations

from datetime import UTC, datetime

import click

from ogi.cli import Context, db_option, json_option, literal, pass_context, print_json, terminal
from ogi.commands.serve import data_dir_given
from storage.fixity import FixityResult


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"expected a date such as 2027-01-31, got {value!r}", param_hint="--since") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command("verify")
@db_option
@click.option("--sample", type=click.IntRange(1, None), default=None,
              help="Check this many blobs and WARC files, continuing where the last sampled audit stopped.")
@click.option("--since", "since", metavar="DATE", default=None, help="Only what was written on or after DATE (ISO 8601).")
@json_option
@pass_context
def verify_command(ctx: Context, db_url: str | None, sample: int | None, since: str | None, as_json: bool) -> None:
    """Re-read blobs and WARC records, recompute their digests and check every version has its bytes."""
    from storage.archive_meta import DataDirError, archive_data_dir
    from storage.fixity import audit

    db = ctx.db(db_url, create=False)
    try:
        data_dir = archive_data_dir(db, ctx.settings, explicit=data_dir_given(ctx.settings))
    except DataDirError as exc:
        raise click.UsageError(str(exc)) from None
    with db.session() as session:
        result = audit(session, data_dir, sample=sample, since=_since(since))
    if as_json:
        print_json(result.as_dict())
    else:
        _print(result, data_dir)
    if not result.ok:
        raise SystemExit(1)


def _print(result: FixityResult, data_dir: str) -> None:
    console = terminal()
    verdict = "[green]intact[/green]" if result.ok else f"[red]{len(result.problems)} problem(s)[/red]"
    console.print(f"fixity of {literal(data_dir)}: {verdict} — {result.blobs} blobs, {result.versions} versions, "
                  f"{result.warc_records} WARC records in {result.warc_files} files re-read")
    for problem in result.problems:
        console.print(f"  {problem.kind}: {literal(problem.what)}: {literal(problem.detail)}", highlight=False)


def register(group: click.Group) -> None:
    group.add_command(verify_command)
