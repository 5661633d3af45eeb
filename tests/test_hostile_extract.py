"""Hostile inputs (issue 16 A): decompression bombs, huge tables and operator floods end in a
readable reason within a time bound, and the calling process's memory does not balloon.

Every input is generated here at a modest size; the budgets are lowered so each test takes
seconds.
"""
from __future__ import annotations

import io
import resource
import time
import zipfile
import zlib
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from domain.processes import pid_alive
from ogi.cli import main
from pipelines.bounded import BoundedExtractor, Budget, extract_bounded
from pipelines.document import load_document
from pipelines.extract import extract_document
from pipelines.loaded import ExtractionError
from pipelines.worker import extract_pending
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import ReportVersion
from storage.versions import ReportCandidate, record_report

SEED_002 = (Path(__file__).parent / "fixtures" / "corpus" / "seeds" / "002_ff5e69430f7bf06e.txt").read_bytes()
_MIB = 1024 * 1024


# ---- hostile inputs ---------------------------------------------------------------------------------

def docx_bomb(mib: int = 300) -> bytes:
    """A valid DOCX package whose word/document.xml is ``mib`` MiB of zeros (~1000:1)."""
    base = io.BytesIO()
    docx.Document().save(base)
    out = io.BytesIO()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                dst.writestr(info, src.read(info))
                continue
            with dst.open("word/document.xml", "w", force_zip64=True) as part:
                zeros = bytes(_MIB)
                for _ in range(mib):
                    part.write(zeros)
    return out.getvalue()


def pdf_with_content(content: bytes) -> bytes:
    """A one-page PDF whose content stream is ``content``, FlateDecode-compressed."""
    stream = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_bomb(mib: int = 400) -> bytes:
    """~400 KB of PDF whose content stream inflates to ``mib`` MiB."""
    return pdf_with_content(b" " * (mib * _MIB))


def pdf_operator_flood(operators: int = 1_500_000) -> bytes:
    """~16 KB of PDF drawing one glyph ``operators`` times."""
    return pdf_with_content(b"BT /F1 1 Tf " + b"(a) Tj " * operators + b"ET")


def html_table(rows: int, cols: int = 10) -> bytes:
    row = "<tr>" + "<td>1</td>" * cols + "</tr>"
    return f"<html><head><title>t</title></head><body><table>{row * rows}</table></body></html>".encode()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def bomb_pdf() -> bytes:
    return pdf_bomb()


# ---- input-side checks (in process: they must not need the budget) -----------------------------------

def test_docx_bomb_is_refused_before_parsing_with_flat_memory() -> None:
    data = docx_bomb()
    assert len(data) < 2 * _MIB
    before, start = peak_rss_mib(), time.monotonic()
    with pytest.raises(ExtractionError, match=r"decompression bomb: part word/document.xml inflates \d+:1"):
        load_document(data, filename="r.docx")
    assert time.monotonic() - start < 10
    assert peak_rss_mib() - before < 100, "the bomb was never inflated into memory"


def test_docx_whose_parts_lie_about_their_size_is_refused() -> None:
    """A central directory that declares document.xml small: the part is counted as it inflates."""
    data = bytearray(docx_bomb(mib=70))
    name = b"word/document.xml"
    header = next(pos - 46 for pos in range(len(data)) if data.startswith(name, pos) and data.startswith(b"PK\x01\x02", pos - 46))
    data[header + 24:header + 28] = _MIB.to_bytes(4, "little")  # the central directory's uncompressed size
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("word/document.xml").file_size == _MIB
    with pytest.raises(ExtractionError, match="DOCX could not be opened .*Bad CRC-32"):
        load_document(bytes(data), filename="r.docx")


def test_html_with_a_huge_table_is_refused_before_parsing() -> None:
    data = html_table(rows=6000)  # 60 000 cells, 1 MB
    start = time.monotonic()
    with pytest.raises(ExtractionError, match=r"HTML page has 60000 table cells \(limit 50000\)"):
        load_document(data, content_type="text/html")
    assert time.monotonic() - start < 1


# ---- the budget ---------------------------------------------------------------------------------------

def test_pdf_flate_bomb_ends_at_the_memory_budget(bomb_pdf: bytes) -> None:
    before, start = peak_rss_mib(), time.monotonic()
    with pytest.raises(ExtractionError, match=r"^extraction exceeded 256 MiB"):
        extract_bounded(bomb_pdf, budget=Budget(seconds=60, memory_mib=256), filename="r.pdf")
    assert time.monotonic() - start < 30
    assert peak_rss_mib() - before < 100


def test_pdf_operator_flood_ends_at_the_time_budget() -> None:
    start = time.monotonic()
    with pytest.raises(ExtractionError, match=r"^extraction exceeded 1.5 s$"):
        extract_bounded(pdf_operator_flood(), budget=Budget(seconds=1.5, memory_mib=4096), filename="r.pdf")
    assert time.monotonic() - start < 10


def test_html_table_under_the_cell_limit_ends_at_the_time_budget() -> None:
    with pytest.raises(ExtractionError, match=r"^extraction exceeded 0.5 s$"):
        extract_bounded(html_table(rows=4500), budget=Budget(seconds=0.5), content_type="text/html")


def test_timed_out_child_is_gone_and_the_next_document_is_extracted() -> None:
    with BoundedExtractor(Budget(seconds=0.5)) as extractor:
        extractor.extract(SEED_002, filename="r.txt")
        child = extractor._process.pid
        with pytest.raises(ExtractionError, match="exceeded 0.5 s"):
            extractor.extract(html_table(rows=4500), content_type="text/html")
        assert not pid_alive(child)
        assert extractor.extract(SEED_002, filename="r.txt")["agency"] == "长春市双阳区太平镇人民政府"


def test_ordinary_documents_give_the_same_record_as_in_process() -> None:
    with BoundedExtractor() as extractor:
        for _ in range(2):  # the second one reuses the child
            assert extractor.extract(SEED_002, filename="r.txt", region="吉林省") == extract_document(
                SEED_002, filename="r.txt", region="吉林省")


# ---- the two callers ----------------------------------------------------------------------------------

def test_ogi_extract_prints_one_line_and_fails(tmp_path: Path, bomb_pdf: bytes) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(bomb_pdf)
    result = CliRunner().invoke(main, ["extract", str(path)], env={"OGI_EXTRACT_MEMORY_MIB": "256"})
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith(f"Error: {path}: cannot extract: extraction exceeded 256 MiB")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_worker_records_the_bomb_and_goes_on(db: Database, blobs: BlobStore, bomb_pdf: bytes) -> None:
    ids = []
    for name, data in (("bomb.pdf", bomb_pdf), ("table.docx", docx_bomb()), ("good.txt", SEED_002)):
        with db.session() as session:
            url = f"http://a.gov.cn/{name}"
            candidate = ReportCandidate(url=url, source_url=url, document_url=url, title="", sha256=blobs.put(data),
                                        filename=name)
            ids.append(record_report(session, candidate)[1].id)
    counts = extract_pending(db, blobs, budget=Budget(seconds=60, memory_mib=256))
    assert counts == {"done": 1, "failed": 2}
    with db.session() as session:
        bomb, docx_part, good = (session.get(ReportVersion, i) for i in ids)
        assert bomb.extraction_status == "failed" and bomb.extraction_error.startswith("extraction exceeded 256 MiB")
        assert docx_part.extraction_status == "failed" and "decompression bomb" in docx_part.extraction_error
        assert good.extraction_status == "done" and good.agency == "长春市双阳区太平镇人民政府"
