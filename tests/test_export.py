"""``ogi export`` (issue 3 contract) on SQLite and PostgreSQL: JSONL, CSV, Parquet, --all-versions."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from ogi.cli import main
from storage.db import Database
from storage.exports import FIELDS, VALUE_COLUMNS, codebook


def _run(db: Database, *args: str) -> str:
    result = CliRunner().invoke(main, ["export", "--db", db.url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_jsonl_has_the_contract_fields_and_unescaped_chinese(db: Database, seeded) -> None:
    out = _run(db, "--format", "jsonl")
    assert "掌政镇" in out and "\\u" not in out
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3 and all(tuple(r) == FIELDS for r in records)
    zz = next(r for r in records if r["agency"] == "兴庆区掌政镇人民政府")
    assert zz["document_url"].endswith(".pdf") and zz["template"] == "2021" and zz["report_year"] == 2021
    assert zz["values"]["applications.new.natural_person"] == 12 and zz["values"]["active.fees.amount_10k_yuan"] is None
    assert {"rule": "R1-balance", "ok": False, "detail": "natural_person: 12 + 0 != 9 + 2"} in zz["checks"]
    assert zz["status"] == "current" and zz["version"] == 1 and len(zz["sha256"]) == 64
    zx = next(r for r in records if r["agency"] == "众兴镇人民政府")
    assert zx["document_url"] is None and zx["version"] == 2 and "阳光政府" in zx["text"]


def test_all_versions_gives_every_version(db: Database, seeded) -> None:
    records = [json.loads(line) for line in _run(db, "--format", "jsonl", "--all-versions").splitlines()]
    assert sorted((r["title"][:3], r["version"]) for r in records) == [("众兴镇", 1), ("众兴镇", 2), ("兴庆区", 1), ("樟树市", 1)]


def test_csv_has_one_column_per_canonical_key(db: Database, seeded, tmp_path: Path) -> None:
    out = tmp_path / "reports.csv"
    _run(db, "--format", "csv", "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 3 and set(VALUE_COLUMNS) <= set(rows[0])
    zz = next(r for r in rows if r["agency"] == "兴庆区掌政镇人民政府")
    assert float(zz["applications.new.natural_person"]) == 12 and zz["active.fees.amount_10k_yuan"] == ""
    assert json.loads(zz["checks"])[0]["rule"] == "R1-balance"


def test_parquet_is_typed_and_round_trips(db: Database, seeded, tmp_path: Path) -> None:
    out = tmp_path / "reports.parquet"
    _run(db, "--format", "parquet", "--all-versions", "-o", str(out))
    table = pq.read_table(out)
    assert table.num_rows == 4
    rows = table.to_pylist()
    zz = next(r for r in rows if r["agency"] == "兴庆区掌政镇人民政府")
    assert zz["applications.new.natural_person"] == 12.0 and zz["report_year"] == 2021
    assert str(table.schema.field("applications.new.total").type) == "double"


def test_empty_archive_exports_nothing_but_a_valid_file(db: Database, tmp_path: Path) -> None:
    assert _run(db, "--format", "jsonl") == ""
    _run(db, "--format", "parquet", "-o", str(tmp_path / "e.parquet"))
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_codebook_lists_every_key_with_label_and_templates() -> None:
    book = {e["key"]: e for e in codebook()}
    assert set(book) == set(VALUE_COLUMNS)
    assert book["applications.result.other.no_fee.total"]["templates"] == ["2021"]
    assert book["appeals.review.total"]["label"] == "行政复议 总计"


def test_records_do_not_depend_on_the_batching(db: Database, seeded, monkeypatch) -> None:
    """Batches of one or two versions (ranges with gaps, lists) give the same records, each with
    exactly its own values: the grouped value queries must not leak a neighbour's."""
    import storage.exports
    from storage.models import ExtractedValue, ReportVersion

    def records(all_versions: bool) -> list[dict]:
        with db.session() as s:
            return list(storage.exports.iter_records(s, all_versions=all_versions, with_ids=True))

    whole = {flag: records(flag) for flag in (False, True)}
    with db.session() as s:
        stored: dict[tuple[int, int], dict] = {}
        for report_id, version, key, value in s.query(ReportVersion.report_id, ReportVersion.version,
                                                       ExtractedValue.key, ExtractedValue.value).join(ExtractedValue):
            stored.setdefault((report_id, version), {})[key] = value
    for rec in whole[True]:
        assert rec["values"] == stored.get((rec["report_id"], rec["version"]), {})
    for size in (1, 2):
        monkeypatch.setattr(storage.exports, "BATCH", size)
        assert {flag: records(flag) for flag in (False, True)} == whole
