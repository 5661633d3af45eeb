"""One entry point that turns raw bytes of any report format into text, tables and metadata.

``load_document`` sniffs the real format (magic bytes beat Content-Type and file names, because
portals serve HTML error pages as ``.pdf`` and DOCX as ``application/octet-stream``), then hands
the bytes to the format's loader. Every loader returns a :class:`LoadedDocument`; anything that
cannot be read raises :class:`ExtractionError` with a reason a researcher can act on.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from domain import sniff
from domain.chinese import decode_bytes
from pipelines.loaded import ExtractionError, LoadedDocument

logger = logging.getLogger(__name__)

#: Bigger inputs are refused: no annual report is anywhere near this, a zip bomb or a video is.
MAX_INPUT_BYTES = 80 * 1024 * 1024


def load_document(data: bytes, *, content_type: str = "", filename: str = "", url: str = "") -> LoadedDocument:
    """Load ``data`` as whatever document it really is; raise ExtractionError if it is none."""
    if not data:
        raise ExtractionError("empty input (0 bytes)")
    if len(data) > MAX_INPUT_BYTES:
        raise ExtractionError(f"input too large ({len(data) / 1e6:.1f} MB > {MAX_INPUT_BYTES / 1e6:.0f} MB limit)")
    kind = sniff.sniff(data, content_type=content_type, filename=filename or url)
    loader = _loader(kind.format)
    if loader is None:
        raise ExtractionError(kind.reason or f"unsupported format {kind.format!r}")
    try:
        doc = loader(data, content_type=content_type)
    except (ExtractionError, MemoryError):
        raise  # MemoryError: the caller's budget (pipelines.bounded) names it
    except Exception as exc:  # a parser bug or an input no check foresaw must not stop a crawl
        logger.exception("%s loader failed on %s", kind.format, filename or url or "input")
        raise ExtractionError(f"{kind.format.upper()} could not be read ({type(exc).__name__}: {exc})") from exc
    logger.debug("loaded %s (%d bytes) as %s: %d chars, %d tables, ocr=%s",
                 filename or url, len(data), kind.format, len(doc.text), len(doc.tables), doc.ocr)
    if kind.format in ("doc", "wps"):
        doc.format = kind.format
    if kind.note:
        _reject_error_page(doc, kind.note)
        doc.warnings.insert(0, kind.note)
    return doc


#: An HTML answer to a document link with less text than this and no table is an error page.
_ERROR_PAGE_MAX_CHARS = 500


def _reject_error_page(doc: LoadedDocument, note: str) -> None:
    """Refuse an HTML page served where a PDF/DOC was expected when it is too thin to be a report
    (404 pages, login walls, "file not found" pages answered with status 200)."""
    if doc.format == "html" and not doc.tables and len(doc.text) < _ERROR_PAGE_MAX_CHARS:
        shown = doc.title or doc.text[:80].replace("\n", " ")
        raise ExtractionError(f"{note}, apparently an error page: {shown!r}")


def _loader(fmt: str) -> Callable[..., LoadedDocument] | None:
    """The loader function for a sniffed format (imported lazily: pdf/ocr pull heavy modules)."""
    if fmt == "html":
        from pipelines.html import load_html
        return load_html
    if fmt == "pdf":
        from pipelines.pdf import load_pdf
        return load_pdf
    if fmt == "docx":
        from pipelines.docx import load_docx
        return load_docx
    if fmt in ("doc", "wps"):
        from pipelines.libreoffice import load_office
        return functools.partial(load_office, suffix=f".{fmt}")
    if fmt == "txt":
        return load_text
    if fmt == "markdown":
        from pipelines.markdown import load_markdown
        return load_markdown
    if fmt == "image":
        from pipelines.ocr import load_image
        return load_image
    return None


def load_text(data: bytes, *, content_type: str = "") -> LoadedDocument:
    """Plain text kept as is (decoded); table layouts in text are parsed downstream."""
    text, codec = decode_bytes(data, sniff.charset_of(content_type))
    doc = LoadedDocument(format="txt", text=text.replace("\r\n", "\n").replace("\r", "\n"))
    if codec.endswith("/replace"):
        doc.warnings.append("text is not valid UTF-8 or GB18030; undecodable bytes replaced")
    first = next((line.strip() for line in doc.text.splitlines() if line.strip()), "")
    doc.title = first[:200]
    return doc
