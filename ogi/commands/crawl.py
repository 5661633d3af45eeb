"""``ogi crawl`` (crawl and archive, with progress and a summary) and ``ogi sources`` (list / sync).

``ogi crawl`` exits non-zero only when the crawl itself failed (it could not start, or
Scrapy stopped it); fetch errors, blocked hosts and bad attachments are outcomes of a
successful crawl and are reported in the summary.
"""
from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ogi.cli import Context, db_option, json_option, literal, pass_context, print_json, terminal


def _parse_settings(pairs: tuple[str, ...]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="-s")
        result[name.strip()] = value
    return result


@click.command("crawl")
@click.argument("urls", nargs=-1)
@click.option("--source", "sources", multiple=True, metavar="NAME", help="A named source (see `ogi sources`); repeatable.")
@db_option
@click.option("--max-pages", type=int, default=None, help="Stop after this many responses.")
@click.option("--kind", type=click.Choice(["manual", "incremental", "full"]), default="manual", show_default=True,
              help="incremental: re-request known reports and the pages they are on conditionally (ETag / Last-Modified).")
@click.option("-s", "--set", "setting", multiple=True, metavar="NAME=VALUE",
              help="Any Scrapy setting, as with `scrapy crawl -s`.")
@click.option("--no-extract", is_flag=True,
              help="Leave new versions pending extraction (a worker or `ogi reextract --outdated-only` does it later).")
@json_option
@click.option("--no-progress", is_flag=True, help="No live progress line.")
@pass_context
def crawl_cmd(ctx: Context, urls: tuple[str, ...], sources: tuple[str, ...], db_url: str | None, max_pages: int | None,
              kind: str, setting: tuple[str, ...], no_extract: bool, as_json: bool, no_progress: bool) -> None:
    """Crawl portal URLS and/or named sources; archive every exchange and every report found."""
    from sqlalchemy.exc import SQLAlchemyError

    from crawler.run import run_crawl
    from crawler.sources import SourceError

    if not urls and not sources:
        raise click.UsageError("give start URLs or --source NAME")
    if db_url:
        ctx.settings.database_url = db_url
    progress = not no_progress and not as_json and sys.stderr.isatty()
    try:
        summary = run_crawl(ctx.settings, urls=urls, sources=sources, kind=kind, max_pages=max_pages,
                            scrapy_settings=_parse_settings(setting), progress=progress)
    except (SourceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(f"cannot open the database: {exc}") from exc
    if not no_extract and summary.status != "failed":
        summary.extracted = after_crawl_steps(ctx, summary.run_ids)
    if as_json:
        print_json(summary.as_dict())
    else:
        print_summary(summary, Console())
    if summary.status == "failed":
        sys.exit(1)


def after_crawl_steps(ctx: Context, run_ids: list[int]) -> dict[str, Any]:
    """The after-crawl flow for the crawl's runs, but for alerts (they are `ogi alerts send`'s and the nightly's)."""
    from flow.after_crawl import STEPS, after_crawl
    from storage.db import Database

    db = Database(ctx.settings.db_url)
    try:
        result = after_crawl(db, ctx.settings, run_ids, steps=[step for step in STEPS if step != "alerts"])
    finally:
        db.dispose()
    return {**result.steps.get("extract", {}), **{f"{k} failed": v for k, v in result.errors.items()}}


def print_summary(summary: Any, console: Console) -> None:
    """The final summary: pages, reports new/changed/unchanged, errors by kind, blocked hosts."""
    colour = {"finished": "green", "interrupted": "yellow"}.get(summary.status, "red")
    console.print(f"[bold]crawl {literal(summary.status)}[/bold] [{colour}]({literal(summary.reason)})[/{colour}] "
                  f"runs {', '.join(map(str, summary.run_ids)) or '-'} in {summary.seconds:.1f} s")
    table = Table(show_header=False, box=None, pad_edge=False)
    megabytes = summary.bytes_downloaded / 2**20
    table.add_row("pages fetched", f"{summary.pages} ({summary.pages_per_second:.1f}/s, {megabytes:.1f} MB)")
    table.add_row("reports", f"{summary.reports_new} new, {summary.reports_changed} changed, "
                             f"{summary.reports_unchanged} unchanged ({summary.not_modified} requests answered 304)")
    if summary.reports_withdrawn:
        table.add_row("withdrawn", str(summary.reports_withdrawn))
    errors = ", ".join(f"{k} {v}" for k, v in sorted(summary.errors_by_kind.items())) or "none"
    table.add_row("errors", literal(f"{summary.errors} ({errors})"))
    table.add_row("blocked", literal("; ".join(f"{h}: {r}" for h, r in summary.blocked.items()) or "none"))
    if summary.browser:
        table.add_row("via browser", literal("; ".join(f"{h}: {r}" for h, r in summary.browser.items())))
    if summary.skipped:
        table.add_row("not fetched", literal(", ".join(f"{k} {v}" for k, v in sorted(summary.skipped.items()))))
    if summary.extracted:
        table.add_row("extraction", literal(", ".join(f"{k} {v}" for k, v in summary.extracted.items())))
    console.print(table)


@click.group("sources", invoke_without_command=True)
@db_option
@json_option
@click.pass_context
def sources_cmd(click_ctx: click.Context, db_url: str | None, as_json: bool) -> None:
    """List the sources in the database (`ogi sources sync` loads sources.yaml)."""
    click_ctx.obj.db_url_option = db_url
    if click_ctx.invoked_subcommand is None:
        _list_sources(click_ctx.obj, db_url, as_json)


def _list_sources(ctx: Context, db_url: str | None, as_json: bool) -> None:
    from sqlalchemy import select

    from storage.models import Source

    with ctx.db(db_url, create=False).session() as session:
        rows = session.execute(select(Source).order_by(Source.name)).scalars().all()
        if as_json:
            print_json([{"name": s.name, "title": s.title, "region": s.region, "start_urls": list(s.start_urls),
                         "enabled": s.enabled, "verified": s.verified} for s in rows])
            return
        table = Table("name", "title", "region", "start URLs", "enabled", "verified")
        for s in rows:
            table.add_row(literal(s.name), literal(s.title), literal(s.region), literal(" ".join(s.start_urls)),
                          "yes" if s.enabled else "no", "yes" if s.verified else "no")
    terminal().print(table if rows else "no sources yet: run `ogi sources sync`")


@sources_cmd.command("sync")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@db_option
@click.pass_obj
def sync_cmd(ctx: Context, file: str | None, db_url: str | None) -> None:
    """Load FILE (default: the shipped crawler/sources.yaml or Settings.sources_file) into the database."""
    from crawler.sources import SourceError, load_sources_file, sources_file, sync_sources

    try:
        entries = load_sources_file(file or sources_file(ctx.settings))
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc
    with ctx.db(db_url or getattr(ctx, "db_url_option", None)).session() as session:
        added, updated = sync_sources(session, entries)
    click.echo(f"{len(entries)} sources: {added} added, {updated} updated")


def register(group: click.Group) -> None:
    group.add_command(crawl_cmd)
    group.add_command(sources_cmd)
