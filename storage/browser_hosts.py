"""Hosts that only a browser gets past, remembered from one crawl to the next.

A portal behind a JavaScript challenge stays behind it night after night, so the next crawl
goes to the browser at once instead of meeting the wall first. Walls come down too, so the
memory has a date: a host not seen walled for ``recheck_days`` is tried plainly again (and
remembered afresh if the wall is still there). One ``archive_meta`` row per host
(``browser_host:<host>`` -> JSON), so no migration and no shared row for concurrent crawls to fight over.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import ArchiveMeta

PREFIX = "browser_host:"
_KEY_LENGTH = 100  # archive_meta.key


def _key(host: str) -> str | None:
    key = PREFIX + host
    return key if len(key) <= _KEY_LENGTH else None


def browser_hosts(db: Database) -> dict[str, dict[str, Any]]:
    """Every remembered host: ``{"since", "walled" (ISO dates), "reason"}``."""
    with db.session() as session:
        rows = session.scalars(select(ArchiveMeta).where(ArchiveMeta.key.startswith(PREFIX))).all()
        return {row.key[len(PREFIX):]: json.loads(row.value) for row in rows}


def due_for_recheck(info: dict[str, Any], recheck_days: int, today: date | None = None) -> bool:
    """Whether the host was last met walled ``recheck_days`` ago or more: time to try it plainly."""
    return date.fromisoformat(info["walled"]) <= (today or date.today()) - timedelta(days=recheck_days)


def remember(db: Database, host: str, reason: str, today: date | None = None) -> None:
    """The host's pages needed a browser today (``since``: the first day they did)."""
    key = _key(host)
    if key is None:
        return
    day = (today or date.today()).isoformat()
    with db.session() as session:
        row = session.get(ArchiveMeta, key)
        info = json.loads(row.value) if row else {"since": day}
        info.update(walled=day, reason=reason[:300])
        if row is None:
            session.add(ArchiveMeta(key=key, value=json.dumps(info, ensure_ascii=False)))
        else:
            row.value = json.dumps(info, ensure_ascii=False)


def forget(db: Database, host: str) -> None:
    """The host answered plainly again: its wall is down."""
    key = _key(host)
    if key is not None:
        with db.session() as session:
            session.execute(delete(ArchiveMeta).where(ArchiveMeta.key == key))
