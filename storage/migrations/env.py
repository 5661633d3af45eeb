"""Alembic environment: runs on the connection handed in by storage.db.upgrade()."""
from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.models import Base
from storage.search import include_name

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = config.attributes["engine"]
        with engine.begin() as connection:
            _run(connection)
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="storage.models.",
        include_name=include_name,  # search_* objects are managed by storage/search.py
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
