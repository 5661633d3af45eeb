"""``ogi serve``: the research web UI and JSON API (see web/app.py).

The blobs are read from the archive's own data directory (recorded by the crawl that wrote
it, storage/archive_meta.py) unless ``--data-dir``, ``OGI_DATA_DIR`` or the config file names
one, so ``ogi serve --db X`` serves X's originals from any working directory.
"""
from __future__ import annotations

import os

import click

from domain.config import Settings
from ogi.cli import db_option, pass_context


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@pass_context
def serve_command(ctx, db_url: str | None, host: str, port: int) -> None:  # noqa: ANN001
    """Serve search, report pages, dataset exports and the API (docs at /docs).

    Set OGI_BASE_URL (the public address) for absolute URLs in the API and citations.
    """
    import uvicorn

    from storage.archive_meta import DataDirError, archive_data_dir
    from web.app import create_app

    db = ctx.db(db_url)
    try:
        ctx.settings.data_dir = archive_data_dir(db, ctx.settings, explicit=data_dir_given(ctx.settings))
    except DataDirError as exc:
        raise click.UsageError(str(exc)) from None
    app = create_app(ctx.settings, db)
    click.echo(f"ogi-archive on http://{host}:{port}/  (API docs: /docs; data: {ctx.settings.data_dir}; Ctrl-C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def data_dir_given(settings: Settings) -> bool:
    """Whether the data directory was chosen (``--data-dir``, OGI_DATA_DIR, config file) or is the default."""
    root = click.get_current_context().find_root()
    return bool(root.params.get("data_dir")) or "OGI_DATA_DIR" in os.environ or settings.data_dir != Settings.data_dir


def register(group: click.Group) -> None:
    group.add_command(serve_command)
