"""Every cell of the evaluation set, read from each shape a report arrives in.

Expected values are hand-verified (tests/eval/expected/*.json). The seeds and the real PDFs
are also re-rendered as a Word-style HTML table (rowspan/colspan), a DOCX with merged cells,
a LibreOffice PDF and tab-separated text, and read through pipelines.document like a crawl.
"""
from functools import cache

import pytest
from eval import evalset

from pipelines.document import load_document
from pipelines.stat_tables import extract_values
from pipelines.textgrid import runon_cells, text_cells

EXPECTED = {e["name"]: e for e in evalset.load_expected()}
BORN_DIGITAL = [n for n, e in EXPECTED.items() if not e.get("ocr")]
RENDERABLE = [n for n in BORN_DIGITAL if not n.startswith("pingtan")]
SHAPES = {"html": (evalset.to_html, "report.html"), "docx": (evalset.to_docx, "report.docx"),
          "tsv": (evalset.to_tsv_text, "report.txt"), "lines": (evalset.to_cell_lines_text, "report.txt")}


def _read(data: bytes, filename: str):
    doc = load_document(data, filename=filename)
    return extract_values(doc.tables, doc.text, ocr=doc.ocr)


def _assert_cells(result, exp):
    score = evalset.compare(result.values, exp)
    assert not score["wrong"], f"{exp['name']}: {len(score['wrong'])} wrong cells, e.g. {list(score['wrong'].items())[:5]}"
    assert not score["guesses"], f"{exp['name']}: guessed undecidable cells {score['guesses']}"
    assert result.template == exp["metadata"]["template"]


@pytest.mark.parametrize("name", sorted(BORN_DIGITAL))
def test_original_fixture(name):
    exp = EXPECTED[name]
    _assert_cells(_read(evalset.fixture_bytes(exp), exp["fixture"]), exp)


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("name", RENDERABLE)
def test_rendered_shapes(name, shape):
    render, filename = SHAPES[shape]
    exp = EXPECTED[name]
    result = _read(render(exp), filename)
    _assert_cells(result, exp)
    assert set(result.sources.values()) == {"text" if shape in ("tsv", "lines") else "grid"}


@cache
def _pdf(name: str) -> bytes:
    return evalset.to_pdf(evalset.to_docx(EXPECTED[name]))


@pytest.mark.parametrize("name", ["seed_000_zhongxing_2020", "huaian_hongze_district_2024"])
def test_libreoffice_pdf(name):
    _assert_cells(_read(_pdf(name), "report.pdf"), EXPECTED[name])


def test_scanned_page_is_ocr_flagged_and_mostly_right():
    """OCR is measured (bench), not perfect: values carry ocr=True and no row is silently shifted."""
    exp = EXPECTED["scan_hongze_2023_p3"]
    result = _read(evalset.fixture_bytes(exp), "scan.pdf")
    assert result.values and all(v["ocr"] for v in result.values.values())
    score = evalset.compare(result.values, exp)
    wrong_numbers = {k: v for k, v in score["wrong"].items() if v[1] is not None}
    assert score["right"] / score["total"] > 0.6
    assert len(wrong_numbers) <= 2, wrong_numbers  # misread digits (195 -> 193), never shifted rows


def test_text_layouts_become_cells():
    cells = [c.text for c in text_cells("\t本年新\n制作数量\n\t 0\n\n规章\t0\t1\n1.属于国家秘密   2    0\n- 3 -\n")]
    assert cells == ["本年新制作数量", "0", "规章", "0", "1", "1.属于国家秘密", "2", "0"]


def test_runon_numbering_sticks_to_the_next_label():
    run_on = "8.属于行政查询事项00000002.其他法律行政法规禁止公开0000000（七）总计230 000023"
    cells = [(c.text, c.runon) for c in runon_cells(run_on)]
    assert cells == [("8.属于行政查询事项", False), ("0000000", True), ("2.其他法律行政法规禁止公开", False),
                     ("0000000", True), ("（七）总计", False), ("230 000023", True)]


def _grid_with(label_map: dict[str, str], exp_name="seed_003_xintong_2020"):
    """The applications grid of a report with some printed labels replaced."""
    exp = EXPECTED[exp_name]
    tables = evalset.tables_for(exp)
    for table in tables:
        for row in table:
            for cell in row:
                cell.text = label_map.get(cell.text, cell.text)
    return exp, tables


def test_label_variants_are_recognised():
    exp, tables = _grid_with({
        "社会公益组织": "社会公益性组织", "规范性文件": "行政规范性文件", "（一）予以公开": "(一)予以公开",
        "3.危及“三安全一稳定”": "3.危及\"三安全一稳定\"", "1.属于国家秘密": "1、属于国家秘密",
        "2.重复申请": "2. 重复\n申请", "一、本年新收政府信息公开申请数量": "一、本年新收政府信息\n公开申请数量",
        "其他对外管理服务事项": "其他对外管理服务事项（除行政许可外的其他行政权力）",
    })
    result = _read(evalset.to_html(exp, tables), "report.html")
    _assert_cells(result, exp)


def test_columns_are_mapped_by_header_not_position():
    """Swap two applicant columns in header and body: values still land under the right keys."""
    exp = EXPECTED["huaian_city_gov_2024"]
    tables = evalset.tables_for(exp)
    apps = tables[1]
    apps[2][0], apps[2][1] = apps[2][1], apps[2][0]  # header: 科研机构 before 商业企业
    for row in apps[3:]:
        row[-6], row[-5] = row[-5], row[-6]
    result = _read(evalset.to_html(exp, tables), "report.html")
    assert result.values["applications.new.commercial"]["value"] == 53
    assert result.values["applications.new.research"]["value"] == 0
    assert result.values["applications.new.natural_person"]["value"] == 3001


def test_2021_other_is_derived_from_its_subrows():
    exp = EXPECTED["huaian_city_gov_2024"]
    result = _read(evalset.to_html(exp), "report.html")
    other = result.values["applications.result.other.natural_person"]
    assert other["derived"] and other["value"] == 67 + 6 + 108
    assert not result.values["applications.result.other.other.natural_person"]["derived"]


def test_procurement_amount_in_yuan():
    result = _read(evalset.fixture_bytes(EXPECTED["seed_000_zhongxing_2020"]), "seed.txt")
    amount = result.values["active.procurement.amount"]
    assert (amount["value"], amount["unit"], amount["raw"]) == (561342.67, "元", "发包价561342.67元")
    assert result.values["active.procurement.amount_yuan"] == {
        "value": 561342.67, "raw": "发包价561342.67元", "unit": "元", "derived": True, "ocr": False}


def test_runon_rows_are_split_only_when_forced():
    exp = EXPECTED["pingtan_2019"]
    result = _read(evalset.fixture_bytes(exp), exp["fixture"])
    assert result.sources["applications"] == "runon"
    assert result.values["applications.new.natural_person"]["value"] == 23
    assert "active.normative_docs.made" not in result.values  # '898989' splits several ways
    kinds = {(p["row"], p["kind"]) for p in result.problems}
    assert ("normative_docs", "ambiguous_split") in kinds and ("new", "segmented") in kinds


def test_garbage_input_never_crashes():
    for grids, text in [([], ""), ([[[]]], "规章"), ([[["行政复议"], ["1", "x"]]], "第二十条\t规章\t\t"),
                        ([], "三、收到和处理政府信息公开申请情况 本年新收 99999999999999999999999999")]:
        result = extract_values(grids, text)
        assert isinstance(result.values, dict)


def _grid(table, repeat: bool) -> list[list[str]]:
    """Expand merged cells the way a loader does: text repeated into the span, or only at its origin."""
    placed = evalset._place(table)
    width = max(c + cell.colspan for (r, c), cell in placed.items())
    grid = [[""] * width for _ in table]
    for (r, c), cell in placed.items():
        for dr in range(cell.rowspan):
            for dc in range(cell.colspan):
                if repeat or (dr, dc) == (0, 0):
                    grid[r + dr][c + dc] = cell.text
    return grid


@pytest.mark.parametrize("repeat", [True, False], ids=["repeated", "empty"])
@pytest.mark.parametrize("name", RENDERABLE)
def test_both_merge_conventions(name, repeat):
    exp = EXPECTED[name]
    result = extract_values([_grid(t, repeat) for t in evalset.tables_for(exp)], "")
    _assert_cells(result, exp)
    assert set(result.sources.values()) == {"grid"}


@pytest.mark.parametrize("name", [n for n in RENDERABLE if n.startswith("huaian")])
def test_pdf_text_layer_without_grids(name):
    """A PDF whose table lines were not detected: the text layer alone gives every cell."""
    exp = EXPECTED[name]
    doc = load_document(evalset.fixture_bytes(exp), filename="report.pdf")
    _assert_cells(extract_values([], doc.text), exp)
