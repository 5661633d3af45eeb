"""``ogi serve``: the research web UI and JSON API (see web/app.py)."""
from __future__ import annotations

import click

from ogi.cli import db_option, pass_context


@click.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0: every interface).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@pass_context
def serve_command(ctx, db_url: str | None, host: str, port: int) -> None:  # noqa: ANN001
    """Serve search, report pages, dataset exports and the API (docs at /docs)."""
    import uvicorn

    from web.app import create_app

    app = create_app(ctx.settings, ctx.db(db_url))
    click.echo(f"ogi-archive on http://{host}:{port}/  (API docs: /docs; Ctrl-C stops)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(group: click.Group) -> None:
    group.add_command(serve_command)
