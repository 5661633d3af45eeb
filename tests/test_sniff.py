"""Format detection: the bytes decide, Content-Type and file names only break ties."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from domain.sniff import charset_of, declared_format, sniff

FIX = Path(__file__).parent / "fixtures" / "formats"


def _zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            zf.writestr(name, "<x/>")
    return buf.getvalue()


def test_real_pdf_docx_doc_are_recognised_whatever_the_server_says():
    pdf = (FIX / "huaian_hongze_district_2023.pdf").read_bytes()
    docx = (FIX / "official_template_2021plus_blank.docx").read_bytes()
    doc = (FIX / "official_template_2021plus_blank.doc").read_bytes()
    assert sniff(pdf, content_type="application/octet-stream").format == "pdf"
    assert sniff(docx, content_type="application/octet-stream", filename="download.do?id=3").format == "docx"
    assert sniff(doc, filename="report.doc").format == "doc"


def test_ole2_is_wps_only_when_named_or_typed_so():
    doc = (FIX / "official_template_2021plus_blank.doc").read_bytes()
    assert sniff(doc, filename="http://x.gov.cn/a/report.wps").format == "wps"
    assert sniff(doc, content_type="application/kswps").format == "wps"
    assert sniff(doc).format == "doc"
    assert sniff(doc, filename="report.wps").note == ""  # doc/wps mislabels are harmless


def test_html_error_page_served_as_pdf_is_html_with_a_note():
    page = b"<!DOCTYPE html><html><head><title>404</title></head><body>not found</body></html>"
    result = sniff(page, content_type="application/pdf", filename="/files/2023nb.pdf")
    assert result.format == "html"
    assert result.declared == "pdf"
    assert "declared as PDF" in result.note and "HTML" in result.note


def test_html_fragment_and_bom_are_html():
    fragment = (FIX / "nfra_content_fragment_table.html").read_bytes()
    assert sniff(fragment).format == "html"
    assert sniff(b"\xef\xbb\xbf<html><body>x</body></html>").format == "html"


def test_gb18030_text_is_text():
    data = "本年新\n制作数量\t12\n".encode("gb18030")
    assert sniff(data, filename="a.txt").format == "txt"
    assert sniff(data).format == "txt"


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image"),
        (b"II*\x00" + b"\x00" * 20, "image"),
    ],
)
def test_images(data, fmt):
    assert sniff(data).format == fmt


def test_unsupported_and_broken_containers_have_reasons():
    assert "not a DOCX" in sniff(_zip(["a.txt"])).reason
    assert "XLSX" in sniff(_zip(["xl/workbook.xml"])).reason
    truncated = (FIX / "official_template_2021plus_blank.docx").read_bytes()[:3000]
    broken = sniff(truncated)
    assert broken.format == "unknown" and "broken ZIP" in broken.reason
    assert sniff(b"\x00\x01\x02\x03binary").format == "unknown"
    assert "OFD" in sniff(_zip(["OFD.xml", "Doc_0/Document.xml"])).reason
    assert sniff(b"{\\rtf1\\ansi hello}", filename="report.doc").format == "doc"  # read by LibreOffice


def test_declared_format_and_charset():
    assert declared_format("", "https://www.x.gov.cn/a/b/2023.PDF?x=1") == "pdf"
    assert declared_format("application/vnd.openxmlformats-officedocument.wordprocessingml.document") == "docx"
    assert declared_format("text/html; charset=gb2312") == "html"
    assert declared_format("", "https://www.x.gov.cn/download") == ""
    assert charset_of("text/html; charset=GB2312") == "GB2312"
    assert charset_of("text/html") is None
