"""Facts about an archive kept in its own database: where its data directory (blobs, WARC) is.

The data directory belongs with the database. Settings alone cannot say where it is: their
default, ``./data``, is relative to whatever directory a command is started from, so
``ogi serve --db X`` elsewhere looked for blobs in the wrong place (404s, or the originals of
another archive). A crawl records its absolute data directory here when it opens the archive
(:func:`remember_data_dir`); readers use it unless one is given explicitly
(:func:`archive_data_dir`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.config import Settings
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import ArchiveMeta, ReportVersion

logger = logging.getLogger(__name__)
DATA_DIR = "data_dir"


class DataDirError(Exception):
    """The archive's blobs are not where the data directory says; the message says what to pass."""


def remember_data_dir(db: Database, data_dir: str | os.PathLike[str]) -> None:
    """Record ``data_dir`` as the archive's, the first time a writer opens it.

    The first writer's directory stays: a crawl run with another one would split the archive
    over two directories, which is logged rather than silently followed.
    """
    path = str(Path(data_dir).resolve())
    with db.session() as session:
        row = session.get(ArchiveMeta, DATA_DIR)
        if row is None:
            session.add(ArchiveMeta(key=DATA_DIR, value=path))
        elif row.value != path:
            logger.warning("this archive's data directory is %s, but %s is written to now: its blobs are split", row.value, path)


def stored_data_dir(session: Session) -> Path | None:
    row = session.get(ArchiveMeta, DATA_DIR)
    return Path(row.value) if row else None


def archive_data_dir(db: Database, settings: Settings, *, explicit: bool) -> str:
    """The data directory a reader of ``db`` should use.

    ``settings.data_dir`` when ``explicit`` (``--data-dir``, ``OGI_DATA_DIR``, a config file),
    else the one the archive recorded, else ``settings.data_dir``. Unless explicit, it must
    hold the archive's blobs (one referenced blob is looked up): DataDirError names the way
    out instead of serving 404s.
    """
    if explicit:
        return settings.data_dir
    with db.session() as session:
        stored = stored_data_dir(session)
        sample = session.scalar(select(ReportVersion.sha256).limit(1))
    chosen = str(stored) if stored else settings.data_dir
    if sample and not BlobStore(replace(settings, data_dir=chosen).blob_dir).exists(sample):
        where = "recorded for this archive" if stored else "the default, and none is recorded for this archive"
        raise DataDirError(f"the data directory {Path(chosen).resolve()} ({where}) does not hold this archive's "
                           "blobs: pass --data-dir (or set OGI_DATA_DIR) to where they are")
    return chosen
