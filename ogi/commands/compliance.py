"""``ogi compliance`` (who has not published, per agency, region and year) and ``ogi agencies``
(list agency keys; merge, split and link them; undo a correction).

``ogi compliance`` re-evaluates the expectations as of now (or ``--as-of DATE``, to see a past
night) before printing them, so its answer never depends on when the last crawl ran.
"""
from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import click
from rich.table import Table
from sqlalchemy import func, select

from ogi.cli import Context, db_option, json_option, literal, pass_context, print_json, terminal
from ogi.commands.export import _open_output as open_output  # the same UTF-8 stdout / file rules
from storage import exports
from storage.agencies import CorrectionError, correct, undo
from storage.compliance import CHINA, STATUSES, as_record, evaluate, expectations
from storage.models import AgencyCorrection, Report


def region_filters(region: str) -> dict[str, str]:
    """``--region``: a 省/市/县 name prefix, or digits: a GB/T 2260 code prefix (33, 3301, 330111)."""
    region = region.strip()
    return {"region_code": region} if region.isdigit() else {"region": region}


@click.command("compliance")
@db_option
@click.option("--year", type=click.IntRange(2008, 2100), required=True, help="Report year (the year reported on).")
@click.option("--region", default="", help="省/市/县 prefix (浙江省, 浙江省/杭州市) or a division code prefix (33).")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only expectations with this status.")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json", "parquet")), default="table",
              help="table (default), csv or json on stdout, parquet to -o.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Output file (required for parquet).")
@click.option("--as-of", "as_of", type=click.DateTime(("%Y-%m-%d",)), default=None,
              help="Evaluate as on this day in China (default: now).")
@pass_context
def compliance_command(ctx: Context, db_url: str | None, year: int, region: str, status: str | None, fmt: str,
                       output: str | None, as_of: datetime | None) -> None:
    """Who owed an annual report for YEAR, and whether it came on time, late, or not at all.

    Departments owe theirs by 31 January, the local government its consolidated report by
    31 March; `missing` means nothing was found by the deadline plus compliance_grace_days.
    """
    if fmt == "parquet" and not output:
        raise click.UsageError("--format parquet needs -o FILE")
    now = datetime.combine(as_of.date(), time(23, 59), CHINA).astimezone(UTC) if as_of else datetime.now(UTC)
    with ctx.db(db_url, create=False).session() as session:
        evaluate(session, now=now, grace_days=ctx.settings.compliance_grace_days)
        rows = expectations(session, year=year, status=status or "", **region_filters(region))
        _print(rows, fmt, output)


def _print(rows: list[Any], fmt: str, output: str | None) -> None:
    if fmt == "json":
        print_json([as_record(r) for r in rows])
    elif fmt in ("csv", "parquet"):
        with open_output(output, binary=fmt == "parquet") as out:
            (exports.write_expectations_csv if fmt == "csv" else exports.write_expectations_parquet)(rows, out)
            out.flush()
    else:
        _table(rows)


def _table(rows: list[Any]) -> None:
    table = Table("agency", "agency_key", "region_code", "deadline", "status", "published_at", "days_late", "report")
    for r in rows:
        table.add_row(literal(r.agency), literal(r.agency_key), r.region_code, r.deadline, r.status,
                      r.published_at or "", "" if r.days_late is None else str(r.days_late),
                      "" if r.report_id is None else str(r.report_id))
    console = terminal()
    console.print(table)
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    console.print(", ".join(f"{s}: {n}" for s, n in counts.items() if n) or "no expectations")


@click.group("agencies")
def agencies_group() -> None:
    """Agency keys (one per publishing body across years) and their manual corrections."""


@agencies_group.command("list")
@db_option
@click.option("--region", default="", help="Division code prefix (33, 3301) of the keys to list.")
@json_option
@pass_context
def list_command(ctx: Context, db_url: str | None, region: str, as_json: bool) -> None:
    """Every agency key with its names and report years."""
    with ctx.db(db_url, create=False).session() as session:
        query = (select(Report.agency_key, func.min(Report.report_year), func.max(Report.report_year), func.count())
                 .where(Report.agency_key.is_not(None), Report.agency_key.startswith(region, autoescape=True))
                 .group_by(Report.agency_key).order_by(Report.agency_key))
        rows = [{"agency_key": k, "first_year": a, "last_year": b, "reports": n} for k, a, b, n in session.execute(query)]
    if as_json:
        print_json(rows)
        return
    table = Table("agency_key", "years", "reports")
    for r in rows:
        table.add_row(literal(r["agency_key"]), f"{r['first_year']}-{r['last_year']}", str(r["reports"]))
    terminal().print(table)


def _correct(ctx: Context, db_url: str | None, action: str, from_key: str, to_key: str, reports: tuple[int, ...],
             reason: str) -> None:
    with ctx.db(db_url, create=False).session() as session:
        try:
            rows = correct(session, action, from_key, to_key, report_ids=reports, reason=reason)
        except CorrectionError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"correction {', '.join(str(r.id) for r in rows)}: {action} {from_key} -> {to_key}"
                   f" (undo with `ogi agencies undo {rows[0].id}`)")


_reason = click.option("--reason", default="", help="Why (kept with the correction).")


@agencies_group.command("merge")
@db_option
@click.argument("from_key")
@click.argument("into_key")
@_reason
@pass_context
def merge_command(ctx: Context, db_url: str | None, from_key: str, into_key: str, reason: str) -> None:
    """Reports keyed FROM_KEY are the same body as INTO_KEY (a name the rules did not recognise)."""
    _correct(ctx, db_url, "merge", from_key, into_key, (), reason)


@agencies_group.command("split")
@db_option
@click.argument("key")
@click.argument("new_key")
@click.option("--report", "reports", type=int, multiple=True, required=True, help="A report that moves (repeatable).")
@_reason
@pass_context
def split_command(ctx: Context, db_url: str | None, key: str, new_key: str, reports: tuple[int, ...], reason: str) -> None:
    """The given reports of KEY belong to another body, NEW_KEY."""
    _correct(ctx, db_url, "split", key, new_key, reports, reason)


@agencies_group.command("link")
@db_option
@click.argument("old_key")
@click.argument("successor_key")
@_reason
@pass_context
def link_command(ctx: Context, db_url: str | None, old_key: str, successor_key: str, reason: str) -> None:
    """OLD_KEY was renamed or merged into SUCCESSOR_KEY: the successor owes its reports; both keep their history."""
    _correct(ctx, db_url, "link", old_key, successor_key, (), reason)


@agencies_group.command("undo")
@db_option
@click.argument("correction_id", type=int)
@pass_context
def undo_command(ctx: Context, db_url: str | None, correction_id: int) -> None:
    """Revert a correction (it stays listed, marked reverted)."""
    with ctx.db(db_url, create=False).session() as session:
        try:
            row = undo(session, correction_id)
        except CorrectionError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"correction {row.id} ({row.action} {row.from_key} -> {row.to_key}) reverted")


@agencies_group.command("corrections")
@db_option
@json_option
@pass_context
def corrections_command(ctx: Context, db_url: str | None, as_json: bool) -> None:
    """Every correction ever made, reverted ones included."""
    with ctx.db(db_url, create=False).session() as session:
        rows = [{"id": c.id, "action": c.action, "from_key": c.from_key, "to_key": c.to_key, "report_id": c.report_id,
                 "reason": c.reason, "created_at": c.created_at, "reverted_at": c.reverted_at}
                for c in session.scalars(select(AgencyCorrection).order_by(AgencyCorrection.id))]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "action", "from", "to", "report", "reverted")
    for r in rows:
        table.add_row(str(r["id"]), r["action"], literal(r["from_key"]), literal(r["to_key"]),
                      str(r["report_id"] or ""), str(r["reverted_at"] or ""))
    terminal().print(table)


def register(group: click.Group) -> None:
    group.add_command(compliance_command)
    group.add_command(agencies_group)

