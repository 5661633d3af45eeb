"""What produced a record, in versions a researcher can cite and ``ogi reextract`` can compare.

A record's ``provenance`` names every component that read its document, and only those: the
project (its release and a digest of the extraction code, so a change to a parser is a new
version even between releases), trafilatura for HTML, pdfium (pypdfium2) and pdfplumber for PDF,
python-docx for DOCX, LibreOffice for DOC/WPS, and for OCR'd documents tesseract with the
date and digest of its ``chi_sim`` and ``eng`` models, and OpenCV (the scanned tables' lines).
A version is outdated when any component it used now has another version (:func:`outdated`);
components it did not use do not matter.
How the document was fetched, when it took more than plain HTTP (a browser past a portal's
JavaScript challenge, :func:`fetched`), is shown with them; it read nothing, so it never makes
a version outdated.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
#: The code whose change can change a record: every extraction stage and the domain rules it applies.
_CODE = sorted(_ROOT.glob("pipelines/*.py")) + [_ROOT / "domain" / n for n in ("schema.py", "sniff.py", "chinese.py")]
#: Components by the format they read (``ocr``: any page went through OCR).
_USED = {
    "html": ("trafilatura", "lxml"),
    "markdown": ("lxml",),
    "pdf": ("pdfium", "pdfplumber"),
    "docx": ("python-docx",),
    "doc": ("libreoffice", "python-docx"),
    "wps": ("libreoffice", "python-docx"),
    "image": ("tesseract", "tesseract-model", "opencv-python-headless"),
    "ocr": ("tesseract", "tesseract-model", "opencv-python-headless"),
}


@functools.cache
def code_version() -> str:
    """``<release>+<digest of the extraction code>``: what ``extractor_version`` stores (30 chars max)."""
    digest = hashlib.sha256()
    for path in _CODE:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{_package('ogi-archive')}+{digest.hexdigest()[:10]}"


def for_record(fmt: str, ocr: bool) -> dict[str, str]:
    """The provenance of a record read from a ``fmt`` document (OCR'd or not)."""
    names = _USED.get(fmt, ()) + (_USED["ocr"] if ocr else ())
    return {"ogi-archive": code_version(), **{name: component(name) for name in dict.fromkeys(names)}}


#: How a document came (the crawler's ``fetched_by`` in the version's meta), as the provenance says it.
_FETCHED = {
    "browser": "through a browser (Chromium), past the portal's JavaScript challenge",
    "browser-cookies": "over HTTP with the cookies a browser earned past the portal's JavaScript challenge",
}
FETCHED = "fetched"


def fetched(meta: dict[str, Any] | None) -> dict[str, str]:
    """``{"fetched": ...}`` for a document that needed a browser ({} for plain HTTP)."""
    how = _FETCHED.get((meta or {}).get("fetched_by", ""))
    return {FETCHED: how} if how else {}


def outdated(stored: dict[str, Any] | None) -> bool:
    """True when a record made with ``stored`` would come out of other code today (or nothing says)."""
    if not stored:
        return True
    return any(component(name) != version for name, version in stored.items() if name != FETCHED)


@functools.cache
def component(name: str) -> str:
    """The installed version of one component ('missing' when absent: that is a change too)."""
    if name == "ogi-archive":
        return code_version()
    if name == "pdfium":
        import pypdfium2

        return f"pypdfium2 {pypdfium2.PYPDFIUM_INFO} (pdfium {pypdfium2.PDFIUM_INFO})"
    if name == "tesseract":
        return _first_line(["tesseract", "--version"])
    if name == "tesseract-model":  # chi_sim reads the text, eng the table cells' digits
        return f"{_model('chi_sim')}; {_model('eng')}"
    if name == "libreoffice":
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        return _first_line([soffice, "--headless", "--version"]) if soffice else "missing"
    return _package(name)


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"missing ({type(exc).__name__})"
    out = (done.stdout or done.stderr).decode("utf-8", "replace").strip().splitlines()
    return out[0].strip() if out else "missing"


def _model(lang: str) -> str:
    """``chi_sim.traineddata <date> sha256:<12 hex>`` from the directory tesseract reads."""
    listing = _first_line(["tesseract", "--list-langs"])
    match = re.search(r'"([^"]+)"', listing)
    path = Path(match.group(1)) / f"{lang}.traineddata" if match else None
    if path is None or not path.is_file():
        return "missing"
    date = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()
    return f"{path.name} {date} sha256:{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
