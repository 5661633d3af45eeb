"""Attachments: which links are downloads, what a download really is, and what it is called.

Chinese portals serve reports from extension-less endpoints (``/module/download/downfile.jsp?
classid=0&filename=...``), name them in ``Content-Disposition`` with raw GBK bytes, a
percent-encoded UTF-8 or GBK string, RFC 5987 ``filename*=UTF-8''...`` or RFC 2047, and
answer expired links with an HTML error page under a ``.pdf`` name. The bytes decide the
type (:mod:`domain.sniff`); headers and names only break ties.
"""
from __future__ import annotations

import base64
import quopri
import re
from urllib.parse import unquote_to_bytes, urlsplit

from domain.sniff import sniff

# Markdown and plain text: what converters and people post (.md, or .txt whatever is inside);
# the bytes decide which it is, and the extractor reads both.
REPORT_FORMATS = frozenset({"pdf", "doc", "docx", "wps", "markdown", "txt"})
ATTACHMENT_EXTENSIONS = frozenset({"pdf", "doc", "docx", "wps", "md", "markdown", "txt"})
_DOWNLOAD_PATH = re.compile(
    r"(downfile|download|downloadfile|filedownload|getfile|attachment|attach_?download|fileserver)", re.I
)
_EXT_PARAM = re.compile(rf"\.({'|'.join(sorted(ATTACHMENT_EXTENSIONS))})(?:$|[&#])", re.I)
_RFC5987 = re.compile(r"filename\*\s*=\s*([\w!#$%&+^`{}~-]+)'[\w-]*'([^;\s]+)", re.I | re.A)
_PLAIN = re.compile(rb'filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))', re.I)
_RFC2047 = re.compile(r"=\?([\w-]+)\?([BbQq])\?([^?]*)\?=")
# C0, DEL, C1, line/paragraph separators and bidi overrides (which disguise an extension).
_NAME_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
MAX_FILENAME = 200  # characters; the filename columns hold 500


def url_extension(url: str) -> str:
    """The lower-case extension of the URL's last path segment ('' if none)."""
    return _path_extension(urlsplit(url).path)


def _path_extension(path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    return last.rsplit(".", 1)[-1].lower() if "." in last else ""


def looks_like_attachment(url: str) -> bool:
    """A link that downloads a document: by extension, or a download endpoint naming a file."""
    parts = urlsplit(url)
    if _path_extension(parts.path) in ATTACHMENT_EXTENSIONS:
        return True
    return bool(_DOWNLOAD_PATH.search(parts.path) or _EXT_PARAM.search(unquote_safe(parts.query)))


_ATTACHMENT_LABEL = re.compile(r"附件|下载|点击|原文|全文|\.(pdf|docx?|wps|md|txt)\b", re.I)


def is_document_link(url: str, label: str) -> bool:
    """On a report page: a link to the report's own document (not the site's app-download page).

    A link with a document extension counts; an extension-less download endpoint only when
    its label is empty, names a file, or says 附件 / 下载 / 原文.
    """
    if url_extension(url) in ATTACHMENT_EXTENSIONS:
        return True
    return looks_like_attachment(url) and (not label.strip() or bool(_ATTACHMENT_LABEL.search(label)))


def unquote_safe(text: str) -> str:
    return _decode_name(unquote_to_bytes(text))


def _decode_name(raw: bytes, charset: str = "") -> str:
    """Name bytes in the declared charset, else UTF-8, else GB18030 (GBK's superset)."""
    for codec in (charset, "utf-8", "gb18030"):
        if not codec:
            continue
        try:
            return raw.decode("gb18030" if codec.lower() in {"gbk", "gb2312", "gb18030"} else codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1")


def _rfc2047(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        charset, enc, payload = m.groups()
        raw = base64.b64decode(payload + "===") if enc in "Bb" else quopri.decodestring(payload.replace("_", " "))
        return _decode_name(raw, charset)

    return _RFC2047.sub(one, text)


def clean_filename(name: str) -> str:
    """A decoded name made safe to store and to send back in a header: no control characters
    (a CR/LF broke the download of the original), no directories, no leading dots, at most
    :data:`MAX_FILENAME` characters (the extension kept). The Chinese text stays as it is."""
    name = _NAME_CONTROLS.sub("", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = dot + ext if stem and len(ext) <= 10 else ""
        name = name[:MAX_FILENAME - len(keep)] + keep
    return name


def filename_from_disposition(header: bytes | str | None) -> str:
    """The file name in a Content-Disposition header ('' if none), decoded without mojibake
    and cleaned (:func:`clean_filename`).

    ``filename*`` (RFC 5987) wins over ``filename``; a plain ``filename`` may be raw GBK or
    UTF-8 bytes, percent-encoded bytes, or RFC 2047 encoded words.
    """
    if not header:
        return ""
    raw = header if isinstance(header, bytes) else header.encode("utf-8", "surrogateescape")
    m = _RFC5987.search(raw.decode("latin-1"))
    if m:
        return clean_filename(_decode_name(unquote_to_bytes(m.group(2).encode("latin-1")), m.group(1)))
    p = _PLAIN.search(raw)
    if not p:
        return ""
    value = (p.group(1) if p.group(1) is not None else p.group(2)).strip().strip(b"'")
    value = value.replace(b'\\"', b'"')
    if b"%" in value and re.search(rb"%[0-9A-Fa-f]{2}", value):
        value = unquote_to_bytes(value.decode("latin-1"))
    name = _decode_name(value)
    return clean_filename(_rfc2047(name) if "=?" in name else name)


def document_format(body: bytes, content_type: str = "", filename: str = "") -> tuple[str, str]:
    """(format, reason): the sniffed format of a download, and why it is not a usable report.

    ``reason`` is '' for a PDF/DOC/DOCX/WPS that looks whole; otherwise it says what is wrong
    (an HTML page served as a document, a truncated file, an unsupported format).
    """
    found = sniff(body, content_type=content_type, filename=filename)
    if found.format not in REPORT_FORMATS:
        claimed = f" (served as {found.declared.upper()})" if found.declared not in ("", found.format) else ""
        return found.format, found.reason or f"not a report document: the content is {found.format.upper()}{claimed}"
    return found.format, _truncation(found.format, body)


def _truncation(fmt: str, body: bytes) -> str:
    """A cheap wholeness check: a cut-off download must not become a report version."""
    if fmt == "pdf" and b"%%EOF" not in body[-2048:]:
        return "truncated PDF: no %%EOF marker at the end"
    if fmt == "docx" and b"PK\x05\x06" not in body[-66000:]:
        return "truncated DOCX: ZIP central directory missing"
    if fmt in {"doc", "wps"} and len(body) % 512:
        return f"truncated {fmt.upper()}: size {len(body)} is not a whole number of 512-byte sectors"
    return ""


def attachment_filename(url: str, disposition: bytes | str | None) -> str:
    """The best file name for a download: Content-Disposition, else the URL's last segment."""
    return filename_from_disposition(disposition) or clean_filename(unquote_safe(urlsplit(url).path.rsplit("/", 1)[-1]))
