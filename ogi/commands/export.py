"""``ogi export``: the archive as JSONL, CSV or Parquet (one record per report, or per version)."""
from __future__ import annotations

import sys
from contextlib import ExitStack

import click

from ogi import export
from ogi.cli import db_option, pass_context


@click.command("export")
@db_option
@click.option("--format", "fmt", type=click.Choice(export.FORMATS), required=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Output file (default: standard output).")
@click.option("--all-versions", is_flag=True, help="Every version of every report, not only the newest.")
@pass_context
def export_command(ctx, db_url: str | None, fmt: str, output: str | None, all_versions: bool) -> None:  # noqa: ANN001
    """Export reports: fields, six sections, table values under canonical keys and rule checks.

    CSV and Parquet have one column per canonical key (named by the key, e.g.
    applications.new.total); sections and checks are JSON strings there.
    """
    database = ctx.db(db_url)
    with database.session() as session, ExitStack() as stack:
        records = export.iter_records(session, all_versions=all_versions)
        if fmt == "parquet":
            out = output or sys.stdout.buffer
            count = export.write_parquet(records, out)
        else:
            out = stack.enter_context(open(output, "w", encoding="utf-8", newline="")) if output else _stdout()
            count = (export.write_jsonl if fmt == "jsonl" else export.write_csv)(records, out)
            out.flush()
    if output:
        click.echo(f"{count} records written to {output}", err=True)


def _stdout():  # noqa: ANN202 - a text stream
    """Standard output as UTF-8 whatever the locale (Chinese must never be escaped or mangled)."""
    sys.stdout.reconfigure(encoding="utf-8", newline="")
    return sys.stdout


def register(group: click.Group) -> None:
    group.add_command(export_command)
