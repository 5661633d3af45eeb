"""The shapes of the JSON API's answers, as pydantic models: the OpenAPI description
(``/openapi.json``, ``/docs``) is typed from them, and FastAPI checks every answer against them.

Field order is the order of the answer (pydantic writes fields in declaration order), and
types keep what the archive holds (``int | float`` where a sum may be either), so declaring
a model changes no byte of a response. Every error is :class:`ErrorEnvelope` (web/errors.py).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorEnvelope(BaseModel):
    """Every error under ``/api``: 400 for bad parameters, 401/403/429 for admin, 404, 500."""

    ok: Literal[False]
    error: str = Field(description="What went wrong, readable.")
    status: int = Field(description="The HTTP status again, for clients that lose it.")


#: ``responses=`` of every JSON route: any 4xx or 5xx answer is the error envelope (this also
#: replaces FastAPI's default 422 entry: validation errors are answered 400 in the envelope).
ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "Bad request, not found, or (admin) not allowed"},
    "5XX": {"model": ErrorEnvelope, "description": "The archive could not answer"},
}


class Ok(BaseModel):
    ok: Literal[True] = True


# --------------------------------------------------------------------------- /api/reports

class SearchHit(BaseModel):
    report_id: int
    version: int
    title: str
    agency: str
    region: str
    report_year: int | None
    template: str
    status: str
    published_at: str | None
    failing: list[str] = Field(description="Rules (R1-R5) this version fails.")
    ocr: bool = Field(False, description="Values read by OCR from a scan: review them against the document before citing.")
    snippet_html: str = Field(description="Matching text with <mark> around the terms, HTML-escaped.")
    url: str
    api_url: str


class SearchPage(Ok):
    total: int
    capped: bool = Field(description="True when total counts only the first hits (a very broad search).")
    page: int
    pages: int
    per_page: int
    results: list[SearchHit]


class Check(BaseModel):
    rule: str
    ok: bool | None = Field(description="None: not checked (e.g. a cross-year rule whose other year is not archived).")
    detail: str


class Cell(BaseModel):
    value: float | None
    raw: str = Field(description="The cell as printed in the report.")
    unit: str
    derived: bool
    ocr: bool = Field(False, description="Read by OCR from a scan.")
    confidence: float | None = Field(None, description="For a value read by OCR: the engine's confidence, 0-100.")


class FailedCheck(BaseModel):
    rule: str
    detail: str
    cells: list[Any]
    expected: float | None
    found: float | None


class ReportRecord(Ok):
    """One report version: the ``ogi export`` record (with ``report_id``), then what the page shows."""

    report_id: int
    source_url: str
    document_url: str | None
    title: str
    agency: str
    region: str
    report_year: int | None
    template: str
    published_at: str | None
    sha256: str
    version: int
    fetched_at: str | None
    status: str
    text: str
    sections: dict[str, str]
    values: dict[str, float | None] = Field(description="Canonical key -> number (see /api/codebook).")
    checks: list[Check]
    first_seen: str | None
    last_seen: str | None
    ocr: bool = Field(False, description="Values read by OCR from a scan: review them against the document before citing.")
    cells: dict[str, Cell]
    failed_checks: list[FailedCheck]
    versions: list[int]
    original_url: str
    cite: str


class VersionSummary(BaseModel):
    version: int
    sha256: str
    fetched_at: str
    first_seen: str
    last_seen: str
    title: str
    extraction_status: str
    content_type: str
    document_url: str | None
    source_url: str


class ReportVersions(Ok):
    report_id: int
    status: str
    versions: list[VersionSummary]


class ApplicationChart(BaseModel):
    years: list[int]
    series: dict[str, list[int | float]] = Field(description="Outcome label -> one sum per year.")


class CoverageChart(BaseModel):
    regions: list[str]
    years: list[int]
    series: dict[str, list[int]] = Field(description="Report year -> reports per region.")


class Charts(Ok):
    applications: ApplicationChart
    coverage: CoverageChart


class CodebookEntry(BaseModel):
    key: str
    label: str
    templates: list[str]
    derived: bool


class CodebookRule(BaseModel):
    rule: str
    statement: str


class Codebook(Ok):
    keys: list[CodebookEntry]
    rules: list[CodebookRule]


# --------------------------------------------------------------------------- /api/admin

class SubscriptionOut(BaseModel):
    id: int
    email: str
    filters: dict[str, Any]
    events: list[str]
    language: str
    active: bool
    token: str
    created_at: str


class Subscriptions(Ok):
    subscriptions: list[SubscriptionOut]


class SubscriptionCreated(Ok):
    subscription: SubscriptionOut


class Deactivated(Ok):
    deactivated: int


class Reindexed(Ok):
    indexed: int


class FixityProblem(BaseModel):
    kind: str
    what: str
    detail: str


class FixityAuditOut(BaseModel):
    id: int
    started_at: str
    finished_at: str | None
    sample: int | None
    ok: bool
    counts: dict[str, int]
    problems: list[FixityProblem]


class FixityAudits(Ok):
    audits: list[FixityAuditOut]


class ParkedJobOut(BaseModel):
    id: int
    task: str
    sources: list[str] = Field(description="A crawl batch's sources (empty for other jobs).")
    args: dict[str, Any]
    attempts: int
    error: str = Field(description="Why its last attempt failed.")
    failed_at: str | None


class ParkedJobs(Ok):
    queue: bool = Field(description="Whether a task queue is configured (queue_url); without one nothing is parked.")
    jobs: list[ParkedJobOut]


def file_response(media_type: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI description of a download: its real media type, not JSON."""
    return {200: {"content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}}
