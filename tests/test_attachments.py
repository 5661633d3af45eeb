"""Download endpoints, Content-Disposition in every encoding portals use, and bad documents."""
import pytest

from crawler.attachments import attachment_filename, document_format, filename_from_disposition, looks_like_attachment

NAME = "2020年政府信息公开工作年度报告.pdf"


def test_raw_utf8_in_rfc5987_is_tolerated():
    assert filename_from_disposition(b"attachment; filename*=UTF-8''" + NAME.encode("utf-8")) == NAME


def test_rfc5987_utf8():
    from urllib.parse import quote
    header = f"attachment; filename=\"fallback.pdf\"; filename*=UTF-8''{quote(NAME)}"
    assert filename_from_disposition(header) == NAME


def test_rfc5987_gbk():
    from urllib.parse import quote
    header = f"attachment; filename*=GBK''{quote(NAME.encode('gbk'))}"
    assert filename_from_disposition(header) == NAME


def test_raw_gbk_bytes():
    assert filename_from_disposition(b'attachment; filename="' + NAME.encode("gbk") + b'"') == NAME


def test_raw_utf8_bytes_unquoted():
    assert filename_from_disposition(b"attachment;filename=" + NAME.encode("utf-8")) == NAME


def test_percent_encoded_gbk_and_utf8():
    from urllib.parse import quote
    assert filename_from_disposition(f"attachment; filename={quote(NAME.encode('gbk'))}") == NAME
    assert filename_from_disposition(f'attachment; filename="{quote(NAME)}"') == NAME


def test_rfc2047():
    import base64
    word = "=?UTF-8?B?" + base64.b64encode(NAME.encode()).decode() + "?="
    assert filename_from_disposition(f'attachment; filename="{word}"') == NAME


def test_no_filename():
    assert filename_from_disposition(b"inline") == ""
    assert filename_from_disposition(None) == ""
    assert attachment_filename("http://a/files/%E5%B9%B4%E6%8A%A5.pdf", None) == "年报.pdf"


@pytest.mark.parametrize("url,expected", [
    ("http://a/P020210120.pdf", True),
    ("http://a/x/report.DOCX", True),
    ("http://a/x/report.wps", True),
    ("http://a/module/download/downfile.jsp?classid=0&filename=162bdb95d1e7b7dd", True),
    ("http://a/attach/get?name=%E5%B9%B4%E6%8A%A5.doc", True),
    ("http://a/art/2021/1/20/art_1234_567890.html", False),
    ("http://a/zwgk/index.html", False),
])
def test_attachment_links(url, expected):
    assert looks_like_attachment(url) is expected


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_whole_pdf_is_a_report_format():
    assert document_format(PDF, "application/pdf", "a.pdf") == ("pdf", "")


def test_html_served_as_pdf():
    fmt, reason = document_format(b"<html><body>404 not found</body></html>", "application/pdf", "a.pdf")
    assert fmt == "html" and "HTML" in reason and "PDF" in reason


def test_truncated_pdf_and_doc():
    assert "truncated PDF" in document_format(PDF[:20], "application/pdf", "a.pdf")[1]
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1".ljust(1024, b"\0")
    assert "truncated DOC" in document_format(ole[:1000], "application/msword", "a.doc")[1]
    assert document_format(ole, "", "a.wps") == ("wps", "")


def test_document_links_on_a_report_page():
    from crawler.attachments import is_document_link
    assert is_document_link("http://a/P0201.pdf", "")
    assert is_document_link("http://a/module/download/downfile.jsp?classid=0&filename=1a2b", "附件：年报.pdf")
    assert is_document_link("http://a/module/download/downfile.jsp?classid=0&filename=1a2b", "")
    assert not is_document_link("http://a/download/app.html", "手机客户端")
