"""Cross-year rules in a real archive (SQLite and PostgreSQL): 洪泽区 2023 and 2024, consistent and with
a planted inconsistency; a missing year is "not checked", never passed; the next year is re-checked
when the earlier one arrives."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from eval import evalset
from fastapi.testclient import TestClient

from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database
from storage.exports import iter_records
from storage.models import ReportVersion
from storage.search import SearchQuery, failing_rules, version_ids
from storage.versions import ReportCandidate, record_report

Y2023, Y2024 = evalset.expected("huaian_hongze_district_2023"), evalset.expected("huaian_hongze_district_2024")
CROSS = ("R8-year-in-force", "R9-year-carried")


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def _add(db: Database, blobs: BlobStore, exp: dict, url: str) -> int:
    sha = blobs.put(evalset.to_tsv_text(exp))
    with db.session() as session:
        _, version, _ = record_report(session, ReportCandidate(url=url, source_url=url, document_url=None, title="",
                                                               sha256=sha))
        return version.id


def _cross(db: Database, version_id: int) -> list[tuple[str, bool | None, str]]:
    with db.session() as session:
        version = session.get(ReportVersion, version_id)
        return [(c.rule, c.ok, c.detail) for c in version.checks if c.rule in CROSS]


def test_a_missing_year_is_not_checked_then_checked_when_it_arrives(db: Database, blobs: BlobStore) -> None:
    later = _add(db, blobs, Y2024, "http://www.hongze.gov.cn/2024.txt")
    extract_pending(db, blobs)
    alone = _cross(db, later)
    assert {rule for rule, _, _ in alone} == set(CROSS)
    assert all(ok is None and detail.startswith("not checked: no 2023 report") for _, ok, detail in alone)
    with db.session() as session:  # the export and the failing filter do not count "not checked" as passed or failed
        [rec] = list(iter_records(session))
        assert {c["ok"] for c in rec["checks"] if c["rule"] in CROSS} == {None}
        assert not set(CROSS) & set(failing_rules(session, [later]).get(later, []))
    earlier = _add(db, blobs, Y2023, "http://www.hongze.gov.cn/2023.txt")
    extract_pending(db, blobs)
    both = _cross(db, later)
    assert both and all(ok is True for _, ok, _ in both), both
    assert sum(rule == "R9-year-carried" for rule, _, _ in both) == 7
    assert any("normative_docs: 2023 现行有效 5 + 本年制发 3 - 本年废止 0" in d for _, _, d in both)
    assert all(ok is None for _, ok, _ in _cross(db, earlier)), "no 2022 report in the archive"


def test_a_planted_inconsistency_fails_the_cross_year_rules(db: Database, blobs: BlobStore) -> None:
    planted = copy.deepcopy(Y2024)
    planted["values"]["applications.carried_over.natural_person"] += 2
    planted["values"]["active.normative_docs.in_force"] += 1
    _add(db, blobs, Y2023, "http://www.hongze.gov.cn/2023.txt")
    later = _add(db, blobs, planted, "http://www.hongze.gov.cn/2024.txt")
    extract_pending(db, blobs)
    failed = {(rule, detail.split(":")[0]) for rule, ok, detail in _cross(db, later) if ok is False}
    assert failed == {("R8-year-in-force", "normative_docs"), ("R9-year-carried", "column natural_person")}
    with db.session() as session:  # the web UI's failing-rule filter finds them by the new names
        for rule in CROSS:
            assert list(session.scalars(version_ids(session, SearchQuery(failing=rule)))) == [later]


def test_the_codebook_lists_every_rule() -> None:
    from domain.schema import RULES
    from storage.exports import codebook_rules

    rules = {r["rule"]: r["statement"] for r in codebook_rules()}
    assert set(rules) == set(RULES) >= {"R6-impossible", "R7-text-total", *CROSS}
    assert "上年结转" in rules["R9-year-carried"]



def test_the_dataset_page_lists_the_rules(client: TestClient) -> None:
    page = client.get("/dataset").text
    assert "R8-year-in-force" in page and "R7-text-total" in page
