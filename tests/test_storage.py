"""The storage foundation: migrations, blobs and WARC files, on SQLite and PostgreSQL."""
from __future__ import annotations

import gzip
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from warcio.archiveiterator import ArchiveIterator

from storage.blobs import BlobStore
from storage.db import Database, alembic_config
from storage.models import Base, Source
from storage.search import include_name
from storage.warc import WarcStore


def test_migrations_match_models_and_have_one_head(db: Database) -> None:
    """The schema the migrations build is exactly the models' (nothing forgotten in a migration)."""
    heads = ScriptDirectory.from_config(alembic_config(db.engine)).get_heads()
    assert len(heads) == 1, f"migration branches must be merged: {heads}"
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent_and_round_trips_chinese(db_url: str) -> None:
    Database(db_url).dispose()
    database = Database(db_url)
    with database.session() as s:
        s.add(Source(name="zhangshu", title="樟树市人民政府", province="江西省", city="宜春市", county="樟树市"))
    with database.session() as s:
        src = s.query(Source).one()
        assert src.region == "江西省/宜春市/樟树市"
    database.dispose()


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    a = store.put("政府信息公开".encode())
    b = store.put("政府信息公开".encode())
    assert a == b and store.get(a) == "政府信息公开".encode()
    assert len(list(tmp_path.rglob("*"))) == 3  # ab/, ab/cd/, the file: stored once
    assert not list(tmp_path.rglob(".tmp-*"))


def test_warc_records_are_readable_by_warcio(tmp_path: Path) -> None:
    """The exchange as received: a gzip body stays gzip with its Content-Encoding; only the chunked
    framing, which the HTTP client removed, loses its header."""
    store = WarcStore(tmp_path)
    page = "<html>年报</html>".encode("gbk")
    body = gzip.compress(page)
    name, offset = store.write_exchange(
        "http://127.0.0.1/a.html", "GET", [("User-Agent", "ogi")], 200,
        [("Content-Type", "text/html; charset=gbk"), ("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], body,
    )
    store.close()
    with open(tmp_path / name, "rb") as fh:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                   for r in ArchiveIterator(fh)]
    assert [r[0] for r in records] == ["warcinfo", "response", "request"]
    assert records[1][2] == page, "readers decode the Content-Encoding themselves"
    with open(tmp_path / name, "rb") as fh:
        fh.seek(offset)
        rec = next(iter(ArchiveIterator(fh)))
        assert rec.rec_type == "response" and rec.http_headers.get_header("Content-Encoding") == "gzip"
        assert rec.http_headers.get_header("Transfer-Encoding") is None and rec.raw_stream.read() == body
