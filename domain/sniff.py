"""What format a blob really is, from its first bytes before anything the server said.

Portals lie: an expired link answers ``200 OK`` with an HTML error page under ``report.pdf``,
DOCX files come as ``application/octet-stream`` and WPS files as ``application/msword``. So the
magic bytes decide; Content-Type and the file name only break ties the bytes leave open (OLE2
is both DOC and WPS; text and HTML have no magic).
"""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|title|div|table|p|span|script|style)\b", re.I | re.S)
_HTML_ANYWHERE = re.compile(rb"<(html|body|table|div|p)\b[^>]*>", re.I)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-]+)", re.I)

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_EXT_FORMAT = {
    "pdf": "pdf", "docx": "docx", "doc": "doc", "wps": "wps", "htm": "html", "html": "html",
    "shtml": "html", "xhtml": "html", "txt": "txt",
    "md": "markdown", "markdown": "markdown", "png": "image", "jpg": "image", "jpeg": "image",
    "gif": "image", "tif": "image", "tiff": "image", "bmp": "image",
}
_TYPE_FORMAT = (
    ("application/pdf", "pdf"),
    ("wordprocessingml", "docx"),
    ("vnd.ms-works", "wps"),
    ("kswps", "wps"),
    ("wps-office", "wps"),
    ("application/msword", "doc"),
    ("text/html", "html"),
    ("application/xhtml", "html"),
    ("text/markdown", "markdown"),
    ("text/plain", "txt"),
    ("image/", "image"),
)


@dataclass(frozen=True)
class Sniffed:
    """The sniffed format; ``reason`` explains an unsupported one, ``note`` a claim the bytes contradict."""

    format: str  # html | pdf | docx | doc | wps | txt | markdown | image | unknown
    declared: str = ""  # what Content-Type / file name claimed ('' if nothing)
    reason: str = ""
    note: str = ""


def charset_of(content_type: str) -> str | None:
    """The ``charset=`` parameter of a Content-Type header, if any."""
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def declared_format(content_type: str = "", filename: str = "") -> str:
    """The format claimed by the file name/URL extension, else by the Content-Type ('' if none)."""
    path = urlsplit(filename).path if "://" in filename else filename
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if ext in _EXT_FORMAT:
        return _EXT_FORMAT[ext]
    ctype = (content_type or "").lower()
    return next((fmt for needle, fmt in _TYPE_FORMAT if needle in ctype), "")


def sniff(data: bytes, *, content_type: str = "", filename: str = "") -> Sniffed:
    """Detect the format of ``data``; the declared format only decides what bytes cannot."""
    declared = declared_format(content_type, filename)
    actual, reason = _from_bytes(data, declared)
    note = ""
    if declared and actual not in (declared, "unknown") and not _compatible(declared, actual):
        note = f"declared as {declared.upper()} (by Content-Type/file name) but the content is {actual.upper()}"
    return Sniffed(actual, declared, reason, note)


def _compatible(declared: str, actual: str) -> bool:
    """Claims that are harmless mislabels rather than a sign of a wrong document."""
    return {declared, actual} <= {"doc", "wps", "docx"} or {declared, actual} in ({"txt", "html"}, {"txt", "markdown"})


def _from_bytes(data: bytes, declared: str) -> tuple[str, str]:
    head = data[:2048]
    if head.lstrip()[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
        return "pdf", ""
    if head.startswith(_OLE2):
        return ("wps" if declared == "wps" else "doc"), ""
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    for magic, _name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return "image", ""
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image", ""
    if head.startswith(b"{\\rtf"):
        return ("wps" if declared == "wps" else "doc"), ""  # Word's RTF "doc": LibreOffice reads it
    if _looks_binary(head):
        return "unknown", f"unrecognised binary content (first bytes {head[:8].hex(' ')})"
    if _HTML_START.match(_strip_bom(head)):
        return "html", ""
    if looks_like_markdown(data[:65536]):
        return "markdown", ""
    if declared != "txt" and _HTML_ANYWHERE.search(head):
        return "html", ""
    return "txt", ""


#: A pipe table's delimiter row (``|---|:--:|``), a pipe row, an ATX heading.
_MD_DELIMITER = re.compile(rb"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)+\|?[ \t]*$", re.MULTILINE)
_MD_PIPE_ROW = re.compile(rb"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
_MD_HEADING = re.compile(rb"^#{1,6}[ \t]+\S", re.MULTILINE)


def looks_like_markdown(head: bytes) -> bool:
    """Markdown by content, whatever the file is called (converters and people save it as .txt):
    a pipe table with its delimiter row, or headings around pipe rows or HTML tables (MinerU)."""
    if _MD_DELIMITER.search(head) and len(_MD_PIPE_ROW.findall(head)) >= 2:
        return True
    return len(_MD_HEADING.findall(head)) >= 2 and (bool(_MD_PIPE_ROW.search(head)) or b"<table" in head.lower())


def _zip_kind(data: bytes) -> tuple[str, str]:
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return "unknown", f"broken ZIP container (truncated DOCX?): {exc}"
    if "word/document.xml" in names:
        return "docx", ""
    if "OFD.xml" in names:
        return "unknown", "OFD (GB/T 33190) documents are not supported; no converter is installed"
    if any(n.startswith("xl/") for n in names):
        return "unknown", "spreadsheet (XLSX) is not a supported report format"
    return "unknown", "ZIP archive without word/document.xml (not a DOCX)"


def _strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def _looks_binary(head: bytes) -> bool:
    """NUL bytes or many control characters: not text in any encoding a portal uses (UTF-16 aside)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls > len(head) // 20
