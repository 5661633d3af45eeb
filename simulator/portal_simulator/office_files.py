"""Report attachments in office formats: DOCX rendered with python-docx, DOC/WPS shipped.

DOCX is cheap to build, so it is generated from the report (merged cells included). Legacy
binary formats (.doc, and .wps, which WPS Office writes in the same OLE container) would need
LibreOffice at build time (seconds), so one converted file of each is shipped in
``data/office`` and served as is; ``make_legacy_office_files`` recreates them.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.shared import Pt

from portal_simulator.corpus import DATA, ReportDoc
from portal_simulator.report_tables import Table, grid_width, positions

_FIXED_TIME = datetime(2021, 1, 18, 2, 0, tzinfo=UTC)


def report_docx(doc: ReportDoc) -> bytes:
    """The report as a Word document; deterministic bytes for the same content."""
    word = Document()
    word.core_properties.created = word.core_properties.modified = _FIXED_TIME
    word.core_properties.title = doc.title
    word.core_properties.author = doc.agency
    for kind, block in doc.blocks:
        if kind == "table":
            _add_table(word, block)  # type: ignore[arg-type]
        elif kind == "title":
            run = word.add_paragraph().add_run(str(block))
            run.bold, run.font.size = True, Pt(18)
        elif kind == "h":
            word.add_paragraph().add_run(str(block)).bold = True
        else:
            word.add_paragraph(str(block))
    out = io.BytesIO()
    word.save(out)
    return _normalise_zip(out.getvalue())


def _add_table(word: Document, table: Table) -> None:
    cells = positions(table)
    height = max(r + c.rowspan for r, _, c in cells)
    width = grid_width(table)
    grid = word.add_table(rows=height, cols=width)
    grid.style = "Table Grid"
    # Table.cell() rescans the whole table each call; spans never overlap, so the corner
    # cells taken before merging stay valid.
    flat = grid._cells
    for r, c, cell in cells:
        target = flat[r * width + c]
        if cell.rowspan > 1 or cell.colspan > 1:
            target = target.merge(flat[(r + cell.rowspan - 1) * width + c + cell.colspan - 1])
        target.text = cell.text


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite the zip with fixed timestamps so identical content gives identical bytes (ETag, sha256)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2021, 1, 18, 10, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def make_legacy_office_files(docs: dict[str, ReportDoc], out_dir: Path = DATA / "office") -> None:
    """Convert each named report to .doc with LibreOffice (a one-off maintenance step)."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        raise RuntimeError("LibreOffice (soffice) is needed to regenerate the .doc/.wps files")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, doc in docs.items():
            src = Path(tmp) / f"{Path(name).stem}.docx"
            src.write_bytes(report_docx(doc))
            subprocess.run([soffice, "--headless", "--convert-to", "doc", "--outdir", tmp, str(src)],
                           check=True, capture_output=True, timeout=120)
            shutil.copyfile(Path(tmp) / f"{Path(name).stem}.doc", out_dir / name)
