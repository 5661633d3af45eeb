"""``ogi history``, ``ogi diff`` and ``ogi runs``: what the archive knows about a report over time, and every crawl run.

REPORT is a report id or any URL the report has had (the attachment, the page it was found
on, a URL before a redirect or a move).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ogi.cli import Context, db_option, pass_context
from storage.diff import version_diff
from storage.models import Blob, CrawlRun, Report, ReportUrl, ReportVersion, Source
from storage.runs import effective_status
from storage.versions import find_report


def _console() -> Console:
    console = Console()
    # Piped output (scripts, tests) gets wide tables instead of columns wrapped at 80.
    return console if console.is_terminal else Console(width=200)


def resolve_report(session: Session, ref: str) -> Report | None:
    """The report named by an id or by any URL it has had (ReportUrl, page URL, version URLs)."""
    if ref.isdigit():
        return session.get(Report, int(ref))
    report = find_report(session, ref)
    if report is not None:
        return report
    report = session.scalars(select(Report).where(or_(Report.source_url == ref, Report.document_url == ref)).limit(1)).first()
    if report is not None:
        return report
    return session.scalars(
        select(Report).join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(or_(ReportVersion.source_url == ref, ReportVersion.document_url == ref)).limit(1)
    ).first()


def _report_or_fail(session: Session, ref: str) -> Report:
    report = resolve_report(session, ref)
    if report is None:
        raise click.ClickException(f"no report with id or URL {ref!r} in this archive")
    return report


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _report_header(console: Console, report: Report, session: Session, tz: ZoneInfo) -> None:
    status = report.status + (f" since {_when(report.withdrawn_at, tz)}" if report.withdrawn_at else "")
    console.print(f"[bold]Report {report.id}[/bold]: {report.title or '(untitled)'}")
    console.print(f"{report.agency or '?'} · {report.region or '?'} · {report.report_year or '?'} · status: {status}")
    for url in session.scalars(select(ReportUrl).where(ReportUrl.report_id == report.id).order_by(ReportUrl.id)):
        console.print(f"  url: {url.url} (first seen {_when(url.first_seen, tz)})", soft_wrap=True)


@click.command("history")
@click.argument("report_ref", metavar="REPORT")
@db_option
@pass_context
def history(ctx: Context, report_ref: str, db_url: str | None) -> None:
    """List every version of REPORT (an id or any URL it has had)."""
    tz = ZoneInfo(ctx.settings.timezone)
    console = _console()
    with ctx.db(db_url).session() as session:
        report = _report_or_fail(session, report_ref)
        _report_header(console, report, session, tz)
        sizes = dict(session.execute(select(Blob.sha256, Blob.size).join(
            ReportVersion, ReportVersion.sha256 == Blob.sha256).where(ReportVersion.report_id == report.id)).all())
        table = Table("version", "sha256", "first seen", "last seen", "fetched", "extraction", "size", "run", "document")
        for v in report.versions:
            extraction = v.extraction_status + (f": {v.extraction_error}" if v.extraction_error else "")
            table.add_row(str(v.version), v.sha256[:12], _when(v.first_seen, tz), _when(v.last_seen, tz),
                          _when(v.fetched_at, tz), extraction, _size(sizes.get(v.sha256)), str(v.run_id or ""),
                          v.document_url or v.source_url)
        console.print(table)


def _pick_versions(report: Report, v1: int | None, v2: int | None) -> tuple[ReportVersion, ReportVersion]:
    by_number = {v.version: v for v in report.versions}
    if v1 is None and v2 is None:
        if len(by_number) < 2:
            raise click.ClickException(f"report {report.id} has only {len(by_number)} version(s): nothing to compare")
        v1, v2 = sorted(by_number)[-2:]
    elif v1 is None or v2 is None:
        raise click.UsageError("give both versions (V1 V2) or neither")
    missing = [str(v) for v in (v1, v2) if v not in by_number]
    if missing:
        raise click.ClickException(f"report {report.id} has no version {', '.join(missing)} (it has {', '.join(map(str, sorted(by_number)))})")
    return by_number[v1], by_number[v2]


def _number(value: float | None, raw: str) -> str:
    if value is None:
        return raw or "—"
    return str(int(value)) if float(value).is_integer() else str(value)


@click.command("diff")
@click.argument("report_ref", metavar="REPORT")
@click.argument("v1", type=int, required=False)
@click.argument("v2", type=int, required=False)
@db_option
@pass_context
def diff(ctx: Context, report_ref: str, v1: int | None, v2: int | None, db_url: str | None) -> None:
    """Show what changed between two versions of REPORT (default: the last two).

    Prints the fields that differ, a unified diff of the extracted text and every table
    value that changed (canonical key, old, new).
    """
    tz = ZoneInfo(ctx.settings.timezone)
    console = _console()
    with ctx.db(db_url).session() as session:
        report = _report_or_fail(session, report_ref)
        old, new = _pick_versions(report, v1, v2)
        d = version_diff(session, old, new)
        console.print(f"[bold]Report {report.id}[/bold]: {report.title}  v{old.version} ({_when(old.fetched_at, tz)}) "
                      f"-> v{new.version} ({_when(new.fetched_at, tz)})")
        for name, (a, b) in d.fields.items():
            console.print(f"  {name}: {a} -> {b}", soft_wrap=True, markup=False)
        pending = [f"v{v.version}" for v in (old, new) if v.extraction_status != "done"]
        if pending:
            console.print(f"[yellow]not extracted yet: {', '.join(pending)} (text and values may be missing)[/yellow]")
        console.print("[bold]Text[/bold]" + ("" if d.text else ": no change"))
        for line in d.text:
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else None
            console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)
        if not d.values:
            console.print("[bold]Values[/bold]: no change")
            return
        table = Table("key", "old", "new", title=f"Values changed: {len(d.values)}", title_justify="left")
        for c in d.values:
            table.add_row(c.key, _number(c.old, c.old_raw), _number(c.new, c.new_raw))
        console.print(table)


def _alert_summary(stats: dict[str, Any]) -> str:
    if stats.get("alerts_error"):
        return f"error: {stats['alerts_error']}"
    alerts = stats.get("alerts")
    if isinstance(alerts, dict):
        shown = [f"{k}={v}" for k, v in alerts.items() if isinstance(v, (int, float, str)) and v]
        if alerts.get("errors"):
            shown.append(f"errors={len(alerts['errors'])}")
        return ", ".join(shown) or "nothing to send"
    return str(alerts) if alerts else ""


@click.command("runs")
@click.option("--source", "source_name", default=None, help="Only runs of this source.")
@click.option("--limit", default=30, show_default=True, help="How many of the newest runs to show.")
@db_option
@pass_context
def runs(ctx: Context, source_name: str | None, limit: int, db_url: str | None) -> None:
    """List crawl runs, newest first (a 'running' run whose process is gone shows as interrupted)."""
    tz = ZoneInfo(ctx.settings.timezone)
    console = _console()
    with ctx.db(db_url).session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if source_name:
            query = query.join(Source, CrawlRun.source_id == Source.id).where(Source.name == source_name)
        table = Table("id", "source", "kind", "status", "started", "finished", "pages", "new", "changed",
                      "unchanged", "withdrawn", "errors", "alerts", "message")
        for run in session.scalars(query):
            table.add_row(
                str(run.id), run.source.name if run.source else "(urls)", run.kind, effective_status(run),
                _when(run.started_at, tz), _when(run.finished_at, tz), str(run.pages), str(run.reports_new),
                str(run.reports_changed), str(run.reports_unchanged), str(run.reports_withdrawn), str(run.errors),
                _alert_summary(run.stats or {}), (run.message or "")[:80],
            )
        console.print(table)


def register(group: click.Group) -> None:
    group.add_command(history)
    group.add_command(diff)
    group.add_command(runs)
