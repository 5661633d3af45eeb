"""Rules R1-R5 on real reports and on deliberately broken copies: the right rule fails, the others pass."""
import copy

import pytest
from eval import evalset

from pipelines.checks import APPLICANTS, run_checks
from pipelines.document import load_document
from pipelines.stat_tables import extract_values

BASE = evalset.expected("huaian_city_gov_2024")
RULES = ("R1-balance", "R2-row-total", "R3-result-total", "R4-appeals-total", "R5-complete", "R6-impossible")


def _checks(data: bytes, filename: str) -> list[dict]:
    doc = load_document(data, filename=filename)
    result = extract_values(doc.tables, doc.text)
    return run_checks(result.values, result.template, result.problems)


def _failed(checks) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for c in checks:
        if not c["ok"]:
            out.setdefault(c["rule"], []).append(c)
    return out


def _variant(changes: dict[str, float]) -> dict:
    exp = copy.deepcopy(BASE)
    for key, delta in changes.items():
        exp["values"][key] += delta
    return exp


@pytest.mark.parametrize("render, filename", [(evalset.to_html, "r.html"), (evalset.to_tsv_text, "r.txt")])
def test_consistent_report_passes_every_rule(render, filename):
    checks = _checks(render(BASE), filename)
    assert not _failed(checks)
    assert {c["rule"] for c in checks} == set(RULES)


@pytest.mark.parametrize(
    "changes, rule, cells",
    [
        ({"applications.carried_forward.natural_person": 1, "applications.carried_forward.total": 1}, "R1-balance",
         {"applications.carried_forward.natural_person", "applications.carried_forward.total"}),
        ({"applications.result.disclosed.total": 1, "applications.result.partial.total": -1}, "R2-row-total",
         {"applications.result.disclosed.total", "applications.result.partial.total"}),
        ({"applications.result.disclosed.natural_person": 1, "applications.result.disclosed.commercial": -1},
         "R3-result-total", {"applications.result.total.natural_person", "applications.result.total.commercial"}),
        ({"appeals.review.upheld": 1}, "R4-appeals-total", {"appeals.review.total"}),
    ],
)
@pytest.mark.parametrize("render, filename", [(evalset.to_html, "r.html"), (evalset.to_tsv_text, "r.txt")])
def test_one_changed_number_fails_the_right_rule(changes, rule, cells, render, filename):
    failed = _failed(_checks(render(_variant(changes)), filename))
    assert set(failed) == {rule}
    assert {c["cells"][-1] for c in failed[rule]} == cells
    bad = failed[rule][0]
    assert bad["expected"] != bad["found"] and "expected" in bad["detail"]


def _drop_cell(tables, label: str, index: int):
    for table in tables:
        for row in table:
            if any(c.text == label for c in row):
                del row[index]
                return tables
    raise AssertionError(label)


@pytest.mark.parametrize("render, filename", [(evalset.to_html, "r.html"), (evalset.to_docx, "r.docx"),
                                              (evalset.to_tsv_text, "r.txt")])
def test_row_with_missing_cell_fails_r5_only(render, filename):
    tables = _drop_cell(evalset.tables_for(BASE), "2.重复申请", -1)
    failed = _failed(_checks(render(BASE, tables), filename))
    assert set(failed) == {"R5-complete"}
    assert [c for c in failed["R5-complete"] if "result.not_processed.duplicate" in c["detail"]]


def test_row_with_missing_middle_cell_in_text_is_not_shifted():
    tables = _drop_cell(evalset.tables_for(BASE), "1.本机关不掌握相关政府信息", -4)
    doc = load_document(evalset.to_tsv_text(BASE, tables), filename="r.txt")
    result = extract_values(doc.tables, doc.text)
    assert not any(k.startswith("applications.result.unavailable.not_held.") for k in result.values)
    failed = _failed(run_checks(result.values, result.template, result.problems))
    assert set(failed) == {"R5-complete"} and "6 cell(s)" in failed["R5-complete"][0]["detail"]


def test_row_with_extra_cell_fails_r5():
    tables = evalset.tables_for(BASE)
    for row in tables[1]:
        if row[0].text.startswith("二、上年结转"):
            row.append(evalset.Cell("9"))
    failed = _failed(_checks(evalset.to_tsv_text(BASE, tables), "r.txt"))
    assert set(failed) == {"R5-complete"}
    assert "carried_over" in failed["R5-complete"][0]["detail"]


def test_real_inconsistent_report_is_flagged():
    """洪泽区 2023 prints 行政复议 10/1/0/0 with total 0 and （六） as a single row."""
    exp = evalset.expected("huaian_hongze_district_2023")
    checks = _checks(evalset.fixture_bytes(exp), "r.pdf")
    assert [f for f in evalset.failing(checks) if not f.startswith("R6")] == exp["failing_checks"]
    impossible = {c["detail"] for c in checks if c["rule"] == "R6-impossible" and not c["ok"]}
    assert "appeals.review.total = 0 is smaller than its part appeals.review.upheld = 10" in impossible
    review = next(c for c in checks if c["rule"] == "R4-appeals-total" and c["cells"][-1] == "appeals.review.total")
    assert (review["ok"], review["expected"], review["found"]) == (False, 11, 0)


def test_values_are_never_fixed():
    exp = _variant({"appeals.review.upheld": 1})
    doc = load_document(evalset.to_html(exp), filename="r.html")
    result = extract_values(doc.tables, doc.text)
    run_checks(result.values, result.template, result.problems)
    assert result.values["appeals.review.upheld"]["value"] == BASE["values"]["appeals.review.upheld"] + 1
    assert result.values["appeals.review.total"]["value"] == BASE["values"]["appeals.review.total"]


def test_inferred_splits_are_marked_in_the_rule_detail():
    exp = evalset.expected("pingtan_2021")
    result = extract_values([], evalset.fixture_bytes(exp).decode("utf-8"))
    checks = run_checks(result.values, result.template, result.problems)
    r2 = [c for c in checks if c["rule"] == "R2-row-total"]
    assert r2 and all("inferred" in c["detail"] for c in r2)
    assert all("inferred" in c["detail"] for c in checks if c["rule"] == "R3-result-total")


# ---- R6, R7: impossible values and the totals the text states -------------------------------------------


@pytest.mark.parametrize("changes, detail", [
    ({"applications.result.disclosed.research": -1}, "applications.result.disclosed.research = -1: a count cannot be negative"),
    ({"appeals.review.upheld": 0.5}, "appeals.review.upheld = 72.5: a count must be a whole number"),
    ({"appeals.review.total": -300}, "appeals.review.total = 51 is smaller than its part appeals.review.upheld = 72"),
])
def test_impossible_values_fail_r6(changes, detail):
    failed = _failed(_checks(evalset.to_tsv_text(_variant(changes)), "r.txt"))
    assert any(c["detail"].startswith(detail) for c in failed["R6-impossible"]), failed["R6-impossible"]


def _with_text(sentence: str) -> bytes:
    text = evalset.to_tsv_text(BASE).decode()
    return text.replace("本年度工作正常开展。", f"本年度工作正常开展。{sentence}").encode()


def _r7(data: bytes) -> list[dict]:
    from pipelines.extract import extract_document

    return [c for c in extract_document(data, filename="r.txt")["checks"] if c["rule"] == "R7-text-total"]


def test_text_totals_that_match_the_table_pass_r7():
    new, review = int(BASE["values"]["applications.new.total"]), int(BASE["values"]["appeals.review.total"])
    checks = _r7(_with_text(f"全年共收到政府信息公开申请{new}件，发生政府信息公开行政复议{review}件。"))
    assert [c["ok"] for c in checks] == [True, True]


def test_a_text_total_that_disagrees_with_the_table_fails_r7():
    new = int(BASE["values"]["applications.new.total"])
    [check] = _r7(_with_text(f"全年共收到政府信息公开申请{new + 5}件。"))
    assert (check["ok"], check["expected"], check["found"]) == (False, new + 5, new)
    assert f"the text says '共收到政府信息公开申请{new + 5}件'" in check["detail"]


@pytest.mark.parametrize("name", ["huaian_hongze_district_2023", "huaian_hongze_district_2024", "huaian_city_gov_2024"])
def test_complete_pdf_reports_of_the_test_portal_pass_r5(name):
    """The portal simulator's born-digital PDFs are complete; 洪泽区 prints （六）其他处理 as one row on the
    2021 form (the 2019 way), which is no missing row (R5 used to fire three times on each)."""
    checks = _checks(evalset.fixture_bytes(evalset.expected(name)), "r.pdf")
    assert [c["detail"] for c in checks if c["rule"] == "R5-complete"] == ["every cell of parts 三 and 四 found"]


def test_a_2021_other_subrow_printed_alone_is_still_missing_rows():
    """Only a whole （六） row excuses the sub-rows: one sub-row printed without the others is incomplete."""
    cells = {f"applications.result.other.no_fee.{c}": {"value": 0.0, "raw": "0"} for c in APPLICANTS}
    details = [c["detail"] for c in run_checks(cells, "2021") if c["rule"] == "R5-complete"]
    assert any(d.startswith("row result.other.no_correction:") for d in details)
