"""load_document on real and hand-built documents of every format: text, grids, merges, metadata."""
from __future__ import annotations

import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import docx
import pytest

import pipelines.document as document
from pipelines.document import load_document
from pipelines.loaded import ExtractionError, LoadedDocument

FIX = Path(__file__).parent / "fixtures" / "formats"


def _load(name: str, **kw) -> LoadedDocument:
    return load_document((FIX / name).read_bytes(), filename=name, **kw)


def _table_with(doc: LoadedDocument, label: str) -> tuple[list[list[str]], list]:
    for grid, merges in zip(doc.tables, doc.table_merges, strict=True):
        if any(label in cell for row in grid for cell in row):
            return grid, merges
    raise AssertionError(f"no table contains {label!r}")


def _row(grid: list[list[str]], label: str) -> list[str]:
    return next(row for row in grid if any(cell.startswith(label) for cell in row))


# --- HTML -------------------------------------------------------------------------------------

def test_html_real_page_merged_cells_meta_and_title():
    doc = _load("nfra_article_zhejiang_2024_52_rendered.html")
    assert doc.format == "html"
    assert doc.meta["PubDate"] == "2025-06-03 11:18"
    assert doc.title == doc.meta["ArticleTitle"] == "国家金融监督管理总局浙江监管局行政处罚信息公开表（浙金罚决字〔2024〕52号）"
    assert len(doc.tables) == 1  # the page's hidden print copy is dropped
    assert any("identical copy" in w for w in doc.warnings)
    grid, merges = doc.tables[0], doc.table_merges[0]
    assert grid[0] == ["序号", "当事人名称", "行政处罚决定书文号", "主要违法违规行为", "行政处罚内容", "作出决定机关"]
    # 文号 and 机关 span both offender rows: repeated into each, listed as merged regions
    assert grid[1][2] == grid[2][2] == "浙金罚决字〔2024〕52号"
    assert grid[2][4] == "警告并罚款14万元"
    assert (1, 2, 2, 1) in merges and (1, 5, 2, 1) in merges
    assert "罚款56万元" in doc.text


def test_html_word_fragment_without_head():
    doc = _load("nfra_content_fragment_table.html")
    assert doc.meta == {}
    assert doc.tables[0][0] == ["序号", "当事人\n名称", "主要违法违规\n行为", "行政处罚\n内容", "作出决定机关"]
    assert doc.tables[0][1][3] == "罚款90万元"
    assert "中国信达资产管理股份有限公司" in doc.text  # trafilatura finds nothing: DOM text fallback


WORD_HTML = """<html><head><meta http-equiv=Content-Type content="text/html; charset=gb2312">
<meta name="PubDate" content="2024-01-31 10:00"><title>某县2023年政府信息公开工作年度报告_某县人民政府</title></head>
<body><div class=Section1><p class=MsoNormal><span>某县2023年政府信息公开工作年度报告</span></p>
<table class=MsoTableGrid border=1>
<tr><td rowspan=2 colspan=2><p class=MsoNormal><span>信息</span><span>内容</span></p></td>
    <td><p class=MsoNormal><span lang=EN-US>本年新<br>制作数量</span></p></td><td>本年新公开数量</td></tr>
<tr><td>&nbsp;</td><td><span><span>1</span><span>2</span></span></td></tr>
<tr><td rowspan=9999>规章</td><td>小计</td><td>&nbsp;3&nbsp;</td><td>&#12288;4</td></tr>
<tr><td>其中</td><td colspan=500>5</td></tr>
<tr><td width=0></td><td width=0></td></tr>
</table>
<p class=MsoNormal>本年共收到申请12件。</p></div></body></html>"""


def test_html_word_export_spans_nbsp_caps_and_gb2312():
    doc = load_document(WORD_HTML.encode("gb18030"), content_type="text/html")
    assert doc.title == "某县2023年政府信息公开工作年度报告_某县人民政府"
    assert doc.meta["PubDate"] == "2024-01-31 10:00"
    grid, merges = doc.tables[0], doc.table_merges[0]
    assert grid[0] == ["信息内容", "信息内容", "本年新\n制作数量", "本年新公开数量"]
    assert grid[1] == ["信息内容", "信息内容", "", "12"]
    assert grid[2] == ["规章", "小计", "3", "4"]
    # colspan=500 is capped and padded to the table width; rowspan=9999 stops at the last row
    assert all(len(row) == 4 for row in grid)
    assert grid[3][:3] == ["规章", "其中", "5"]
    assert (0, 0, 2, 2) in merges
    assert max(r + rs for r, _, rs, _ in merges) <= len(grid)
    assert "本年共收到申请12件" in doc.text


# --- DOCX / DOC / WPS -------------------------------------------------------------------------

def _check_official_template(doc: LoadedDocument) -> None:
    assert doc.title == "政府信息公开工作年度报告格式模板"
    assert [(len(t), len(t[0])) for t in doc.tables] == [(14, 4), (28, 10), (4, 15)]
    grid, merges = doc.tables[1], doc.table_merges[1]
    assert _row(grid, "1.属于国家秘密")[:0] == [] and grid[7][:3] == ["三、本年度办理结果", "（三）不予公开", "1.属于国家秘密"]
    assert grid[26][0] == "三、本年度办理结果" and grid[26][1] == grid[26][2] == "（七）总计"
    assert (5, 0, 22, 1) in merges  # vMerge over the whole 办理结果 block
    assert grid[0][3:] == ["申请人情况"] * 7
    appeals = doc.tables[2]
    assert appeals[0][:5] == ["行政复议"] * 5 and appeals[0][5:] == ["行政诉讼"] * 10
    assert appeals[3] == [""] * 15  # the blank data row is kept
    # text keeps document order: heading, table rows (tab-separated), next heading
    text = doc.text
    headings = ("三、收到和处理政府信息公开申请情况", "一、本年新收政府信息公开申请数量", "四、政府信息公开行政复议")
    assert [text.index(h) for h in headings] == sorted(text.index(h) for h in headings)
    assert "\t（三）不予公开\t1.属于国家秘密" in text


def test_docx_official_template_merges():
    doc = _load("official_template_2021plus_blank.docx")
    assert doc.format == "docx"
    _check_official_template(doc)


def _load_as(name: str) -> LoadedDocument:
    return load_document((FIX / "official_template_2021plus_blank.doc").read_bytes(), filename=name)


def test_doc_and_wps_via_libreoffice_in_parallel_processes():
    """Two worker processes convert at the same time: private LibreOffice profiles keep them apart."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        doc, wps = pool.map(_load_as, ["official_template_2021plus_blank.doc", "template.wps"])
    assert (doc.format, wps.format) == ("doc", "wps")
    for loaded in (doc, wps):
        assert "converted to DOCX with LibreOffice" in loaded.warnings
        _check_official_template(loaded)


def test_libreoffice_timeout_is_a_readable_error():
    from pipelines.libreoffice import convert_to_docx

    with pytest.raises(ExtractionError, match="timed out after"):
        convert_to_docx((FIX / "official_template_2021plus_blank.doc").read_bytes(), timeout=0.05)


def test_docx_built_with_merges_and_values():
    d = docx.Document()
    d.add_paragraph("某局2024年政府信息公开工作年度报告")
    table = d.add_table(rows=4, cols=4)
    table.cell(0, 0).merge(table.cell(1, 1)).text = "信息内容"
    table.cell(0, 2).merge(table.cell(0, 3)).text = "申请人情况"
    table.cell(1, 2).text, table.cell(1, 3).text = "自然人", "总计"
    table.cell(2, 0).merge(table.cell(3, 0)).text = "三、本年度办理结果"
    for r, label, a, b in ((2, "（一）予以公开", "5", "7"), (3, "（二）部分公开", "1", "")):
        table.cell(r, 1).text, table.cell(r, 2).text, table.cell(r, 3).text = label, a, b
    d.add_paragraph("四、结转下年度继续办理")
    buf = io.BytesIO()
    d.save(buf)
    doc = load_document(buf.getvalue(), content_type="application/octet-stream")
    grid, merges = doc.tables[0], doc.table_merges[0]
    assert grid == [
        ["信息内容", "信息内容", "申请人情况", "申请人情况"],
        ["信息内容", "信息内容", "自然人", "总计"],
        ["三、本年度办理结果", "（一）予以公开", "5", "7"],
        ["三、本年度办理结果", "（二）部分公开", "1", ""],
    ]
    assert sorted(merges) == [(0, 0, 2, 2), (0, 2, 1, 2), (2, 0, 2, 1)]
    lines = doc.text.split("\n")
    assert lines[0] == "某局2024年政府信息公开工作年度报告" and lines[-1] == "四、结转下年度继续办理"
    assert "三、本年度办理结果\t（一）予以公开\t5\t7" in lines
    assert "\t（二）部分公开\t1" in lines  # covered merge positions are blank in the text rendering


# --- PDF --------------------------------------------------------------------------------------

def test_pdf_text_and_tables_hongze_2023():
    doc = _load("huaian_hongze_district_2023.pdf")
    assert doc.format == "pdf" and not doc.ocr and doc.ocr_confidence is None
    assert doc.title == "洪泽区人民政府2023 年政府信息公开工作年度报告"
    assert "- 2 -" not in doc.text
    assert "统计期限自 2023 年 1 月 1 日" in doc.text
    apps, merges = _table_with(doc, "一、本年新收政府信息公开申请数量")
    assert _row(apps, "一、本年新收")[3:] == ["21", "0", "0", "0", "0", "0", "21"]
    assert _row(apps, "（七）总计")[3:] == ["21", "0", "0", "0", "0", "0", "21"]
    # the application table runs over two pages and comes back as one grid, label carried over
    assert _row(apps, "4.无正当理由大量反复")[:2] == ["三、本年度办理结果", "（五）不予处理"]
    assert any(rs >= 20 and c == 0 for _, c, rs, _ in merges)
    appeals, _ = _table_with(doc, "行政复议")
    assert appeals[-1] == ["10", "1", "0", "0", "0", "0", "0", "0", "0", "0", "5", "0", "0", "0", "0"]
    fees, _ = _table_with(doc, "行政事业性收费")
    assert _row(fees, "行政事业性收费")[-1] == "7730.28"


def test_pdf_label_split_over_page_break_is_rejoined():
    doc = _load("huaian_city_gov_2024.pdf")
    apps, _ = _table_with(doc, "一、本年新收政府信息公开申请数量")
    rows = [row for row in apps if row[1] == "（四）无法提供"]
    assert [row[2][:2] for row in rows] == ["1.", "2.", "3."]
    assert [row[3] for row in rows] == ["746", "11", "1"]
    assert _row(apps, "四、结转下年度继续办理")[3:] == ["103", "0", "0", "0", "0", "0", "103"]


def test_pdf_corrupt_and_truncated():
    data = (FIX / "huaian_hongze_district_2023.pdf").read_bytes()
    for broken in (data[: len(data) // 2], b"%PDF-1.7\n%garbage only"):
        with pytest.raises(ExtractionError, match="PDF could not be opened"):
            load_document(broken)


# --- text, guards, error pages -----------------------------------------------------------------

def test_plain_text_gb18030_kept_as_is():
    text = "某县2019年政府信息公开工作年度报告\n本年新\n制作数量\t12\r\n"
    doc = load_document(text.encode("gb18030"), filename="a.txt")
    assert doc.format == "txt"
    assert doc.text == text.replace("\r\n", "\n")
    assert doc.title == "某县2019年政府信息公开工作年度报告"


def test_guards_and_error_pages(monkeypatch):
    with pytest.raises(ExtractionError, match="empty"):
        load_document(b"")
    monkeypatch.setattr(document, "MAX_INPUT_BYTES", 1000)
    with pytest.raises(ExtractionError, match="too large"):
        load_document(b"x" * 2000)
    monkeypatch.undo()
    page = "<html><head><title>404 页面不存在</title></head><body><p>您访问的页面不存在</p></body></html>"
    with pytest.raises(ExtractionError, match=r"declared as PDF .* error page: '404 页面不存在'"):
        load_document(page.encode(), content_type="application/pdf", filename="nb2023.pdf")
    with pytest.raises(ExtractionError, match="unrecognised binary"):
        load_document(b"\x00\x01\x02\x03" * 50, filename="x.bin")
    truncated = (FIX / "official_template_2021plus_blank.docx").read_bytes()[:5000]
    with pytest.raises(ExtractionError, match="broken ZIP"):
        load_document(truncated, filename="a.docx")
    with pytest.raises(ExtractionError, match="LibreOffice could not convert"):
        load_document(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, filename="a.doc")


def test_html_report_served_under_pdf_name_is_kept_with_a_warning():
    doc = load_document(WORD_HTML.encode("gb18030"), filename="report.pdf")
    assert doc.format == "html" and doc.tables
    assert doc.warnings[0].startswith("declared as PDF")


def test_pdf_grids_round_trip_through_html_spans():
    """The PDF's grids rendered as HTML with rowspan/colspan come back identical from the HTML loader."""
    from pipelines.grid import to_html

    pdf = _load("huaian_hongze_district_2023.pdf")
    grids = "".join(to_html(g, m) for g, m in zip(pdf.tables, pdf.table_merges, strict=True))
    page = f"<html><body><p>正文</p>{grids}</body></html>"
    html = load_document(page.encode(), content_type="text/html")
    assert html.tables == pdf.tables
    assert [sorted(m) for m in html.table_merges] == [sorted(m) for m in pdf.table_merges]


def test_pdf_rendered_by_libreoffice_matches_the_docx_grids():
    """template_2021_numbered.docx: the official 2021 form with every blank cell numbered 1..200;
    its PDF (LibreOffice) must give the same grids and merges, page-split table included
    (the last row on the next page has only 8 column starts of the 10)."""
    source = _load("template_2021_numbered.docx")
    rendered = _load("template_2021_numbered.pdf")

    def squeeze(grid):
        return [["".join(cell.split()) for cell in row] for row in grid]

    assert [squeeze(t) for t in rendered.tables] == [squeeze(t) for t in source.tables]
    assert rendered.table_merges == source.table_merges
    apps = rendered.tables[1]
    assert apps[-1] == ["四、结转下年度继续办理"] * 3 + [str(n) for n in range(179, 186)]
