"""Shared fixtures: a fresh database on SQLite and on the local PostgreSQL, and a data dir.

PostgreSQL tests create a database of their own (``ogi_test_<random>``) on 127.0.0.1:5432 and
drop it afterwards, so test runs and parallel developers never see each other's rows.
Set ``OGI_TEST_PG_URL`` to point at another server (default: postgresql://postgres@127.0.0.1:5432).
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.config import Settings
from storage.blobs import BlobStore
from storage.db import Database

# Fixtures of the seeded archive (web, API, search, export tests) live beside their seeding code.
pytest_plugins = ["tests.seeding", "tests.mail"]

PG_SERVER = os.environ.get("OGI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
FIXTURES = Path(__file__).parent / "fixtures"


def _pg_admin() -> sa.Engine:
    return sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with _pg_admin().connect() as conn:
            conn.execute(sa.text("select 1"))
        return True
    except sa.exc.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_SERVER}: {exc}")


@pytest.fixture
def pg_url(pg_available: bool) -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped after the test."""
    name = f"ogi_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ogi.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database on both back ends."""
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings pointing at a temporary data dir and the parametrized database."""
    return Settings(data_dir=str(tmp_path / "data"), database_url=db_url)


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "data" / "blobs")
