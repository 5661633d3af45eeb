"""From the bytes of one report to its canonical record: the extraction flow.

The recipe (each stage a plain function of the previous stage's output, testable alone):

1. **load**: :func:`pipelines.document.load_document` sniffs the real format and returns
   text, tables (grids), title and page meta; OCR happens here for scans. Unreadable input
   raises :class:`~pipelines.document.ExtractionError`, which callers record as the reason.
2. **metadata**: :func:`pipelines.metadata.extract_metadata` finds agency, report year,
   template, publication date and region from the title, the text and the page meta.
3. **sections**: :func:`pipelines.sections.split_sections` cuts the text at the six headings.
4. **tables**: :func:`pipelines.tables.extract_values` reads every cell of the three
   statistics tables under its canonical key; the template the table's own labels show
   overrules the one the year implies (a warning says so).
5. **checks**: :func:`pipelines.checks.run_checks` applies the consistency rules R1-R5.
6. **record**: everything in one plain dict (see :func:`extract_document`).

Nothing here touches the database: :mod:`pipelines.worker` stores records,
``ogi extract FILE`` prints them.
"""
from __future__ import annotations

import logging
from typing import Any

from ogi.schema import SECTIONS
from pipelines import metadata, sections
from pipelines.checks import run_checks
from pipelines.document import LoadedDocument, load_document
from pipelines.tables import TableResult, extract_values

logger = logging.getLogger(__name__)

#: Recorded with every extracted version; bump it when a change to any stage can change a
#: record, so ``ogi reextract`` results can be told from older ones.
EXTRACTOR_VERSION = "2026.11.1"


def extract_document(
    data: bytes,
    *,
    content_type: str = "",
    filename: str = "",
    url: str = "",
    region: str = "",
    title_hint: str = "",
    published_hint: Any = None,
) -> dict[str, Any]:
    """The canonical record of one report.

    Keys: title, agency, region, report_year, template ('2019' | '2021' | 'legacy', '' when
    unknown), published_at (ISO date), text, sections {key: text}, values {canonical key:
    {"value", "raw", "unit", "derived", "ocr"}}, checks [{"rule", "ok", "detail", "cells",
    "expected", "found"}], ocr, ocr_confidence, format, warnings, extractor_version.

    ``region`` is the source's configured region (``省/市/县``); ``title_hint`` and
    ``published_hint`` are what the crawler saw on the listing or article page.
    Raises :class:`pipelines.document.ExtractionError` when the bytes are no readable document.
    """
    # 1. load
    doc = load_document(data, content_type=content_type, filename=filename, url=url)
    warnings = list(doc.warnings)
    # 2. metadata
    md = metadata.extract_metadata(
        doc.text, title=_title(title_hint, doc), meta=doc.meta, region=region, published_hint=published_hint
    )
    warnings += md.warnings
    # 3. sections
    found = sections.split_sections(doc.text)
    missing = [key for key in SECTIONS if key not in found]
    if missing and doc.text.strip():
        warnings.append("sections not found: " + ", ".join(missing))
    # 4. tables
    tables, template, template_warnings = _table_values(doc, md.template)
    warnings += template_warnings
    # 5. checks
    checks = _checks(tables, template)
    # 6. record
    return {
        "title": md.title,
        "agency": md.agency,
        "region": md.region,
        "report_year": md.report_year,
        "template": template,
        "published_at": md.published_at,
        "text": doc.text,
        "sections": found,
        "values": tables.values,
        "checks": checks,
        "ocr": doc.ocr,
        "ocr_confidence": doc.ocr_confidence,
        "format": doc.format,
        "warnings": warnings,
        "extractor_version": EXTRACTOR_VERSION,
    }


def _title(title_hint: str, doc: LoadedDocument) -> str:
    """The first candidate that names a report year: the crawler's hint (link text, often
    with a site suffix or a generic '年度报告'), the page's own title, the text's first lines."""
    candidates = [title_hint, doc.meta.get("ArticleTitle", ""), doc.title, metadata.find_title(doc.text)]
    for candidate in candidates:
        if candidate and metadata.parse_title(candidate)[1]:
            return candidate
    return next((c for c in candidates if c), "")


def _table_values(doc: LoadedDocument, by_year: str) -> tuple[TableResult, str, list[str]]:
    """Stage 4: the tables' cells, and the template their labels confirm (or overrule)."""
    result = extract_values(doc.tables, doc.text, template_hint=by_year or None, ocr=doc.ocr)
    warnings: list[str] = []
    template = metadata.reconcile_template(by_year, result.template, warnings)
    return result, template, warnings


def _checks(tables: TableResult, template: str) -> list[dict[str, Any]]:
    """Stage 5: rules R1-R5; R5 (completeness) only applies to the 2019 and 2021 forms."""
    if not tables.values and template not in ("2019", "2021"):
        return []  # a legacy report without tables: nothing to check
    return run_checks(tables.values, template or None, tables.problems)
