"""Named sources: ``sources.yaml`` (shipped beside this module, or ``Settings.sources_file``) <-> the sources table.

The table is what crawls and the scheduler read; the YAML file is how people edit it.
``sync_sources`` upserts by name and never deletes (a source removed from the file keeps
its history and can be disabled instead).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.config import Settings
from storage.models import Source

DEFAULT_FILE = Path(__file__).with_name("sources.yaml")
FIELDS = ("title", "province", "city", "county", "start_urls", "allowed_domains", "overrides", "enabled", "verified")


class SourceError(ValueError):
    """A sources file entry that cannot be used, or an unknown source name."""


def sources_file(settings: Settings | None = None) -> Path:
    return Path(settings.sources_file) if settings is not None and settings.sources_file else DEFAULT_FILE


def load_sources_file(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a sources file, checked: a name and at least one http(s) start URL each."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = data.get("sources", []) if isinstance(data, dict) else data
    seen = set()
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not name:
            raise SourceError(f"{path}: entry {i + 1} has no name")
        if name in seen:
            raise SourceError(f"{path}: source {name!r} appears twice")
        seen.add(name)
        urls = entry.get("start_urls") or []
        if not urls or not all(str(u).startswith(("http://", "https://")) for u in urls):
            raise SourceError(f"{path}: source {name!r} needs http(s) start_urls")
        unknown = set(entry) - {"name", *FIELDS}
        if unknown:
            raise SourceError(f"{path}: source {name!r} has unknown field(s) {', '.join(sorted(unknown))}")
    return entries


def sync_sources(session: Session, entries: list[dict[str, Any]]) -> tuple[int, int]:
    """Insert or update sources by name; return (added, updated)."""
    added = updated = 0
    for entry in entries:
        values = {k: entry[k] for k in FIELDS if k in entry}
        source = session.execute(select(Source).where(Source.name == entry["name"])).scalar_one_or_none()
        if source is None:
            session.add(Source(name=entry["name"], **values))
            added += 1
            continue
        changed = {k: v for k, v in values.items() if getattr(source, k) != v}
        for key, value in changed.items():
            setattr(source, key, value)
        updated += bool(changed)
    session.flush()
    return added, updated


def resolve_sources(session: Session, names: list[str], settings: Settings | None = None) -> list[Source]:
    """The sources called ``names``; names not in the table yet are loaded from the sources file."""
    found = {s.name: s for s in session.execute(select(Source).where(Source.name.in_(names))).scalars()}
    missing = [n for n in names if n not in found]
    if missing:
        path = sources_file(settings)
        entries = [e for e in load_sources_file(path) if e["name"] in missing] if path.exists() else []
        sync_sources(session, entries)
        found.update({s.name: s for s in session.execute(select(Source).where(Source.name.in_(missing))).scalars()})
    unknown = [n for n in names if n not in found]
    if unknown:
        raise SourceError(f"unknown source(s): {', '.join(unknown)} (see `ogi sources`)")
    return [found[n] for n in names]
