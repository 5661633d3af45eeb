"""Hostile input, generated rather than hand-picked: mutated real fixtures through extraction.

Hypothesis damages real reports of every format the crawler meets (PDF, scanned PDF, a scan as
a PNG image, DOCX, DOC, portal HTML, plain text and a Markdown conversion) the ways files get damaged: bytes flipped,
truncated, a run of bytes repeated or cut out. Each mutant goes through the same bounded
extraction the worker uses (a child process with a time and memory budget), and must end as
a record or as ExtractionError with a reason: never a bug in a stage (ExtractionBugError),
never a hang past the budget. Examples are derandomised so a failure reproduces.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from eval import evalset
from eval.markdown import to_markdown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.bounded import BoundedExtractor, Budget
from pipelines.loaded import ExtractionError

FIXTURES = Path(__file__).parent / "fixtures"
BUDGET = Budget(seconds=30, memory_mib=768)


def _file(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def _markdown() -> bytes:
    """A pandoc-style conversion with pipe tables split by a page break (tests/eval/markdown.py)."""
    return to_markdown(evalset.expected("huaian_hongze_district_2023"), page_breaks=(8,))


def _scan_png() -> bytes:
    """The scanned page as the image a portal posts instead of a PDF (100 dpi, to keep OCR short)."""
    pdf = pdfium.PdfDocument(FIXTURES / "formats" / "scan_hongze_2023_p3.pdf")
    out = io.BytesIO()
    pdf[0].render(scale=100 / 72).to_pil().save(out, format="PNG")
    return out.getvalue()


SAMPLES = {  # bytes, file name, examples (OCR and LibreOffice are seconds per document)
    "pdf": (_file(FIXTURES / "formats" / "huaian_hongze_district_2023.pdf"), "r.pdf", 10),
    "scan": (_file(FIXTURES / "formats" / "scan_hongze_2023_p3.pdf"), "scan.pdf", 3),
    "image": (_scan_png, "scan.png", 3),
    "docx": (_file(FIXTURES / "formats" / "template_2021_numbered.docx"), "r.docx", 10),
    "doc": (_file(FIXTURES / "formats" / "official_template_2021plus_blank.doc"), "r.doc", 4),
    "html": (_file(FIXTURES / "formats" / "nfra_article_zhejiang_2024_52_rendered.html"), "r.html", 10),
    "txt": (_file(FIXTURES / "corpus" / "seeds" / "000_754b2c1a6681c1c1.txt"), "r.txt", 10),
    "markdown": (_markdown, "converted.md", 10),
}


@st.composite
def mutants(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` flipped, truncated, with a run repeated or cut out (one or more of these)."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "repeat", "cut"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 4096))] * draw(st.integers(2, 50))
        else:
            del data[at:at + draw(st.integers(1, 4096))]
    return bytes(data)


@pytest.fixture(scope="module")
def extractor() -> Iterator[BoundedExtractor]:
    with BoundedExtractor(BUDGET) as bounded:
        yield bounded


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_mutated_reports_end_in_a_record_or_a_reason(fmt: str, extractor: BoundedExtractor) -> None:
    original, filename, examples = SAMPLES[fmt]

    @given(data=mutants(original()))
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(data: bytes) -> None:
        try:
            record = extractor.extract(data, filename=filename)
        except ExtractionError as exc:
            assert str(exc).strip(), "a refusal always says why"
        else:
            assert isinstance(record["values"], dict) and isinstance(record["checks"], list)

    check()
