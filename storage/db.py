"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL alike."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Engine, create_engine, event, inspect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The largest integer key SQLite and PostgreSQL's bigint hold: a larger "id" names no row, and
#: passing it to SQLite raises OverflowError instead of finding nothing.
MAX_ID = 2**63 - 1
_EXPECTED = "expected sqlite:///PATH or postgresql://HOST/DATABASE"


class NoArchiveError(Exception):
    """The database named holds no ogi archive (a SQLite file that does not exist, a PostgreSQL
    database without ogi tables): read-only commands stop here rather than create an empty
    archive under a mistyped name and report that it is empty."""


def url_key(url: str) -> str:
    """A fixed-length key for a URL, so unique indexes work for URLs of any length."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def chunks(values: list[T], size: int = 500) -> list[list[T]]:
    """``values`` in lists of ``size``: IN lists short enough for any database's parameter limit."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets the web server read while a crawl writes; busy_timeout waits out short locks
    # instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def parse_url(db_url: str) -> URL:
    """``db_url`` parsed, or ArgumentError naming it: SQLAlchemy's own messages name neither the
    URL nor what would have been right, and an unknown scheme fails only when a driver is loaded."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise ArgumentError(f"{db_url!r} is not a database URL ({_EXPECTED})") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ArgumentError(f"{shown_url(url)}: unsupported database {url.get_backend_name()!r} ({_EXPECTED})")
    return url


def shown_url(url: str | URL) -> str:
    """The URL as messages may print it: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_engine(db_url: str, *, create: bool = True) -> Engine:
    """Create an engine; for SQLite, create the file's folder (unless not ``create``: then the
    file must exist) and set the pragmas above."""
    url = parse_url(db_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    path = sqlite_path(url)
    if path is not None:
        if not create and not path.is_file():
            raise NoArchiveError(f"no archive at {path} (no such file: check --db or OGI_DATABASE_URL)")
        path.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


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


def _require_archive(engine: Engine) -> None:
    """Raise NoArchiveError unless the database has been migrated by ogi (has ``alembic_version``)."""
    if not inspect(engine).has_table("alembic_version"):
        raise NoArchiveError(f"no archive in {shown_url(engine.url)} (the database has no ogi tables: "
                             "check --db or OGI_DATABASE_URL)")


class Database:
    """An engine, its session factory and the migrated schema: what every command opens first.

    ``create=False`` opens only an existing archive (NoArchiveError otherwise): what read-only
    commands use, so a mistyped ``--db`` is an error instead of a new empty archive.
    """

    def __init__(self, db_url: str, migrate: bool = True, *, create: bool = True) -> None:
        self.url = db_url
        self.engine = make_engine(db_url, create=create)
        try:
            if not create:
                _require_archive(self.engine)
            if migrate:
                upgrade(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
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
