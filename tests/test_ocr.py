"""OCR of scans: tables read cell by cell from real and rendered scans, with each value's confidence
and the review flag in the export, the API and the web pages; an image; a garbage text layer."""
from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from eval import evalset
from eval.scans import as_tiff, scans
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from domain.config import Settings
from pipelines.document import load_document
from pipelines.extract import extract_document
from pipelines.ocr import find_rules, parse_hocr
from pipelines.pdf import page_problem
from pipelines.scan_tables import OcrText, _Cell, _pick, read_tables, settle_by_totals, snap_label
from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database
from storage.exports import iter_records
from storage.models import ReportVersion
from storage.versions import ReportCandidate, record_report
from web.app import create_app

FIX = Path(__file__).parent / "fixtures" / "formats"
HONGZE_SCAN = FIX / "scan_hongze_2023_p3.pdf"


def _assert_ocr_cells(cells: dict) -> None:
    """Every value read from the scan is marked as OCR'd and carries the cell's confidence."""
    read = [c for c in cells.values() if not c["derived"]]
    assert read and all(c["ocr"] is True for c in read)
    assert all(0 <= c["confidence"] <= 100 for c in read)


def test_image_only_pdf_tables_are_read_cell_by_cell():
    """scan_hongze_2023_p3.pdf: page 3 of the real 洪泽区 2023 report rendered at 200 dpi, 1-bit."""
    doc = load_document(HONGZE_SCAN.read_bytes())
    assert doc.format == "pdf"
    assert doc.ocr is True and doc.ocr_confidence is not None and doc.ocr_confidence > 60
    assert any("no text layer" in w for w in doc.warnings)
    assert len(doc.tables) == 2  # the end of the active-disclosure table, the applications table
    rows = [[c for c in row if c] for row in doc.tables[1]]
    assert ["一、本年新收政府信息公开申请数量"] * 3 + ["21", "0", "0", "0", "0", "0", "21"] in rows
    # the last row, cut by the page edge (no rule below it), is read too
    assert rows[-1][-7:] == ["3", "0", "0", "0", "0", "0", "3"]
    assert "行政事业性收费\t7730.28" in doc.text.split("\n")

    record = extract_document(HONGZE_SCAN.read_bytes())
    score = evalset.compare(record["cells"], evalset.expected("scan_hongze_2023_p3"))
    assert score["right"] >= 0.95 * score["total"] and not score["guesses"], score["wrong"]
    _assert_ocr_cells(record["cells"])


def test_rendered_scan_cells_are_right():
    """A whole report printed, scanned at 200 dpi, turned 0.6 degrees and saved as JPEG quality 60."""
    exp = evalset.expected("huaian_city_gov_2024")
    record = extract_document(as_tiff(scans(exp, 200, 0.6, 60)), filename="scan.tif")
    assert record["format"] == "image" and record["ocr"] is True
    score = evalset.compare(record["cells"], exp)
    assert score["right"] >= 0.95 * score["total"] and not score["guesses"], score["wrong"]
    assert record["values"]["applications.new.total"] == 3119 and record["values"]["appeals.review.total"] == 351
    _assert_ocr_cells(record["cells"])
    assert record["report_year"] == 2024 and record["template"] == "2021"


def test_ruled_table_is_found_with_its_merged_cells():
    """A drawn table: the label column spans two rows, the header spans two columns."""
    image = Image.new("L", (1200, 500), 255)
    draw = ImageDraw.Draw(image)
    for y in (50, 150, 250, 350):
        draw.line((100, y, 1100, y), fill=0, width=3)
    draw.line((100, 50, 100, 350), fill=0, width=3)
    draw.line((500, 50, 500, 350), fill=0, width=3)
    draw.line((800, 150, 800, 350), fill=0, width=3)  # the header row spans both value columns
    draw.line((1100, 50, 1100, 350), fill=0, width=3)
    draw.line((100, 250, 500, 250), fill=255, width=3)  # the label spans rows 2 and 3
    draw.line((100, 50, 100, 350), fill=0, width=3)
    for x, y, text in ((600, 180, "21"), (900, 180, "7"), (600, 280, "305"), (900, 280, "0")):
        draw.text((x, y), text, fill=0, font_size=48)
    image.info["dpi"] = (150, 150)
    tables, _prose = read_tables(image)
    assert len(tables) == 1
    grid = [[str(cell) for cell in row] for row in tables[0].grid]
    assert [row[1:] for row in grid[1:]] == [["21", "7"], ["305", "0"]]
    assert (1, 0, 2, 1) in tables[0].merges and (0, 1, 1, 2) in tables[0].merges
    assert all(cell.confidence is not None for row in tables[0].grid[1:] for cell in row[1:])


def test_labels_snap_to_the_template_only_when_unambiguous():
    assert snap_label(OcrText("本年增/碱", 40.0)) == "本年增/减"
    assert snap_label(OcrText("本年增/碱", 40.0)).confidence == 40.0
    assert snap_label(OcrText("2.申请人", 90.0)) == "2.申请人", "a label cut by a page break stays cut"
    assert snap_label(OcrText("第二十条第《7)项", 0.0)) == "第二十条第《7)项", "(五), (六) or (八): left as read"
    assert snap_label(OcrText("开", 90.0)) == "开" and snap_label(OcrText("发包价561342.67元", 80.0)) == "发包价561342.67元"


def test_digits_model_wins_only_on_numbers():
    assert _pick(OcrText("贸", 54.0), OcrText("", None)) == "贸"
    assert _pick(OcrText("53", 91.0), OcrText("53", 96.0)).confidence == 96.0
    assert _pick(OcrText("]", 13.0), OcrText("1", 57.0)) == "1"
    assert _pick(OcrText("/", 80.0), OcrText("1", 90.0)) == "/", "a placeholder is not a number"
    assert _pick(OcrText("结\n果\n维\n=", 0.0), OcrText("45", 76.0)).startswith("结"), "a vertical label"
    assert _pick(OcrText("妥王", 0.0), OcrText("21", 96.4)) == "21"
    disagree = _pick(OcrText("25", 91.8), OcrText("29", 79.1))
    assert disagree == "29" and disagree.other == "25", "both kept for the row total to decide"


def _row(*readings: tuple[str, float, str | None]) -> list[_Cell]:
    return [_Cell((0, 0, 1, 1), col=col, text=OcrText(text, conf, OcrText(other, 90.0) if other else None))
            for col, (text, conf, other) in enumerate(readings)]


def test_row_totals_settle_what_the_engines_read_differently():
    """An applications row (six applicant columns and their total): 25 read as 29 and 295 by the
    digits model, as 25 by chi_sim; only 25 ... 25 adds up."""
    row = _row(("29", 79.1, "25"), *[("0", 96.0, None)] * 5, ("295", 79.3, "25"))
    settle_by_totals(row)
    assert [str(c.text) for c in row] == ["25", "0", "0", "0", "0", "0", "25"]
    assert row[0].text.confidence == 90.0 and row[0].text.other is None
    # neither combination adds up: nothing is guessed, the digits model's reading stays, less sure
    row = _row(("29", 79.1, "25"), *[("0", 96.0, None)] * 5, ("7", 90.0, None))
    settle_by_totals(row)
    assert str(row[0].text) == "29" and row[0].text.confidence == 79.1


def _record_version(db: Database, blobs: BlobStore, data: bytes, url: str, title: str) -> int:
    with db.session() as session:
        candidate = ReportCandidate(url=url, source_url=url, document_url=url, title=title, sha256=blobs.put(data),
                                    filename=url.rsplit("/", 1)[-1])
        return record_report(session, candidate)[1].id


def test_ocrd_reports_are_flagged_for_review(settings: Settings, db: Database, blobs: BlobStore) -> None:
    """Stored through the worker: the export, the API, the report page and the search filter flag the scan."""
    scan = _record_version(db, blobs, HONGZE_SCAN.read_bytes(), "http://www.hongze.gov.cn/scan2023.pdf",
                           "洪泽区人民政府2023年政府信息公开工作年度报告")
    digital = _record_version(db, blobs, evalset.fixture_bytes(evalset.expected("huaian_city_gov_2024")),
                              "http://www.huaian.gov.cn/2024.html", "淮安市人民政府2024年政府信息公开工作年度报告")
    assert extract_pending(db, blobs) == {"done": 2, "failed": 0}
    with db.session() as session:
        records = {r["source_url"]: r for r in iter_records(session)}
        scan_id = session.get(ReportVersion, scan).report_id
        digital_id = session.get(ReportVersion, digital).report_id
    assert records["http://www.hongze.gov.cn/scan2023.pdf"]["ocr"] is True
    assert records["http://www.huaian.gov.cn/2024.html"]["ocr"] is False
    with TestClient(create_app(settings, db)) as client:
        page = client.get(f"/reports/{scan_id}").text
        assert "OCR 待核对 review" in page and "check them against the original" in page
        assert "OCR 待核对" not in client.get(f"/reports/{digital_id}").text
        api = client.get(f"/api/reports/{scan_id}").json()
        cell = api["cells"]["applications.new.total"]
        assert api["ocr"] is True and 0 <= cell.pop("confidence") <= 100
        assert cell == {"value": 21.0, "raw": "21", "unit": "", "derived": False, "ocr": True}
        digital = client.get(f"/api/reports/{digital_id}").json()["cells"]
        assert digital and all(c["confidence"] is None for c in digital.values())  # born-digital: nothing to doubt
        only_scans = client.get("/api/reports", params={"ocr": "yes"}).json()["results"]
        assert [(h["report_id"], h["ocr"]) for h in only_scans] == [(scan_id, True)]
        assert [h["report_id"] for h in client.get("/api/reports", params={"ocr": "no"}).json()["results"]] == [digital_id]
        assert 'name="ocr"' in client.get("/").text and "OCR 待核对" in client.get("/", params={"ocr": "yes"}).text
        assert client.get("/api/reports", params={"ocr": "maybe"}).status_code in (400, 422)


def test_png_image_is_ocrd():
    pdf = pdfium.PdfDocument((FIX / "scan_hongze_2023_p3.pdf").read_bytes())
    image = pdf[0].render(scale=300 / 72, grayscale=True).to_pil()
    buf = io.BytesIO()
    image.crop((0, 0, image.width, image.height // 3)).save(buf, format="PNG")
    doc = load_document(buf.getvalue(), content_type="image/png")
    assert doc.format == "image" and doc.ocr is True and doc.ocr_confidence > 60
    assert "行政强制\t195" in doc.text.split("\n")


def test_garbage_text_layer_falls_back_to_ocr():
    """Private-use characters instead of text (a broken CJK font map) are not passed on as text."""
    doc = load_document((FIX / "garbage_pua_textlayer.pdf").read_bytes())
    assert doc.ocr is True
    assert any("text layer is garbage" in w for w in doc.warnings)
    assert not any(0xE000 <= ord(ch) <= 0xF8FF for ch in doc.text)


def test_page_problem_rules():
    good = "本报告由某县人民政府办公室编制。统计期限自2023年1月1日至12月31日。"
    assert page_problem(good, images=0) == ""
    assert page_problem("(cid:1234)(cid:99)(cid:7)" * 5 + good[:10], images=0).startswith("text layer is garbage")
    assert page_problem("\ufffd" * 30 + good, images=1).startswith("text layer is garbage")
    assert page_problem("  ", images=1) == "no text layer (scanned image)"
    assert page_problem("", images=0) == ""  # a blank page is not a scan
    assert page_problem("", images=0, glyph_runs=300).startswith("text layer has no readable characters")


def test_rules_are_erased_text_kept():
    image = Image.new("L", (1000, 300), 255)
    draw = ImageDraw.Draw(image)
    draw.line((10, 100, 990, 100), fill=0, width=3)
    draw.line((500, 10, 500, 290), fill=0, width=3)
    draw.rectangle((100, 150, 120, 170), fill=0)  # a glyph-sized blob survives
    cleaned, rules = find_rules(image)
    assert cleaned.getpixel((300, 100)) == 255 and cleaned.getpixel((500, 50)) == 255
    assert cleaned.getpixel((110, 160)) == 0
    assert [x for x, _top, _bottom in rules] == [500]  # the vertical rule, which places characters in cells


HOCR = """<html><body><div class='ocr_page'>
<span class='ocr_line' title="bbox 0 100 900 140">
 <span class='ocrx_word' id='w1' title='bbox 0 100 200 140; x_wconf 90'>
  <span class='ocrx_cinfo' title='x_bboxes 0 100 50 140; x_conf 99'>本</span>
  <span class='ocrx_cinfo' title='x_bboxes 50 100 100 140; x_conf 99'>年</span></span>
 <span class='ocrx_word' id='w2' title='bbox 120 100 220 140; x_wconf 80'>
  <span class='ocrx_cinfo' title='x_bboxes 120 100 170 140; x_conf 99'>新</span>
  <span class='ocrx_cinfo' title='x_bboxes 170 100 220 140; x_conf 99'>收</span></span>
 <span class='ocrx_word' id='w3' title='bbox 400 100 700 140; x_wconf 70'>
  <span class='ocrx_cinfo' title='x_bboxes 410 100 430 140; x_conf 99'>2</span>
  <span class='ocrx_cinfo' title='x_bboxes 430 100 450 140; x_conf 99'>1</span>
  <span class='ocrx_cinfo' title='x_bboxes 610 100 630 140; x_conf 99'>0</span>
  <span class='ocrx_cinfo' title='x_bboxes 810 100 830 140; x_conf 99'>|</span></span>
</span>
<span class='ocr_line' title="bbox 0 300 300 340">
 <span class='ocrx_word' id='w4' title='bbox 0 300 100 340; x_wconf 60'>
  <span class='ocrx_cinfo' title='x_bboxes 0 300 50 340; x_conf 99'>总</span>
  <span class='ocrx_cinfo' title='x_bboxes 50 300 100 340; x_conf 99'>计</span></span>
</span></div></body></html>"""


def test_parse_hocr_cuts_cells_at_rules_and_weights_confidence():
    # vertical rules at x=300, 500, 700, 750 spanning the first line only (the table ends at y=200)
    rules = [(300, 50, 200), (500, 50, 200), (700, 50, 200), (750, 50, 200)]
    result = parse_hocr(HOCR, rules)
    assert result.text.split("\n") == ["本年新收\t21\t0\t\t1", "总计"]
    assert result.confidence == 75.0 and result.words == 4
    assert parse_hocr(HOCR).text.split("\n")[0] == "本年新收 210|"  # no rules: one cell
