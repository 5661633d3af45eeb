"""``ogi demo``: serve the bundled demo portal, crawl it into the archive, export, say what's next.

The demo portal comes from the portal simulator, a development package (``simulator/``, import
``portal_simulator``, installed by ``make setup``), built from real reports it bundles, so
the command works from any directory and never touches the internet: a TRS WCM county site
and a Hanweb JCMS district site, with their look-alike noise and traps, and a development zone's
site whose every page sits behind a 412 JavaScript challenge (127.0.0.1-3), whose reports the
crawler reaches through Chromium (``crawler.browser``). The crawl uses the normal crawler with the
delays lowered (the portal is local) and short timeouts, so the whole demo takes well under a minute.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from rich.console import Console

from ogi.cli import Context, db_option, pass_context

# The portal is local: no politeness delays, and trap timeouts short enough for a demo.
DEMO_SCRAPY_SETTINGS = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "4",
    "DOWNLOAD_TIMEOUT": "4",
    "OGI_MAX_DOWNLOAD_MB": "2",
}

DEMO_PORT = 8431
NOISY_LOGGERS = ("pdfminer", "pdfplumber", "trafilatura", "htmldate", "courlan", "PIL", "charset_normalizer")
# One loopback address per site (Linux routes all of 127/8 to lo): blocking is per host.
DEMO_ADDRESSES = {"trs": "127.0.0.1", "hanweb": "127.0.0.2", "blocked": "127.0.0.3"}


@click.command("demo")
@db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Where to export the reports (default: <data dir>/export.jsonl).")
@pass_context
def demo_cmd(ctx: Context, db_url: str | None, output: str | None) -> None:
    """Serve the bundled demo portal on 127.0.0.1-3, crawl it into the archive and export the reports."""
    from crawler.run import run_crawl
    from ogi.commands.crawl import after_crawl_steps, print_summary

    simulator = _simulator()
    console = Console()
    if db_url:
        ctx.settings.database_url = db_url
    from portal_simulator.challenges import build_demo_site

    portal = build_demo_site(DEMO_ADDRESSES, simulator.TrapOptions(big_file_mb=3, slow_seconds=6))
    verbose = logging.getLogger().level < logging.WARNING
    if not verbose:  # Scrapy resets the root logger; keep the document parsers' debug chatter out
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    with _serve(portal) as server:
        console.print("[bold]Demo portal[/bold] (real reports, simulated TRS WCM and Hanweb JCMS sites):")
        for name, url in server.base_urls.items():
            console.print(f"  {name:8} {url}")
        console.print(f"Crawling into {_shown(ctx.settings.db_url)} ...")
        summary = run_crawl(ctx.settings, urls=list(server.base_urls.values()), progress=sys.stderr.isatty(),
                            scrapy_settings={**DEMO_SCRAPY_SETTINGS, "LOG_LEVEL": "INFO" if verbose else "WARNING"})
        truth = portal.manifest()
    if summary.status != "failed":
        summary.extracted = after_crawl_steps(ctx, summary.run_ids)
    print_summary(summary, console)
    if summary.status == "failed":
        raise click.ClickException(f"the demo crawl failed: {summary.reason}")
    path = Path(output) if output else Path(ctx.settings.data_dir) / "export.jsonl"
    count = _export(ctx, path)
    console.print(f"\n{count} reports exported to [bold]{path}[/bold] "
                  f"(the demo portal publishes {len(truth.reports)} annual reports among "
                  f"{len(truth.not_reports)} other documents and {len(truth.traps)} traps).")
    through_browser = _browser_reports(ctx)
    if through_browser:
        console.print(f"{through_browser} of them sit behind a JavaScript challenge: a browser (Chromium) got past it, "
                      "and their WARC records say so (WARC-Ogi-Fetched-By).")
    console.print(_next_steps(_ogi_command()))


def _ogi_command() -> str:
    """How the user can call ``ogi`` again: bare when it is on PATH, else its path (``make demo``)."""
    exe = Path(sys.argv[0])
    return "ogi" if shutil.which("ogi") == str(exe) or exe.name != "ogi" else os.path.relpath(exe)


def _next_steps(ogi: str) -> str:
    steps = (
        ("serve", "browse and search the archive in a web browser"),
        ("export --format csv -o r.csv", "one row per report, table values as columns"),
        ("history REPORT", "the versions of one report (ids in the web UI / export)"),
        ("crawl URL", "crawl a real portal"),
    )
    width = max(len(f"{ogi} {cmd}") for cmd, _ in steps) + 3
    return "\nNext:\n" + "\n".join(f"  {f'{ogi} {cmd}':<{width}}{what}" for cmd, what in steps)


def _simulator() -> ModuleType:
    """The portal simulator, or a clear error when the development package is not installed."""
    try:
        import portal_simulator
    except ImportError as exc:
        raise click.ClickException("ogi demo needs the portal simulator, a development package: "
                                   "pip install -e simulator (make setup installs it)") from exc
    return portal_simulator


def _serve(portal: Any) -> Any:
    """A fixed port keeps the demo's URLs, so running it again finds the same reports unchanged."""
    server = _simulator().PortalServer
    try:
        return server(portal, port=DEMO_PORT)
    except OSError:  # the port is taken (another demo?): any free port will do
        return server(portal)


def _export(ctx: Context, path: Path) -> int:
    from storage import exports

    path.parent.mkdir(parents=True, exist_ok=True)
    with ctx.db().session() as session, path.open("w", encoding="utf-8", newline="") as out:
        return exports.write_jsonl(exports.iter_records(session), out)


def _browser_reports(ctx: Context) -> int:
    """Reports whose pages or files came with a browser's help (``fetched_by`` in their version's meta)."""
    from sqlalchemy import select

    from storage.models import ReportVersion

    with ctx.db().session() as session:
        return sum(1 for meta in session.scalars(select(ReportVersion.meta)) if (meta or {}).get("fetched_by"))


def _shown(db_url: str) -> str:
    """The database URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(db_url).render_as_string(hide_password=True)


def register(group: click.Group) -> None:
    group.add_command(demo_cmd)
