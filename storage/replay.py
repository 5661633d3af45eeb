"""Replay with standard tools: a CDXJ index beside every WARC file, and a pywb configuration.

The WARC files are the archive's evidence of what each portal page looked like; Wayback-style
replay tools (pywb, OpenWayback) find a capture through a sorted CDXJ index (URL key in SURT
form, timestamp, then the record's file, offset and length). The index is written by
cdxj-indexer, the Webrecorder project's maintained indexer (the one pywb's own tools use),
never by hand. :func:`index_warcs` runs after every crawl (the after-crawl flow's ``replay``
step) and indexes the WARC files that are new or have grown since they were indexed; each
index is written to a temporary name and renamed into place, so a replay tool never reads a
half-written one. ``<data dir>/config.yaml`` names the collection for pywb, so replay is
``cd <data dir> && wayback`` (README, "Replaying the archive").
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cdxj_indexer.main import write_cdx_index

COLLECTION = "ogi"
PYWB_CONFIG = f"""# pywb configuration written by ogi-archive (storage/replay.py): `wayback` in this directory
# replays the archived portal pages at http://localhost:8080/{COLLECTION}/<timestamp>/<url>.
collections:
  {COLLECTION}:
    index_paths: ./cdxj/
    archive_paths: ./warc/
framed_replay: true
"""


@dataclass
class IndexResult:
    """How many WARC files were indexed now, and how many already had a current index."""

    indexed: int = 0
    current: int = 0


def cdxj_path(warc: Path) -> Path:
    """Where the index of ``warc`` lives: ``<data dir>/cdxj/<warc name>.cdxj``."""
    return warc.parent.parent / "cdxj" / f"{warc.name}.cdxj"


def _is_current(warc: Path, index: Path) -> bool:
    return index.is_file() and index.stat().st_mtime >= warc.stat().st_mtime


def index_warc(warc: Path) -> Path:
    """(Re)write the sorted CDXJ index of one WARC file; return its path."""
    index = cdxj_path(warc)
    index.parent.mkdir(parents=True, exist_ok=True)
    partial = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    write_cdx_index(str(partial), [str(warc)], {"sort": True, "post_append": True})
    os.replace(partial, index)
    return index


def index_warcs(data_dir: str | os.PathLike[str]) -> IndexResult:
    """Index every WARC file under ``data_dir`` whose index is missing or older than it."""
    root = Path(data_dir)
    result = IndexResult()
    for warc in sorted((root / "warc").glob("*.warc.gz")):
        if _is_current(warc, cdxj_path(warc)):
            result.current += 1
        else:
            index_warc(warc)
            result.indexed += 1
    config = root / "config.yaml"
    if (root / "warc").is_dir() and not config.exists():
        config.write_text(PYWB_CONFIG, encoding="utf-8")
    return result


def replay_url(base: str, url: str, when: datetime) -> str:
    """The Wayback-style address of ``url`` as archived about ``when`` (pywb serves the capture
    nearest that 14-digit timestamp), or "" when no replay is configured or ``url`` is not http(s)."""
    if not base or not url.startswith(("http://", "https://")):
        return ""
    return f"{base.rstrip('/')}/{when:%Y%m%d%H%M%S}/{url}"
