"""``ogi export``: the archive as JSONL, CSV or Parquet (one record per report, or per version)."""
from __future__ import annotations

import sys
from contextlib import ExitStack, nullcontext
from typing import IO, Any

import click

from ogi.cli import Context, db_option, pass_context
from storage import exports

WRITERS = {"jsonl": exports.write_jsonl, "csv": exports.write_csv, "parquet": exports.write_parquet}


@click.command("export")
@db_option
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), required=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Output file (default: standard output).")
@click.option("--all-versions", is_flag=True, help="Every version of every report, not only the newest.")
@pass_context
def export_command(ctx: Context, db_url: str | None, fmt: str, output: str | None, all_versions: bool) -> None:
    """Export reports: fields, six sections, table values under canonical keys and rule checks.

    CSV and Parquet have one column per canonical key (named by the key, e.g.
    applications.new.total); sections and checks are JSON strings there. In CSV, text
    starting with = + - @ (a spreadsheet formula) gets a leading ' ; numbers never do.
    """
    database = ctx.db(db_url, create=False)
    with ExitStack() as stack:
        # The output is opened before the archive is read: a bad -o fails at once, not after the export.
        out = stack.enter_context(_open_output(output, binary=fmt == "parquet"))
        session = stack.enter_context(database.session())
        count = WRITERS[fmt](exports.iter_records(session, all_versions=all_versions), out)
        out.flush()
    if output:
        click.echo(f"{count} records written to {output}", err=True)


def _open_output(output: str | None, *, binary: bool) -> Any:
    """The output file, or standard output (left open) as UTF-8 whatever the locale: Chinese
    must never be escaped or mangled."""
    if output:
        return open(output, "wb") if binary else open(output, "w", encoding="utf-8", newline="")
    if binary:
        return nullcontext(sys.stdout.buffer)
    sys.stdout.reconfigure(encoding="utf-8", newline="")
    stdout: IO[str] = sys.stdout
    return nullcontext(stdout)


def register(group: click.Group) -> None:
    group.add_command(export_command)
