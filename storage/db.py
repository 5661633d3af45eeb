"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL alike."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def url_key(url: str) -> str:
    """A fixed-length key for a URL, so unique indexes work for URLs of any length."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def chunks(values: list[T], size: int = 500) -> list[list[T]]:
    """``values`` in lists of ``size``: IN lists short enough for any database's parameter limit."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API objects
    # WAL lets the web server read while a crawl writes; busy_timeout waits out short locks
    # instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(db_url: str) -> Engine:
    """Create an engine; for SQLite, create the file's folder and set the pragmas above."""
    if db_url.startswith("postgresql://"):
        db_url = "postgresql+psycopg://" + db_url[len("postgresql://"):]
    if db_url.startswith("sqlite:///"):
        path = db_url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(db_url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(db_url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; run on every start)."""
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    """An engine, its session factory and the migrated schema: what every command opens first."""

    def __init__(self, db_url: str, migrate: bool = True) -> None:
        self.url = db_url
        self.engine = make_engine(db_url)
        if migrate:
            upgrade(self.engine)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
