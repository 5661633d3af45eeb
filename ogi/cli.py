"""The ``ogi`` command line: a click group whose subcommands live in ``ogi/commands/``.

Each module in ``ogi.commands`` defines click commands and a ``register(group)`` function;
they are discovered at start-up, so adding a command is adding a module. Every command
that touches the archive takes ``--db`` (else ``OGI_DATABASE_URL``, else ``./data/ogi.sqlite3``).
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler

from ogi import commands
from ogi.config import Settings, load_settings


class Context:
    """What every command gets: the settings, and the archive opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db = None

    def db(self, db_url: str | None = None):  # noqa: ANN201 - storage.db.Database, imported lazily
        if db_url:
            self.settings.database_url = db_url
        if self._db is None:
            from storage.db import Database

            self._db = Database(self.settings.db_url)
        return self._db


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--db DBURL``: the archive database (overrides OGI_DATABASE_URL and the config file)."""
    return click.option(
        "--db", "db_url", default=None, metavar="DBURL",
        help="Database URL, e.g. sqlite:///data/ogi.sqlite3 or postgresql://host/db (default: $OGI_DATABASE_URL or ./data/ogi.sqlite3).",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help="YAML config file (default: $OGI_CONFIG or ./ogi.yaml).")
@click.option("--data-dir", default=None, help="Where WARC files, blobs and the default SQLite database live (default ./data).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="ogi-archive")
@click.pass_context
def main(ctx: click.Context, config_file: str | None, data_dir: str | None, verbose: int) -> None:
    """ogi-archive: crawl, archive, extract and serve Chinese government OGI annual reports."""
    level = logging.WARNING - 10 * verbose
    # Logs go to stderr: stdout carries command output (``ogi extract`` JSON, exports).
    handler = RichHandler(show_path=False, console=Console(stderr=True))
    handler.setLevel(level)  # Scrapy lowers the root logger to NOTSET; the handler keeps -v's level
    logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler])
    try:
        settings = load_settings(config_file, data_dir=data_dir)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    ctx.obj = Context(settings)


pass_context = click.make_pass_decorator(Context)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(main)


_register_commands()
