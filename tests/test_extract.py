"""The extraction flow end to end: one record per document whatever its format, and ``ogi extract``/``reextract``."""
from __future__ import annotations

import html
import io
import json
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner

from domain.schema import SECTIONS
from ogi.cli import main
from pipelines.extract import EXTRACTOR_VERSION, extract_document
from pipelines.loaded import ExtractionError
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import ReportVersion
from storage.versions import ReportCandidate, record_report

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = FIXTURES / "corpus"
SEED_000 = CORPUS / "seeds" / "000_754b2c1a6681c1c1.txt"
SEED_002 = CORPUS / "seeds" / "002_ff5e69430f7bf06e.txt"
PINGTAN_2021 = CORPUS / "real" / "reports" / "pingtan_2021_page.txt"
HONGZE_2023 = CORPUS / "real" / "reports" / "huaian_hongze_district_2023.pdf"
BLANK_DOC = FIXTURES / "formats" / "official_template_2021plus_blank.doc"
SCAN = FIXTURES / "formats" / "scan_hongze_2023_p3.pdf"
RECORD_KEYS = {
    "title", "agency", "region", "report_year", "template", "published_at", "text", "sections", "values", "cells",
    "checks", "ocr", "ocr_confidence", "format", "warnings", "extractor_version", "provenance",
}


@pytest.fixture(scope="module")
def seed_000() -> dict:
    return extract_document(SEED_000.read_bytes(), filename=SEED_000.name, region="安徽省/淮南市")


def test_record_has_the_contract_shape(seed_000: dict) -> None:
    assert set(seed_000) == RECORD_KEYS
    assert (seed_000["agency"], seed_000["region"], seed_000["report_year"], seed_000["template"]) == (
        "众兴镇人民政府", "安徽省/淮南市/寿县", 2020, "2019")
    assert seed_000["published_at"] == "2021-01-18"
    assert list(seed_000["sections"]) == list(SECTIONS)
    assert (seed_000["format"], seed_000["ocr"], seed_000["ocr_confidence"]) == ("txt", False, None)
    assert seed_000["extractor_version"] == EXTRACTOR_VERSION
    assert set(seed_000["values"]) == set(seed_000["cells"])
    for key, cell in seed_000["cells"].items():
        assert set(cell) == {"value", "raw", "unit", "derived", "ocr"}
        assert seed_000["values"][key] == cell["value"], "values are the export's: key -> number or null"
    for check in seed_000["checks"]:
        assert set(check) >= {"rule", "ok", "detail", "cells", "expected", "found"}
    json.dumps(seed_000, ensure_ascii=False)  # the record is plain JSON


def test_seed_000_cells_and_checks(seed_000: dict) -> None:
    """众兴镇 2020 (hand-checked): no applications, 19 procurement projects 发包价561342.67元, all rules pass."""
    values = seed_000["cells"]
    assert values["active.procurement.projects"]["value"] == 19
    assert values["active.procurement.amount"]["raw"] == "发包价561342.67元"
    assert values["active.procurement.amount_yuan"]["value"] == pytest.approx(561342.67)
    assert values["applications.result.total.total"]["value"] == 0
    assert values["appeals.litigation_after_review.total"]["value"] == 0
    rules = {check["rule"] for check in seed_000["checks"]}
    assert {"R1-balance", "R2-row-total", "R4-appeals-total"} <= rules
    assert all(check["ok"] for check in seed_000["checks"])


def _html_page(text: str, *, title: str, pubdate: str) -> bytes:
    body = "\n".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
    return (f'<html><head><meta charset="utf-8"><title>{title} - 某区人民政府</title>'
            f'<meta name="ArticleTitle" content="{title}"><meta name="PubDate" content="{pubdate}"></head>'
            f'<body><div class="nav">首页 > 政务公开</div><div class="article">{body}</div></body></html>').encode()


def _docx(text: str) -> bytes:
    document = docx.Document()
    for line in text.splitlines():
        if line.strip():
            document.add_paragraph(line.strip())
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_same_report_as_text_html_and_docx_gives_the_same_metadata_and_sections() -> None:
    text = SEED_002.read_text(encoding="utf-8")
    title = "太平镇人民政府2020年政府信息公开工作年度报告"
    shapes = {
        "txt": extract_document(text.encode(), filename="r.txt"),
        "html": extract_document(_html_page(text, title=title, pubdate="2021-01-25 09:30"), content_type="text/html"),
        "docx": extract_document(_docx(text), filename="r.docx"),
    }
    for fmt, record in shapes.items():
        assert record["format"] == fmt
        assert (record["agency"], record["report_year"], record["template"]) == ("长春市双阳区太平镇人民政府", 2020, "2019"), fmt
        assert record["title"] == title, fmt
        assert list(record["sections"]) == list(SECTIONS), fmt
        assert record["sections"]["other"].startswith("本年度没有其他需要报告的事项"), fmt
    assert shapes["docx"]["values"] == shapes["txt"]["values"]
    assert shapes["txt"]["values"]["active.penalty.prev_items"] == 117
    assert shapes["html"]["published_at"] == "2021-01-25", "<meta name=PubDate> wins"
    assert shapes["txt"]["published_at"] is None


def test_pdf_report() -> None:
    record = extract_document(HONGZE_2023.read_bytes(), filename=HONGZE_2023.name, region="江苏省")
    assert (record["format"], record["agency"], record["region"], record["report_year"], record["template"]) == (
        "pdf", "淮安市洪泽区人民政府", "江苏省/淮安市/洪泽区", 2023, "2021")
    assert list(record["sections"]) == list(SECTIONS)
    assert record["values"], "the tables were read"


def test_title_hint_with_year_beats_a_generic_page_title() -> None:
    record = extract_document(SEED_002.read_bytes(), filename="r.txt", title_hint="太平镇人民政府2020年政府信息公开工作年度报告",
                              published_hint="2021-01-22")
    assert record["published_at"] == "2021-01-22"
    record = extract_document(SEED_002.read_bytes(), filename="r.txt", title_hint="政府信息公开年报")
    assert record["title"] == "太平镇人民政府2020年政府信息公开工作年度报告"


def test_table_labels_overrule_the_year_with_a_warning() -> None:
    """A 2020 report printed on the 2021 form is read as the 2021 form, and the record says so."""
    text = PINGTAN_2021.read_text(encoding="utf-8").replace("2021年", "2020年").replace("2021年度", "2020年度")
    record = extract_document(text.encode(), filename="r.txt")
    assert record["report_year"] == 2020
    assert record["template"] == "2021"
    assert any("labels" in w and "template" in w for w in record["warnings"])


def test_doc_via_libreoffice() -> None:
    """The blank 2021 form (DOC): read, recognised as the 2021 form, every statistics cell reported missing (R5)."""
    record = extract_document(BLANK_DOC.read_bytes(), filename=BLANK_DOC.name)
    assert record["format"] == "doc" and record["template"] == "2021" and record["report_year"] is None
    assert record["checks"] and not any(c["ok"] for c in record["checks"] if c["rule"] == "R5-complete")


def test_corrupt_input_raises_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        extract_document(b"PK\x03\x04 this is no docx", filename="r.docx")
    with pytest.raises(ExtractionError):
        extract_document(b"", filename="r.txt")


# ---- ogi extract / ogi reextract ----------------------------------------------------------------------


def test_cli_extract_prints_utf8_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["extract", str(SEED_000)])
    assert result.exit_code == 0, result.output
    assert "众兴镇人民政府" in result.output, "Chinese is printed as is, not \\u-escaped"
    record = json.loads(result.output)
    assert record["agency"] == "众兴镇人民政府" and record["values"]["active.procurement.projects"] == 19
    assert record["cells"]["active.procurement.amount"]["raw"] == "发包价561342.67元"


def test_cli_extract_stdout_is_only_the_record() -> None:
    """Run as a real process: log lines (trafilatura complains about fragments) go to stderr, not into the JSON."""
    fragment = FIXTURES / "formats" / "nfra_content_fragment_table.html"
    done = subprocess.run([sys.executable, "-c", "from ogi.cli import main; main()", "extract", str(fragment)],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.decode("utf-8"))["format"] == "html"


def test_cli_extract_text_format() -> None:
    result = CliRunner().invoke(main, ["extract", "--format", "text", "--region", "吉林省", str(SEED_002)])
    assert result.exit_code == 0, result.output
    assert "agency: 长春市双阳区太平镇人民政府" in result.output
    assert "region: 吉林省/长春市/双阳区" in result.output
    assert "applications.new.total = 0" in result.output


def test_cli_extract_corrupt_file_fails_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    result = CliRunner().invoke(main, ["extract", str(bad)])
    assert result.exit_code != 0
    assert "broken.pdf" in result.output and "cannot extract" in result.output
    assert "Traceback" not in result.output


def test_cli_extract_image_is_ocrd(tmp_path: Path) -> None:
    """A scanned page as PNG: OCR'd, flagged, with tesseract's confidence."""
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(SCAN), str(tmp_path / "page")], check=True)
    result = CliRunner().invoke(main, ["extract", str(tmp_path / "page.png")])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["format"] == "image" and record["ocr"] is True
    assert 0 < record["ocr_confidence"] <= 100
    assert record["cells"] and all(cell["ocr"] for cell in record["cells"].values() if not cell["derived"])


def test_cli_reextract(tmp_path: Path, db_url: str) -> None:
    data_dir = tmp_path / "data"
    db = Database(db_url)
    blobs = BlobStore(data_dir / "blobs")
    sha = blobs.put(SEED_000.read_bytes())
    with db.session() as session:
        _, version, _ = record_report(session, ReportCandidate(url="http://a.gov.cn/r.txt", source_url="http://a.gov.cn/r.txt",
                                                               document_url=None, title="", sha256=sha))
        version.extraction_status, version.extractor_version = "done", "0.0.old"
        version_id = version.id
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "reextract", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"re-extracted 1 versions with extractor {EXTRACTOR_VERSION}: 1 done, 0 failed" in result.output
    with db.session() as session:
        version = session.get(ReportVersion, version_id)
        assert (version.extractor_version, version.agency) == (EXTRACTOR_VERSION, "众兴镇人民政府")
    db.dispose()


def test_cli_extract_values_are_the_export_records(tmp_path: Path) -> None:
    """``ogi extract --format json`` prints the export's record: ``values`` key -> number or null, details in ``cells``."""
    from storage.exports import FIELDS

    record = json.loads(CliRunner().invoke(main, ["extract", str(SEED_000)]).output)
    shared = {"title", "agency", "region", "report_year", "template", "published_at", "text", "sections", "values", "checks"}
    assert shared <= set(FIELDS) and shared <= set(record)
    assert all(v is None or isinstance(v, (int, float)) for v in record["values"].values())
    assert record["values"]["applications.result.total.total"] == 0
    assert record["cells"]["applications.result.total.total"]["raw"] == "0"


@pytest.mark.parametrize("name", ["沭阳县2024年度政府信息公开工作年度报告.docx", "沭阳县2024年度政府信息公开工作年度报告.DOC",
                                  "沭阳县2024年度政府信息公开工作年度报告.pdf", "沭阳县2024年度政府信息公开工作年度报告.wps",
                                  "沭阳县2024年度政府信息公开工作年度报告.html"])
def test_titles_from_attachment_names_lose_the_extension(name: str) -> None:
    record = extract_document(SEED_000.read_bytes(), filename="r.txt", title_hint=name)
    assert record["title"] == "沭阳县2024年度政府信息公开工作年度报告"


def test_provenance_names_only_what_read_the_document(seed_000: dict) -> None:
    assert list(seed_000["provenance"]) == ["ogi-archive"] and seed_000["provenance"]["ogi-archive"] == EXTRACTOR_VERSION
    pdf = extract_document(HONGZE_2023.read_bytes(), filename=HONGZE_2023.name)["provenance"]
    assert set(pdf) == {"ogi-archive", "pdfium", "pdfplumber"} and "pdfium" in pdf["pdfium"]


def test_reextract_outdated_only_follows_the_components_a_version_used(tmp_path: Path, db_url: str) -> None:
    """A version is outdated when a component it used changed (here its pdfium), not when one it never used did."""
    from pipelines.worker import extract_pending, requeue

    db, blobs = Database(db_url), BlobStore(tmp_path / "blobs")
    ids = []
    with db.session() as session:
        for name in ("a", "b", "c"):
            _, version, _ = record_report(session, ReportCandidate(
                url=f"http://a.gov.cn/{name}.txt", source_url=f"http://a.gov.cn/{name}.txt", document_url=None, title="",
                sha256=blobs.put(SEED_000.read_bytes() + name.encode())))
            ids.append(version.id)
    extract_pending(db, blobs)
    with db.session() as session:
        changed, unused, kept = (session.get(ReportVersion, i) for i in ids)
        changed.provenance = {**changed.provenance, "pdfium": "pypdfium2 4.0 (pdfium 1.0)"}
        unused.provenance = dict(unused.provenance)  # a text report: a new pdfium does not concern it
        assert list(kept.provenance) == ["ogi-archive"]
    assert requeue(db, outdated_only=True) == 1
    with db.session() as session:
        assert [session.get(ReportVersion, i).extraction_status for i in ids] == ["pending", "done", "done"]
    db.dispose()
