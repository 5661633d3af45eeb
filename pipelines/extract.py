"""From the bytes of one report to its canonical record: the extraction flow.

The recipe (each stage a plain function of the previous stage's output, testable alone):

1. **load**: :func:`pipelines.document.load_document` sniffs the real format and returns
   text, tables (grids), title and page meta; OCR happens here for scans. Unreadable input
   raises :class:`~pipelines.loaded.ExtractionError`, which callers record as the reason.
2. **metadata**: :func:`pipelines.metadata.extract_metadata` finds agency, report year,
   template, publication date and region from the title, the text and the page meta.
3. **sections**: :func:`pipelines.sections.split_sections` cuts the text at the six headings.
4. **tables**: :func:`pipelines.stat_tables.extract_values` reads every cell of the three
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

from domain.schema import SECTIONS
from pipelines import metadata, provenance, sections
from pipelines.checks import run_checks
from pipelines.document import load_document
from pipelines.loaded import LoadedDocument
from pipelines.stat_tables import TableResult, extract_values

logger = logging.getLogger(__name__)

#: Recorded with every extracted version: the release and a digest of the extraction code
#: (no longer set by hand; the full list of components is the record's ``provenance``).
EXTRACTOR_VERSION = provenance.code_version()


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
    number or null} (the export's ``values``, so ``ogi extract`` and ``ogi export`` print one
    record), cells {canonical key: {"value", "raw", "unit", "derived", "ocr"}} (how each
    value was read), checks [{"rule", "ok", "detail", "cells", "expected", "found"}], ocr,
    ocr_confidence, format, warnings, extractor_version, provenance {component: version} (only
    the components that read this document, see :mod:`pipelines.provenance`).

    ``region`` is the source's configured region (``省/市/县``); ``title_hint`` and
    ``published_hint`` are what the crawler saw on the listing or article page.
    Raises :class:`pipelines.loaded.ExtractionError` when the bytes are no readable document.
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
    checks = _checks(tables, template, doc.text)
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
        "values": {key: cell["value"] for key, cell in tables.values.items()},
        "cells": tables.values,
        "checks": checks,
        "ocr": doc.ocr,
        "ocr_confidence": doc.ocr_confidence,
        "format": doc.format,
        "warnings": warnings,
        "extractor_version": EXTRACTOR_VERSION,
        "provenance": provenance.for_record(doc.format, doc.ocr),
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
    warnings = result.warnings  # what the tables lost or how a cell was placed, with the reason
    template = metadata.reconcile_template(by_year, result.template, warnings)
    return result, template, warnings


def _checks(tables: TableResult, template: str, text: str) -> list[dict[str, Any]]:
    """Stage 5: the single-report rules (R1-R7); R5 (completeness) only applies to the 2019 and
    2021 forms. The cross-year rules R8/R9 need the archive (:mod:`pipelines.worker` runs them)."""
    if not tables.values and template not in ("2019", "2021"):
        return []  # a legacy report without tables: nothing to check
    return run_checks(tables.values, template or None, tables.problems, text)
