"""What happens after a crawl, in one place: replay index → extract → diffs → search index → compliance → alert.

Every entry point that archives reports (``ogi crawl``, the scheduler's nightly, a queue
worker, ``ogi alerts send``, ``ogi serve``'s background sync) calls :func:`after_crawl`,
so the steps always run in the same order and none is forgotten:

1. **replay**: the WARC files written since the last run get their CDXJ index, so pywb and
   other Wayback-style tools replay the portal pages (storage/replay.py);
2. **extract** the versions left pending by the crawl (the crawl itself never extracts:
   slow documents must not hold up fetching);
3. **diffs**: revision events get their value diffs (``details["changes"]``), which need
   both versions extracted; the alert digest reads them from there, nowhere else;
4. **index**: versions written without the search index (triggers queue them) are indexed;
5. **compliance**: expected reports are re-evaluated (missing, late; flow/compliance.py);
6. **alerts**: new events are claimed into digests and due digests are sent.

Each step records what it did; a step that fails is logged and recorded with its reason,
and the later steps still run (a broken SMTP server must not stop the index).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from alerts.send import send_pending
from domain.config import Settings
from flow.compliance import compliance_step
from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database
from storage.diff import complete_revision_details
from storage.models import CrawlRun
from storage.replay import index_warcs
from storage.search import sync_index

logger = logging.getLogger(__name__)

STEPS = ("replay", "extract", "diffs", "index", "compliance", "alerts")


@dataclass
class FlowResult:
    """What each step did (step name -> its counts) and which steps failed (step name -> reason)."""

    steps: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.steps.get("alerts", {}).get("failed")

    def as_dict(self) -> dict[str, Any]:
        return {**self.steps, **({"errors": self.errors} if self.errors else {})}


def _replay(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    return asdict(index_warcs(settings.data_dir))


def _extract(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    return dict(extract_pending(db, BlobStore(settings.blob_dir)))


def _diffs(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    with db.session() as session:
        return {"described": complete_revision_details(session, run_ids=run_ids)}


def _index(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    with db.session() as session:
        return {"indexed": sync_index(session)}


def _alerts(db: Database, settings: Settings, run_ids: Sequence[int] | None) -> dict[str, Any]:
    # One claim for the whole batch: a subscriber gets one digest per night, not one per source.
    run_id = max(run_ids) if run_ids else None
    return send_pending(db, settings, run_id=run_id)


_STEP_FUNCTIONS: dict[str, Callable[[Database, Settings, Sequence[int] | None], dict[str, Any]]] = {
    "replay": _replay, "extract": _extract, "diffs": _diffs, "index": _index, "compliance": compliance_step, "alerts": _alerts,
}


def after_crawl(db: Database, settings: Settings, run_ids: Sequence[int] | None = None, *,
                steps: Collection[str] = STEPS, extracted: Mapping[str, int] | None = None) -> FlowResult:
    """Run ``steps`` (in the fixed order of :data:`STEPS`) for the crawl runs ``run_ids``.

    ``run_ids`` narrows the diff step to those runs' events and names the runs whose stats
    record the outcome (under ``"after_crawl"``); ``None`` works on everything pending.
    ``extracted``: what was extracted beside the crawl already (flow.nightly), counted with the
    extract step's own (which then only has the crawl's last versions left).
    """
    unknown = set(steps) - set(STEPS)
    if unknown:
        raise ValueError(f"unknown after-crawl steps: {', '.join(sorted(unknown))}")
    result = FlowResult()
    for name in (s for s in STEPS if s in steps):
        try:
            result.steps[name] = _STEP_FUNCTIONS[name](db, settings, run_ids)
        except Exception as exc:
            logger.exception("after-crawl step %r failed", name)
            result.errors[name] = f"{type(exc).__name__}: {exc}"
    if extracted and "extract" in result.steps:
        result.steps["extract"] = {k: extracted.get(k, 0) + result.steps["extract"].get(k, 0)
                                   for k in {**extracted, **result.steps["extract"]}}
    if run_ids:
        _record(db, run_ids, result)
    return result


def _record(db: Database, run_ids: Sequence[int], result: FlowResult) -> None:
    with db.session() as session:
        for run_id in run_ids:
            run = session.get(CrawlRun, run_id)
            if run is not None:
                run.stats = {**(run.stats or {}), "after_crawl": _jsonable(result.as_dict())}


def _jsonable(value: Any) -> Any:
    """Step results may hold Counters, dataclasses or datetimes; run stats are JSON."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))
