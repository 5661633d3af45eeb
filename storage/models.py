"""The database schema: what was crawled, what was fetched, and every version of every report.

Nothing here is ever updated in a way that loses information: a changed report is a new
``ReportVersion``; a vanished one is marked ``withdrawn``; every HTTP exchange is a ``Fetch``
row pointing into the WARC files. Crawl state that must survive ``kill -9`` (the frontier,
validators, pending extraction work) lives here too, not only in process memory, so several
crawl and extraction workers can share one PostgreSQL.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every back end (SQLite otherwise returns naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use timezone-aware UTC datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    """A portal (or a named group of start URLs) with its place in the region hierarchy."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    province: Mapped[str] = mapped_column(String(50), default="")
    city: Mapped[str] = mapped_column(String(50), default="")
    county: Mapped[str] = mapped_column(String(50), default="")
    start_urls: Mapped[list[Any]] = mapped_column(default=list)
    allowed_domains: Mapped[list[Any]] = mapped_column(default=list)
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def region(self) -> str:
        """``省/市/县`` joined with slashes, as filters and exports use it."""
        return "/".join(p for p in (self.province, self.city, self.county) if p)


class CrawlRun(Base):
    """One crawl of one source (or of ad-hoc URLs), with its outcome counts."""

    __tablename__ = "crawl_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="manual")  # manual | incremental | full
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | finished | failed | interrupted
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pid: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    bytes_downloaded: Mapped[int] = mapped_column(BigInteger, default=0)
    reports_new: Mapped[int] = mapped_column(Integer, default=0)
    reports_changed: Mapped[int] = mapped_column(Integer, default=0)
    reports_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    reports_withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)  # errors by kind, blocked hosts, alerts sent ...
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[Source | None] = relationship()


class FrontierEntry(Base):
    """A URL a run has scheduled; ``state`` moves pending -> done | error. Resume reads pending rows."""

    __tablename__ = "frontier"
    __table_args__ = (UniqueConstraint("run_id", "url_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical URL (index-friendly)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(20), default="page")  # home | listing | page | attachment | api
    state: Mapped[str] = mapped_column(String(20), default="pending")
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Document(Base):
    """A URL we have fetched, with the HTTP validators for conditional re-requests."""

    __tablename__ = "documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="page")
    content_type: Mapped[str] = mapped_column(String(200), default="")
    etag: Mapped[str] = mapped_column(String(300), default="")
    last_modified: Mapped[str] = mapped_column(String(100), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")
    last_status: Mapped[int | None] = mapped_column(Integer)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Blob(Base):
    """Original bytes, stored once under their SHA-256 (see storage.blobs)."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fetch(Base):
    """One HTTP exchange (or failed attempt), successful or not, with where it sits in the WARC files."""

    __tablename__ = "fetches"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_type: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="", index=True)
    outcome: Mapped[str] = mapped_column(String(30), default="ok")  # ok | not_modified | blocked | error | robots
    error_kind: Mapped[str] = mapped_column(String(50), default="")  # timeout | http_5xx | too_large | corrupt ...
    error: Mapped[str] = mapped_column(Text, default="")
    warc_file: Mapped[str] = mapped_column(String(300), default="")
    warc_offset: Mapped[int | None] = mapped_column(BigInteger)


class Report(Base):
    """One annual report of one body for one year, whatever URLs and versions it has had."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(Text)  # identity: the document URL, or the page URL for inline reports
    source_url: Mapped[str] = mapped_column(Text, default="")
    document_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    agency: Mapped[str] = mapped_column(String(200), default="", index=True)
    region: Mapped[str] = mapped_column(String(200), default="", index=True)
    report_year: Mapped[int | None] = mapped_column(Integer, index=True)
    region_code: Mapped[str | None] = mapped_column(String(12), index=True)  # GB/T 2260; "" unresolved (storage/agencies.py)
    agency_key: Mapped[str | None] = mapped_column(String(250), index=True)  # one body across years (storage/agencies.py)
    template: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[str] = mapped_column(String(20), default="current")  # current | withdrawn
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    versions: Mapped[list[ReportVersion]] = relationship(
        back_populates="report", order_by="ReportVersion.version", cascade="all"
    )
    urls: Mapped[list[ReportUrl]] = relationship(back_populates="report", cascade="all")


class ReportUrl(Base):
    """Every URL a report has been found at, so a moved report keeps its identity."""

    __tablename__ = "report_urls"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    url_key: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    report: Mapped[Report] = relationship(back_populates="urls")


class ReportVersion(Base):
    """The report as one set of original bytes, with what was extracted from them."""

    __tablename__ = "report_versions"
    __table_args__ = (
        UniqueConstraint("report_id", "version"),
        Index("ix_report_versions_year_region", "report_year", "region"),  # search filters (0003)
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    source_url: Mapped[str] = mapped_column(Text, default="")
    document_url: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(200), default="")
    filename: Mapped[str] = mapped_column(String(500), default="")
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    title: Mapped[str] = mapped_column(Text, default="")
    agency: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    report_year: Mapped[int | None] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(10), default="")
    published_at: Mapped[str | None] = mapped_column(String(30))  # ISO date or datetime as printed
    text: Mapped[str] = mapped_column(Text, default="")
    sections: Mapped[dict[str, Any]] = mapped_column(default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # page meta, ocr confidence, warnings ...
    ocr: Mapped[bool] = mapped_column(Boolean, default=False)
    extraction_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # pending | done | failed
    extraction_error: Mapped[str] = mapped_column(Text, default="")
    extractor_version: Mapped[str] = mapped_column(String(30), default="")
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)  # component -> version that read it (0007)
    report: Mapped[Report] = relationship(back_populates="versions")
    values: Mapped[list[ExtractedValue]] = relationship(cascade="all, delete-orphan", order_by="ExtractedValue.id")
    checks: Mapped[list[CheckResult]] = relationship(cascade="all, delete-orphan", order_by="CheckResult.id")


class ExtractedValue(Base):
    """One table cell under its canonical key: the number (or null) and the text as printed."""

    __tablename__ = "extracted_values"
    __table_args__ = (Index("ix_values_key_version", "key", "version_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("report_versions.id"), index=True)
    key: Mapped[str] = mapped_column(String(120))
    value: Mapped[float | None] = mapped_column(Float)
    raw: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    derived: Mapped[bool] = mapped_column(Boolean, default=False)
    ocr: Mapped[bool] = mapped_column(Boolean, default=False)


class CheckResult(Base):
    """One rule (domain.schema.RULES) applied to one version: kept whether it passed, failed or could not be checked."""

    __tablename__ = "checks"
    __table_args__ = (Index("ix_checks_failing", "ok", "rule", "version_id"),)  # search's "failing" filter (0003)
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("report_versions.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool | None] = mapped_column(Boolean)  # None: not checked (the detail says why; 0007)
    detail: Mapped[str] = mapped_column(Text, default="")
    cells: Mapped[list[Any]] = mapped_column(default=list)
    expected: Mapped[float | None] = mapped_column(Float)
    found: Mapped[float | None] = mapped_column(Float)


class ChangeEvent(Base):
    """The outbox: a new, revised or withdrawn report, written in the same transaction as its cause.

    A ``missing`` event of a body that never published has no report (``report_id`` None):
    its expectation, in ``details``, is what it is about."""

    __tablename__ = "change_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("report_versions.id"))
    kind: Mapped[str] = mapped_column(String(20))  # new | revised | withdrawn | missing | late (storage/compliance.py)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report: Mapped[Report | None] = relationship()


class Subscription(Base):
    """An email subscriber with filters; hears of events created after ``since_event_id``."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # region, agency, year, keyword, failing_only
    events: Mapped[list[Any]] = mapped_column(default=lambda: ["new"])
    language: Mapped[str] = mapped_column(String(5), default="zh")
    token: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    since_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Digest(Base):
    """One email to one subscriber; its Message-ID is fixed before sending so a retry is recognisable."""

    __tablename__ = "digests"
    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    # pending | sending | committing | sent | cancelled (alerts/send.py)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DigestEvent(Base):
    """Which events a digest carries; unique per subscriber so no event is mailed twice."""

    __tablename__ = "digest_events"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("change_events.id"))


class ArchiveMeta(Base):
    """A fact about the archive kept with it, e.g. ``data_dir``: where its blobs and WARC files
    are (storage/archive_meta.py)."""

    __tablename__ = "archive_meta"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AgencyCorrection(Base):
    """A manual correction of agency identity (``ogi agencies``), kept after it is undone.

    ``merge``: reports keyed ``from_key`` take ``to_key``; ``split``: report ``report_id``
    takes ``to_key``; ``link``: ``from_key`` was renamed or merged into ``to_key`` (both keys
    stay, the successor inherits the expectation). Undoing sets ``reverted_at``.
    """

    __tablename__ = "agency_corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(10))  # merge | split | link
    from_key: Mapped[str] = mapped_column(String(250))
    to_key: Mapped[str] = mapped_column(String(250))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Expectation(Base):
    """One report a body owes for one year, and whether it came (storage/compliance.py)."""

    __tablename__ = "expectations"
    __table_args__ = (UniqueConstraint("source_id", "agency_key", "report_year"),
                      Index("ix_expectations_year_region", "report_year", "region_code"))
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    agency_key: Mapped[str] = mapped_column(String(250))
    agency: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    region_code: Mapped[str] = mapped_column(String(12), default="")
    report_year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12), default="department")  # department | government
    deadline: Mapped[str] = mapped_column(String(10))  # ISO date
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending | on_time | late | missing | withdrawn
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    published_at: Mapped[str | None] = mapped_column(String(10))  # ISO date
    days_late: Mapped[int | None] = mapped_column(Integer)
    alerted: Mapped[list[Any]] = mapped_column(default=list)  # event kinds already emitted (missing, late)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FixityAudit(Base):
    """One fixity audit (storage/fixity.py): what was re-read, what did not match, where the next sample starts."""

    __tablename__ = "fixity_audits"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sample: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # blobs, versions, warc_files, warc_records
    problems: Mapped[list[Any]] = mapped_column(default=list)  # [{kind, what, detail}], the first 1,000
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)  # last blob digest and WARC file checked
