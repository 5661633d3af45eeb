"""``ogi history``, ``ogi diff`` and ``ogi runs``: what the archive knows about a report over time, and every crawl run.

REPORT is a report id or any URL the report has had (the attachment, the page it was found
on, a URL before a redirect or a move).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ogi.cli import Context, db_option, json_option, literal, pass_context, print_json, printable, terminal
from storage.db import MAX_ID
from storage.diff import VersionDiff, version_diff
from storage.models import Blob, CrawlRun, FixityAudit, Report, ReportUrl, ReportVersion, Source
from storage.runs import COUNT_COLUMNS, effective_status
from storage.versions import find_report


def resolve_report(session: Session, ref: str) -> Report | None:
    """The report named by an id or by any URL it has had (ReportUrl, page URL, version URLs)."""
    if ref.isascii() and ref.isdigit():  # not "²": str.isdigit() is true for it, int() fails
        return session.get(Report, int(ref)) if int(ref) <= MAX_ID else None
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
    console.print(f"[bold]Report {report.id}[/bold]: {literal(report.title or '(untitled)')}")
    place = f"{literal(report.agency or '?')} · {literal(report.region or '?')}"
    console.print(f"{place} · {report.report_year or '?'} · status: {status}")
    for url in session.scalars(select(ReportUrl).where(ReportUrl.report_id == report.id).order_by(ReportUrl.id)):
        console.print(f"  url: {literal(url.url)} (first seen {_when(url.first_seen, tz)})", soft_wrap=True)


def _report_json(report: Report, session: Session) -> dict[str, Any]:
    urls = session.scalars(select(ReportUrl).where(ReportUrl.report_id == report.id).order_by(ReportUrl.id))
    return {"id": report.id, "title": report.title, "agency": report.agency, "region": report.region,
            "report_year": report.report_year, "status": report.status, "withdrawn_at": report.withdrawn_at,
            "urls": [{"url": u.url, "first_seen": u.first_seen} for u in urls]}


def _version_json(v: ReportVersion, size: int | None) -> dict[str, Any]:
    return {"version": v.version, "sha256": v.sha256, "first_seen": v.first_seen, "last_seen": v.last_seen,
            "fetched_at": v.fetched_at, "extraction_status": v.extraction_status, "extraction_error": v.extraction_error,
            "size": size, "run_id": v.run_id, "document_url": v.document_url, "source_url": v.source_url}


@click.command("history")
@click.argument("report_ref", metavar="REPORT")
@db_option
@json_option
@pass_context
def history(ctx: Context, report_ref: str, db_url: str | None, as_json: bool) -> None:
    """List every version of REPORT (an id or any URL it has had)."""
    tz = ZoneInfo(ctx.settings.timezone)
    console = terminal()
    with ctx.db(db_url, create=False).session() as session:
        report = _report_or_fail(session, report_ref)
        sizes = dict(session.execute(select(Blob.sha256, Blob.size).join(
            ReportVersion, ReportVersion.sha256 == Blob.sha256).where(ReportVersion.report_id == report.id)).all())
        if as_json:
            print_json({**_report_json(report, session),
                        "versions": [_version_json(v, sizes.get(v.sha256)) for v in report.versions]})
            return
        _report_header(console, report, session, tz)
        table = Table("version", "sha256", "first seen", "last seen", "fetched", "extraction", "size", "run", "document")
        for v in report.versions:
            extraction = v.extraction_status + (f": {v.extraction_error}" if v.extraction_error else "")
            table.add_row(str(v.version), v.sha256[:12], _when(v.first_seen, tz), _when(v.last_seen, tz),
                          _when(v.fetched_at, tz), literal(extraction), _size(sizes.get(v.sha256)), str(v.run_id or ""),
                          literal(v.document_url or v.source_url))
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
        have = ", ".join(map(str, sorted(by_number)))
        raise click.ClickException(f"report {report.id} has no version {', '.join(missing)} (it has {have})")
    return by_number[v1], by_number[v2]


#: Colours of unified-diff lines by their first characters (hunk headers start "@@").
_DIFF_STYLES = {"+": "green", "-": "red", "@@": "cyan"}


def _number(value: float | None, raw: str) -> str:
    if value is None:
        return raw or "—"
    return str(int(value)) if float(value).is_integer() else str(value)


@click.command("diff")
@click.argument("report_ref", metavar="REPORT")
@click.argument("v1", type=int, required=False)
@click.argument("v2", type=int, required=False)
@db_option
@json_option
@pass_context
def diff(ctx: Context, report_ref: str, v1: int | None, v2: int | None, db_url: str | None, as_json: bool) -> None:
    """Show what changed between two versions of REPORT (default: the last two).

    Prints the fields that differ, a unified diff of the extracted text and every table
    value that changed (canonical key, old, new).
    """
    tz = ZoneInfo(ctx.settings.timezone)
    console = terminal()
    with ctx.db(db_url, create=False).session() as session:
        report = _report_or_fail(session, report_ref)
        old, new = _pick_versions(report, v1, v2)
        d = version_diff(session, old, new)
        if as_json:
            print_json(_diff_json(report, d))
            return
        console.print(f"[bold]Report {report.id}[/bold]: {literal(report.title)}  v{old.version} ({_when(old.fetched_at, tz)}) "
                      f"-> v{new.version} ({_when(new.fetched_at, tz)})")
        for name, (a, b) in d.fields.items():
            console.print(f"  {name}: {printable(a)} -> {printable(b)}", soft_wrap=True, markup=False)
        pending = [f"v{v.version}" for v in (old, new) if v.extraction_status != "done"]
        if pending:
            console.print(f"[yellow]not extracted yet: {', '.join(pending)} (text and values may be missing)[/yellow]")
        console.print("[bold]Text[/bold]" + ("" if d.text else ": no change"))
        for line in d.text:
            style = _DIFF_STYLES.get(line[:2], _DIFF_STYLES.get(line[:1]))
            console.print(printable(line), style=style, markup=False, highlight=False, soft_wrap=True)
        if not d.values:
            console.print("[bold]Values[/bold]: no change")
            return
        table = Table("key", "old", "new", title=f"Values changed: {len(d.values)}", title_justify="left")
        for c in d.values:
            table.add_row(literal(c.key), literal(_number(c.old, c.old_raw)), literal(_number(c.new, c.new_raw)))
        console.print(table)


def _diff_json(report: Report, d: VersionDiff) -> dict[str, Any]:
    """The diff as data: both versions, changed fields as [old, new], text lines, value changes."""
    versions = [{"version": v.version, "fetched_at": v.fetched_at, "extraction_status": v.extraction_status}
                for v in (d.old, d.new)]
    return {"report_id": report.id, "title": report.title, "old": versions[0], "new": versions[1],
            "fields": {name: list(pair) for name, pair in d.fields.items()}, "text": d.text,
            "values": [dataclasses.asdict(c) for c in d.values]}


def _alert_summary(stats: dict[str, Any]) -> str:
    failed = ((stats.get("after_crawl") or {}).get("errors") or {}).get("alerts")
    if failed:
        return f"error: {failed}"
    alerts = stats.get("alerts")
    if isinstance(alerts, dict):
        shown = [f"{k}={v}" for k, v in alerts.items() if isinstance(v, (int, float, str)) and v]
        if alerts.get("errors"):
            shown.append(f"errors={len(alerts['errors'])}")
        return ", ".join(shown) or "nothing to send"
    return str(alerts) if alerts else ""


def _run_json(run: CrawlRun) -> dict[str, Any]:
    """A run under its column names (``stats`` holds the after-crawl outcome and the alerts)."""
    counts = {name: getattr(run, name) for name in COUNT_COLUMNS}
    return {"id": run.id, "source": run.source.name if run.source else None, "kind": run.kind,
            "status": effective_status(run), "started_at": run.started_at, "finished_at": run.finished_at,
            **counts, "message": run.message or "", "stats": run.stats or {}}


@click.command("runs")
@click.option("--source", "source_name", default=None, help="Only runs of this source.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1_000_000),
              help="How many of the newest runs to show.")
@db_option
@json_option
@pass_context
def runs(ctx: Context, source_name: str | None, limit: int, db_url: str | None, as_json: bool) -> None:
    """List crawl runs, newest first (a 'running' run whose process is gone shows as interrupted)."""
    tz = ZoneInfo(ctx.settings.timezone)
    console = terminal()
    with ctx.db(db_url, create=False).session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if source_name:
            query = query.join(Source, CrawlRun.source_id == Source.id).where(Source.name == source_name)
        if as_json:
            print_json([_run_json(run) for run in session.scalars(query)])
            return
        table = Table("id", "source", "kind", "status", "started", "finished", "pages", "new", "changed",
                      "unchanged", "withdrawn", "errors", "alerts", "message")
        for run in session.scalars(query):
            table.add_row(
                str(run.id), literal(run.source.name) if run.source else "(urls)", run.kind, effective_status(run),
                _when(run.started_at, tz), _when(run.finished_at, tz), str(run.pages), str(run.reports_new),
                str(run.reports_changed), str(run.reports_unchanged), str(run.reports_withdrawn), str(run.errors),
                literal(_alert_summary(run.stats or {})), literal((run.message or "")[:80]),
            )
        console.print(table)
        _print_audits(session, console, tz)
    if ctx.settings.queue_url:
        _print_parked(ctx, console, tz)


def _print_audits(session: Session, console: Console, tz: ZoneInfo) -> None:
    """The last fixity audits (``ogi verify``) under the runs: an archive's health at a glance."""
    audits = session.scalars(select(FixityAudit).order_by(FixityAudit.id.desc()).limit(3)).all()
    if not audits:
        return
    table = Table("audit", "finished", "sample", "blobs", "versions", "WARC records", "result",
                  title="Fixity audits (ogi verify)", title_justify="left")
    for audit in audits:
        counts = audit.counts or {}
        result = "[green]intact[/green]" if audit.ok else f"[red]{len(audit.problems or [])} problem(s)[/red]"
        table.add_row(str(audit.id), _when(audit.finished_at, tz), str(audit.sample or "all"), str(counts.get("blobs", 0)),
                      str(counts.get("versions", 0)), str(counts.get("warc_records", 0)), result)
    console.print(table)


def _print_parked(ctx: Context, console: Console, tz: ZoneInfo) -> None:
    """Queue jobs that failed every attempt and are left aside (``flow.jobs.parked_jobs``), with why."""
    import psycopg

    from flow.jobs import parked_jobs  # procrastinate is imported only where a queue is configured

    try:
        parked = parked_jobs(ctx.settings, limit=20)
    except psycopg.Error as exc:
        console.print(f"[red]task queue unreachable[/red]: {literal(str(exc).strip())}")
        return
    if not parked:
        return
    table = Table("job", "task", "sources / args", "attempts", "failed", "last error", title="Parked jobs (task queue)",
                  title_justify="left")
    for job in parked:
        what = ", ".join(job.sources) if job.sources else str(job.args)
        table.add_row(str(job.id), job.task, literal(what[:60]), str(job.attempts), _when(job.failed_at, tz),
                      literal(job.error[:200]))
    console.print(table)


def register(group: click.Group) -> None:
    group.add_command(history)
    group.add_command(diff)
    group.add_command(runs)
