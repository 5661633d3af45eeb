"""The ``ogi`` command line: a click group whose subcommands live in ``ogi/commands/``.

Each module in ``ogi.commands`` defines click commands and a ``register(group)`` function;
they are discovered at start-up, so adding a command is adding a module. Every command
that touches the archive takes ``--db`` (else ``OGI_DATABASE_URL``, else ``./data/ogi.sqlite3``).

Listing commands take ``--json`` (:func:`json_option`) and print one JSON document through
:func:`print_json`: a list of objects, or an object for one thing, with the field names of
the archive's columns, UTF-8 as is. A command exits non-zero when what it was asked to do
failed; a batch's failed items (documents that do not extract) are an outcome it reports.

Two rules every command follows, because archive text is crawled from the open web:
crawled text reaches the terminal only through :func:`literal` (rich markup) or
:func:`printable` (plain output), and failures of the user's environment (bad ``--db``,
missing archive, unwritable output, numbers out of range) end as one ``Error:`` line via
:class:`ArchiveGroup`, never a traceback.
"""
from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from sqlalchemy.exc import ArgumentError, DBAPIError

from domain.config import Settings, load_settings
from ogi import commands
from storage.db import NoArchiveError, shown_url

#: C0 and C1 control characters (ESC starts terminal sequences; 0x9b is a one-byte CSI) and the
#: bidirectional overrides that make a terminal show text in another order than it is.
_CONTROLS = dict.fromkeys([*range(0x20), *range(0x7f, 0xa0), *range(0x202a, 0x202f), *range(0x2066, 0x206a)])
_CONTROLS.update(dict.fromkeys(map(ord, "\t\n\r"), " "))


#: The controls JSON leaves as they are (DEL, C1, bidirectional overrides), as ``\\uXXXX``.
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _CONTROLS if c >= 0x7f}


def printable(text: object) -> str:
    """``text`` without control characters (tab and line breaks become spaces), for plain output:
    a crawled title or agency must not clear the screen, forge a hyperlink or break a table row."""
    return str(text).translate(_CONTROLS)


def literal(text: object) -> str:
    """Crawled ``text`` to embed in rich markup: printable and with ``[`` escaped, so a title
    holding ``[/bold]`` or ``[link=...]`` prints as written instead of crashing or linking."""
    return escape(printable(text))


class Context:
    """What every command gets: the settings, and the archive opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db = None

    def db(self, db_url: str | None = None, *, create: bool = True):  # noqa: ANN201 - storage.db.Database, imported lazily
        """The archive (``--db`` else the settings'); read-only commands pass ``create=False``."""
        if db_url:
            self.settings.database_url = db_url
        if self._db is None:
            from storage.db import Database

            self._db = Database(self.settings.db_url, create=create)
        return self._db


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--db DBURL``: the archive database (overrides OGI_DATABASE_URL and the config file)."""
    return click.option(
        "--db", "db_url", default=None, metavar="DBURL",
        help="Database URL, e.g. sqlite:///data/ogi.sqlite3 or postgresql://host/db "
             "(default: $OGI_DATABASE_URL or ./data/ogi.sqlite3).",
    )(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: print the command's result as one JSON document (see :func:`print_json`)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (UTF-8) instead of a table.")(func)


def print_json(document: Any) -> None:
    """``document`` as indented JSON on stdout, written as UTF-8 bytes whatever the locale:
    Chinese stays readable (no ``\\u`` escapes) and datetimes become ISO 8601 strings. Terminal
    controls in crawled text stay escaped: JSON escapes C0 itself, :data:`_JSON_ESCAPES` the
    rest (only strings can hold them, so the document means the same)."""
    text = json.dumps(document, ensure_ascii=False, indent=2, default=_json_default)
    click.echo(text.translate(_JSON_ESCAPES).encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def terminal() -> Console:
    """The console for command output: piped output (scripts, tests) gets wide tables instead
    of columns wrapped at 80."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


#: What a user's environment or input can cause (not bugs): shown as one line, not a traceback.
USER_ERRORS = (NoArchiveError, ArgumentError, DBAPIError, OSError, OverflowError)


def describe(exc: BaseException, db_url: str | None) -> str:
    """One readable line for a USER_ERRORS exception (for the database: which one, and the
    driver's message rather than SQL and a link)."""
    if isinstance(exc, DBAPIError):
        message = f"cannot use the database{f' {shown_url(db_url)}' if db_url else ''}: {exc.orig}"
    elif isinstance(exc, OSError) and exc.strerror and exc.filename:
        message = f"{exc.strerror}: {exc.filename}"
    elif isinstance(exc, OverflowError):
        message = f"number out of range: {exc}"
    else:
        message = re.sub(r"^\[Errno \d+\] ", "", str(exc))
    return " ".join(printable(message).split())


class ArchiveGroup(click.Group):
    """The ``ogi`` group: any subcommand's USER_ERRORS become ``Error: ...`` and exit status 1,
    in this one place rather than a try/except in every command (``-vv`` logs the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            logging.getLogger("ogi").debug("%s", type(exc).__name__, exc_info=True)
            obj = ctx.find_object(Context)
            raise click.ClickException(describe(exc, obj and obj.settings.db_url)) from exc


@click.group(cls=ArchiveGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML config file (default: $OGI_CONFIG or ./ogi.yaml).")
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
