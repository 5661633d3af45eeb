"""Export records: one dict per report version, and writers for JSONL, CSV and Parquet.

The record is the ``ogi export`` contract (issue 3): ``source_url``, ``document_url`` (null
for inline HTML reports), ``title``, ``agency``, ``agency_key`` and ``region_code`` (issue 15:
one key per body across years, the GB/T 2260 division code), ``region``, ``report_year``, ``template``,
``published_at``, ``sha256``, ``version``, ``fetched_at``, ``status``, ``text``,
``sections``, ``values`` (canonical key -> number or null), ``checks`` (``{rule, ok,
detail}``), plus ``first_seen`` / ``last_seen`` of the version and ``ocr``: true when the
values were read by OCR from a scan, the flag to review them against the document before
citing (as in ``ogi extract``'s record). Web exports add
``report_id`` so rows can be cited (``ids=True``).

Flat formats (CSV, Parquet: "wide", one row per version) put every canonical key of
``domain.schema.ALL_KEYS`` in a column named by the key itself (``applications.new.total``):
the keys are namespaced (active./applications./appeals.), so no column clashes with a
field. ``sections`` and ``checks`` are JSON strings in those formats. The "long" CSV has one
row per report version x key. Records are built in batches (values and checks loaded with
one query per batch; on PostgreSQL the next batch is read while this one is written),
which is what keeps a 100,000-version export within a minute.

Every CSV (``ogi export --format csv``, ``/api/export.csv`` in both layouts) goes through
:class:`SafeCsvWriter`: a text cell that a spreadsheet would run as a formula (starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return; OWASP "CSV injection") gets a leading
``'``. Numbers are never changed (nor text that is a plain number such as ``-5``, nor a lone
``-``); Parquet and JSONL keep the exact text.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import SimpleNamespace
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Row, Select, select
from sqlalchemy.orm import Session

from domain.schema import ALL_KEYS, RULES
from storage.models import CheckResult, Expectation, ExtractedValue, Report, ReportVersion
from storage.search import SearchQuery, version_ids

FIELDS = (
    "source_url", "document_url", "title", "agency", "agency_key", "region", "region_code", "report_year", "template",
    "published_at", "sha256", "version", "fetched_at", "status", "text", "sections", "values", "checks", "first_seen",
    "last_seen", "provenance", "ocr",
)
VALUE_COLUMNS = tuple(k.key for k in ALL_KEYS)
FORMATS = ("jsonl", "csv", "parquet")
BATCH = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ordered_ids(session: Session, ids: Select) -> list[int]:
    sub = ids.subquery()
    return list(session.execute(
        select(ReportVersion.id).where(ReportVersion.id.in_(select(sub.c[0]))).order_by(ReportVersion.id)
    ).scalars())


_REPORT_COLS = ("id", "source_url", "title", "agency", "agency_key", "region", "region_code", "report_year", "template",
                "status")
#: The version columns a record uses: not ``meta`` (JSON parsed per row for nothing) and the like.
_VERSION_COLS = ("id", "source_url", "document_url", "title", "agency", "region", "report_year", "template",
                 "published_at", "sha256", "version", "fetched_at", "text", "sections", "first_seen", "last_seen",
                 "provenance", "ocr")


def _as_range(ids: list[int]) -> bool:
    """Whether to select a batch as a range (its ids are nearly contiguous): an index range scan
    reads the 200 values of 1,000 versions twice as fast as 1,000 index probes. The range may
    hold other versions, which the caller drops."""
    return ids[-1] - ids[0] < 2 * len(ids)


def _in_batch(column: Any, ids: list[int]) -> Any:
    """``column IN ids``, as a range when :func:`_as_range`."""
    return column.between(ids[0], ids[-1]) if _as_range(ids) else column.in_(ids)


def _driver_rows(conn: Connection, sql: str, ids: list[int], *, binary: bool = False) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` with ``{ids}`` standing for the batch's version ids, straight from the
    driver: SQLAlchemy's row processing would double the time of a 20-million-value export."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    if _as_range(ids):
        sql, params = sql.format(ids=f"BETWEEN {mark} AND {mark}"), (ids[0], ids[-1])
    else:
        sql, params = sql.format(ids=f"IN ({', '.join([mark] * len(ids))})"), tuple(ids)
    cursor = conn.connection.cursor(binary=True) if binary else conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


#: A version's values come grouped, one row per version: PostgreSQL sends keys and values as
#: two arrays (binary), SQLite as a JSON object. Either halves the wall time and thirds the
#: Python time of one row per value, the bulk of an export's reading.
_PG_VALUES = ("SELECT version_id, array_agg(key), array_agg(value) FROM extracted_values"
              " WHERE version_id {ids} GROUP BY version_id")
_SQLITE_VALUES = ("SELECT version_id, json_group_object(key, value) FROM extracted_values"
                  " WHERE version_id {ids} GROUP BY version_id")


def _batch_values(conn: Connection, ids: list[int]) -> dict[int, dict[str, float | None]]:
    """Each version's values (key -> number or null)."""
    if conn.dialect.name == "postgresql":
        rows = _driver_rows(conn, _PG_VALUES, ids, binary=True)
        grouped = ((vid, dict(zip(keys, numbers, strict=True))) for vid, keys, numbers in rows)
    else:
        grouped = ((vid, json.loads(obj)) for vid, obj in _driver_rows(conn, _SQLITE_VALUES, ids))
    values: dict[int, dict[str, float | None]] = {i: {} for i in ids}
    for vid, got in grouped:
        if vid in values:
            values[vid] = got
    return values


def _batch_records(session: Session, ids: list[int], with_ids: bool) -> list[dict[str, Any]]:
    # Core rows, not ORM objects: at 100,000 versions x 200 values the ORM alone takes minutes.
    conn = session.connection()
    values = _batch_values(conn, ids)
    checks: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for vid, rule, ok, detail in conn.execute(
        select(CheckResult.version_id, CheckResult.rule, CheckResult.ok, CheckResult.detail)
        .where(_in_batch(CheckResult.version_id, ids)).order_by(CheckResult.id)
    ).all():
        if vid in checks:
            checks[vid].append({"rule": rule, "ok": None if ok is None else bool(ok), "detail": detail})  # None: not checked
    rt = Report.__table__
    rows = conn.execute(
        select(*(ReportVersion.__table__.c[c] for c in _VERSION_COLS), *(rt.c[c].label(f"r__{c}") for c in _REPORT_COLS))
        .join(rt, rt.c.id == ReportVersion.report_id)
        .where(_in_batch(ReportVersion.id, ids)).order_by(ReportVersion.id)
    )
    out = []
    for row in rows:
        if row.id not in values:
            continue
        report = SimpleNamespace(**{c: getattr(row, f"r__{c}") for c in _REPORT_COLS})
        out.append(record(row, report, values[row.id], checks[row.id], with_ids=with_ids))
    return out


def record(version: ReportVersion | Row, report: Report | SimpleNamespace, values: dict[str, float | None],
           checks: list[dict[str, Any]], *, with_ids: bool = False) -> dict[str, Any]:
    """The export record of one version (metadata falls back to the report's when not extracted).

    ``version`` and ``report`` are ORM objects or anything with the same attributes.
    """
    rec: dict[str, Any] = {"report_id": report.id} if with_ids else {}
    rec.update({
        "source_url": version.source_url or report.source_url,
        "document_url": version.document_url,
        "title": version.title or report.title,
        "agency": version.agency or report.agency,
        "agency_key": report.agency_key,
        "region": version.region or report.region,
        "region_code": report.region_code,
        "report_year": version.report_year if version.report_year is not None else report.report_year,
        "template": version.template or report.template,
        "published_at": version.published_at,
        "sha256": version.sha256,
        "version": version.version,
        "fetched_at": _iso(version.fetched_at),
        "status": report.status,
        "text": version.text or "",
        "sections": dict(version.sections or {}),
        "values": values,
        "checks": checks,
        "first_seen": _iso(version.first_seen),
        "last_seen": _iso(version.last_seen),
        "provenance": dict(getattr(version, "provenance", None) or {}),  # what read the document (component -> version)
        "ocr": bool(version.ocr),  # read from a scan: review before citing
    })
    return rec


def iter_records(session: Session, *, all_versions: bool = False, filters: SearchQuery | None = None,
                 with_ids: bool = False) -> Iterator[dict[str, Any]]:
    """Yield one record per report (its newest version), or per version with ``all_versions``.

    ``filters`` is a search (text and metadata filters) as the web pages take it.
    """
    ids = _ordered_ids(session, version_ids(session, filters or SearchQuery(), all_versions=all_versions))
    batches = [ids[start:start + BATCH] for start in range(0, len(ids), BATCH)]
    if session.get_bind().dialect.name == "sqlite":
        # SQLite reads in this process and releases the GIL per row: a reader thread would
        # only hand the GIL back and forth (measured slower), so batches are read in turn.
        for batch in batches:
            yield from _batch_records(session, batch, with_ids)
        return
    # PostgreSQL: the next batch is read while the caller writes this one, so the server's
    # share of the work runs beside the Python formatting rows. One thread at a time uses
    # the session.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ogi-export") as reader:
        previous = None
        for batch in batches:
            current = reader.submit(_batch_records, session, batch, with_ids)
            if previous is not None:
                yield from previous.result()
            previous = current
        if previous is not None:
            yield from previous.result()


# --------------------------------------------------------------------------- writers

def write_jsonl(records: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """One JSON object per line, UTF-8 with Chinese as is; returns the number of records."""
    n = 0
    for rec in records:
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n


def wide_columns(with_ids: bool = False) -> list[str]:
    return (["report_id"] if with_ids else []) + [f for f in FIELDS if f != "values"] + list(VALUE_COLUMNS)


def wide_row(rec: dict[str, Any], with_ids: bool = False) -> list[Any]:
    """A record as one wide row in ``wide_columns`` order: sections and checks as JSON."""
    head = [rec["report_id"]] if with_ids else []
    for name in FIELDS:
        if name in ("sections", "checks", "provenance"):
            head.append(json.dumps(rec[name], ensure_ascii=False))
        elif name != "values":
            head.append(rec[name])
    return head + list(map(rec["values"].get, VALUE_COLUMNS))


_FORMULA_START = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _formula_safe(text: str) -> str:
    """``text`` with a leading ``'`` if a spreadsheet would run it. A plain number (a raw cell
    such as ``-5``) or a single character (``-`` for "none") cannot be a formula and is kept."""
    if len(text) > 1 and text[0] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SafeCsvWriter:
    """``csv.writer`` that neutralises formulas: crawled agencies and titles are attacker text,
    and a cell like ``=HYPERLINK(...)`` runs when a researcher opens the export in a spreadsheet."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        # Only str cells: numbers (a negative count, -5.0) stay numbers. Checked inline, as
        # a wide row is some 200 cells and this runs once per exported version.
        self._writer.writerow([_formula_safe(value) if value.__class__ is str else value for value in row])


def write_csv(records: Iterable[dict[str, Any]], out: IO[str], *, with_ids: bool = False) -> int:
    """Wide CSV (one row per version); empty cell = null."""
    writer = SafeCsvWriter(out)
    writer.writerow(wide_columns(with_ids))
    n = 0
    for rec in records:
        writer.writerow(wide_row(rec, with_ids))
        n += 1
    return n


def parquet_schema(with_ids: bool = False) -> pa.Schema:
    types = {"report_year": pa.int32(), "version": pa.int32(), "report_id": pa.int64(), "ocr": pa.bool_()}
    cols = [pa.field(name, types.get(name, pa.string())) for name in wide_columns(with_ids) if name not in VALUE_COLUMNS]
    return pa.schema(cols + [pa.field(key, pa.float64()) for key in VALUE_COLUMNS])


def _arrow_table(rows: list[list[Any]], schema: pa.Schema) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema)


def write_parquet(records: Iterable[dict[str, Any]], out: Any, *, with_ids: bool = False) -> int:
    """Wide Parquet (same columns as the CSV, typed), written in row groups of ``BATCH``."""
    schema = parquet_schema(with_ids)
    n = 0

    def flush(rows: list[list[Any]]) -> None:
        writer.write_table(_arrow_table(rows, schema))

    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch: list[list[Any]] = []
        for rec in records:
            batch.append(wide_row(rec, with_ids))
            if len(batch) >= BATCH:
                flush(batch)
                n, batch = n + len(batch), []
        if batch or n == 0:
            flush(batch)
            n += len(batch)
    return n


LONG_COLUMNS = ("report_id", "version", "agency", "region", "report_year", "template", "key", "value", "raw", "unit", "derived")


def iter_long_rows(session: Session, *, filters: SearchQuery | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows of the long table: one per report version x key (newest versions of the search)."""
    ids = _ordered_ids(session, version_ids(session, filters or SearchQuery()))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start:start + BATCH]
        yield from session.connection().execute(
            select(ReportVersion.report_id, ReportVersion.version, ReportVersion.agency, ReportVersion.region,
                   ReportVersion.report_year, ReportVersion.template, ExtractedValue.key, ExtractedValue.value,
                   ExtractedValue.raw, ExtractedValue.unit, ExtractedValue.derived)
            .join(ExtractedValue, ExtractedValue.version_id == ReportVersion.id)
            .where(ReportVersion.id.in_(chunk))
            .order_by(ReportVersion.id, ExtractedValue.id)
        )


def codebook() -> list[dict[str, Any]]:
    """Every canonical key with its label, the templates printing it and whether it is derived."""
    return [
        {"key": k.key, "label": k.label, "templates": list(k.templates), "derived": k.derived}
        for k in ALL_KEYS
    ]


def codebook_rules() -> list[dict[str, str]]:
    """Every rule a record's ``checks`` can hold, with its statement (``ok`` null: not checked)."""
    return [{"rule": rule, "statement": statement} for rule, statement in RULES.items()]


def write_codebook_csv(out: IO[str]) -> None:
    writer = SafeCsvWriter(out)
    writer.writerow(("key", "label", "templates", "derived"))
    for entry in codebook():
        writer.writerow((entry["key"], entry["label"], " ".join(entry["templates"]), entry["derived"]))


# --------------------------------------------------------------------------- expectations

#: The ``expectations`` table (storage/compliance.py): one row per report a body owes for a year.
EXPECTATION_CODEBOOK = (  # (column, Parquet type, meaning)
    ("agency", pa.string(), "the body's name as its newest report prints it"),
    ("agency_key", pa.string(), "<GB/T 2260 region code>/<canonical name>: one key per body across years"),
    ("region", pa.string(), "省/市/县 of the source"),
    ("region_code", pa.string(), "GB/T 2260 division code of the body's region"),
    ("report_year", pa.int32(), "the year reported on"),
    ("kind", pa.string(), "department (deadline 31 January) or government (consolidated report, 31 March)"),
    ("deadline", pa.string(), "ISO date the report was due"),
    ("status", pa.string(), "on_time | late | missing | withdrawn | pending (inside deadline + grace)"),
    ("published_at", pa.string(), "ISO date printed on the report, else the day the archive first saw it"),
    ("days_late", pa.int32(), "days after the deadline (late only)"),
    ("report_id", pa.int64(), "the report that fulfils the expectation (null when missing)"),
)
EXPECTATION_COLUMNS = tuple(name for name, _, _ in EXPECTATION_CODEBOOK)


def expectation_rows(rows: Iterable[Expectation]) -> Iterator[list[Any]]:
    """Expectations as rows in :data:`EXPECTATION_COLUMNS` order."""
    for row in rows:
        yield [getattr(row, name) for name in EXPECTATION_COLUMNS]


def write_expectations_csv(rows: Iterable[Expectation], out: IO[str]) -> int:
    """The expectations table as CSV with a header row; returns the number of rows."""
    writer = SafeCsvWriter(out)
    writer.writerow(EXPECTATION_COLUMNS)
    n = 0
    for values in expectation_rows(rows):
        writer.writerow(values)
        n += 1
    return n


def write_expectations_parquet(rows: Iterable[Expectation], out: Any) -> int:
    """The expectations table as one typed Parquet table."""
    schema = pa.schema([pa.field(name, kind) for name, kind, _ in EXPECTATION_CODEBOOK])
    data = list(expectation_rows(rows))
    pq.write_table(_arrow_table(data, schema), out, compression="zstd")
    return len(data)


def expectations_codebook() -> list[dict[str, str]]:
    """The expectations table's columns and what they mean."""
    return [{"column": name, "type": str(kind), "meaning": meaning} for name, kind, meaning in EXPECTATION_CODEBOOK]
