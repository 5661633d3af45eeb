"""What changed between two versions of a report: the text, line by line, and every table value.

Used by ``ogi diff`` and by the alert digests ("what changed" in a revision). Values are
compared by canonical key on the ``ExtractedValue`` rows of each version, by number: a key
with a number on one side only shows up with ``None`` on the other. Nothing here writes except
:func:`complete_revision_details`, which adds the value diff to ``revised`` outbox events
once both versions have been extracted (at record time only the version numbers are known).
"""
from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.schema import ALL_KEYS
from storage.models import ChangeEvent, ExtractedValue, ReportVersion

logger = logging.getLogger(__name__)

_KEY_ORDER = {k.key: i for i, k in enumerate(ALL_KEYS)}
# Fields of a version shown beside the values when they differ.
META_FIELDS = ("sha256", "title", "agency", "region", "report_year", "template", "published_at", "source_url", "document_url")


@dataclass(frozen=True)
class ValueChange:
    """One table cell that differs: its canonical key, and the number and printed text on each side."""

    key: str
    old: float | None
    new: float | None
    old_raw: str = ""
    new_raw: str = ""


@dataclass
class VersionDiff:
    """Everything that differs between two versions of one report."""

    old: ReportVersion
    new: ReportVersion
    fields: dict[str, tuple[Any, Any]]
    text: list[str]
    values: list[ValueChange]

    @property
    def text_changed(self) -> bool:
        return bool(self.text)


def text_diff(old: str, new: str, *, old_label: str = "old", new_label: str = "new", context: int = 3) -> list[str]:
    """A unified diff of two texts, one line per item (no trailing newlines); empty when equal."""
    return [line.rstrip("\n") for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), fromfile=old_label, tofile=new_label, n=context, lineterm="")]


def _values(session: Session, version_id: int) -> dict[str, ExtractedValue]:
    return {v.key: v for v in session.scalars(select(ExtractedValue).where(ExtractedValue.version_id == version_id))}


def _same(a: ExtractedValue | None, b: ExtractedValue | None) -> bool:
    # A missing cell and a cell printed as "—" or left empty both mean "no number": not a change.
    return (a.value if a else None) == (b.value if b else None)


def value_changes(session: Session, old_version_id: int, new_version_id: int) -> list[ValueChange]:
    """Every canonical key whose value differs between two versions, in the tables' order."""
    old, new = _values(session, old_version_id), _values(session, new_version_id)
    keys = sorted(set(old) | set(new), key=lambda k: (_KEY_ORDER.get(k, len(_KEY_ORDER)), k))
    changes = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if not _same(a, b):
            changes.append(ValueChange(key, a.value if a else None, b.value if b else None,
                                       a.raw if a else "", b.raw if b else ""))
    return changes


def version_diff(session: Session, old: ReportVersion, new: ReportVersion) -> VersionDiff:
    """Compare two versions (of the same report, usually consecutive)."""
    fields = {f: (getattr(old, f), getattr(new, f)) for f in META_FIELDS if getattr(old, f) != getattr(new, f)}
    text = text_diff(old.text or "", new.text or "", old_label=f"v{old.version}", new_label=f"v{new.version}")
    return VersionDiff(old, new, fields, text, value_changes(session, old.id, new.id))


def revision_summary(session: Session, old: ReportVersion, new: ReportVersion, *, max_values: int = 50) -> dict[str, Any]:
    """A JSON-able summary of a revision for alert digests: changed values and text line counts."""
    diff = version_diff(session, old, new)
    added = sum(1 for line in diff.text if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff.text if line.startswith("-") and not line.startswith("---"))
    return {
        "values": [asdict(c) for c in diff.values[:max_values]],
        "values_changed": len(diff.values),
        "lines_added": added,
        "lines_removed": removed,
        "fields_changed": sorted(diff.fields),
    }


def complete_revision_details(session: Session, *, run_ids: Sequence[int] | None = None) -> int:
    """Add ``details["changes"]`` (see :func:`revision_summary`) to ``revised`` events; return how many.

    Only events whose two versions are both extracted are completed; the others are left as
    they are and completed by a later call. Run after extraction and before the alerts are
    sent, so a digest can say what changed. Restorations with the same bytes have nothing to
    compare and are skipped.
    """
    query = select(ChangeEvent).where(ChangeEvent.kind == "revised")
    if run_ids is not None:
        query = query.where(ChangeEvent.run_id.in_(list(run_ids)))
    done = 0
    for event in session.scalars(query.order_by(ChangeEvent.id)):
        details = dict(event.details or {})
        previous = details.get("previous_version")
        if "changes" in details or not previous or details.get("version") == previous:
            continue
        old, new = (session.execute(select(ReportVersion).where(
            ReportVersion.report_id == event.report_id, ReportVersion.version == details[k])).scalar_one_or_none()
            for k in ("previous_version", "version"))
        if old is None or new is None or "pending" in (old.extraction_status, new.extraction_status):
            continue
        details["changes"] = revision_summary(session, old, new)
        event.details = details
        done += 1
    return done
