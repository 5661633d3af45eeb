"""OCR of scans: an image-only PDF made from a real report page, an image, a garbage text layer."""
from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from pipelines.document import load_document
from pipelines.ocr import parse_hocr, remove_rules
from pipelines.pdf import page_problem

FIX = Path(__file__).parent / "fixtures" / "formats"


def test_image_only_pdf_is_ocrd_with_confidence():
    """scan_hongze_2023_p3.pdf: page 3 of the real 洪泽区 2023 report rendered at 200 dpi, 1-bit."""
    doc = load_document((FIX / "scan_hongze_2023_p3.pdf").read_bytes())
    assert doc.format == "pdf"
    assert doc.ocr is True and doc.ocr_confidence is not None and doc.ocr_confidence > 60
    assert any("no text layer" in w for w in doc.warnings)
    assert doc.tables == []
    lines = doc.text.split("\n")
    # table rows: one line, cells cut at the vertical rules, even where tesseract joined digits
    assert "一、本年新收政府信息公开申请数量\t21\t0\t0\t0\t0\t0\t21" in lines
    assert "二、上年结转政府信息公开申请数量\t0\t0\t0\t0\t0\t0\t0" in lines
    assert "8. 属于行政查询事项\t0\t0\t0\t0\t0\t0\t0" in lines
    assert "行政事业性收费\t7730.28" in lines


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
    cleaned = remove_rules(image)
    assert cleaned.getpixel((300, 100)) == 255 and cleaned.getpixel((500, 50)) == 255
    assert cleaned.getpixel((110, 160)) == 0


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
