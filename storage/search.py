"""Chinese full-text search over report text, on SQLite (FTS5) and PostgreSQL (pg_trgm) alike.

Chinese has no spaces between words and researchers type short queries: a place (掌政), a
word (复议). Two indexes cover every query length:

* terms of 3+ characters use a trigram index, which finds any substring: on SQLite an FTS5
  table with ``tokenize='trigram'`` over ``report_versions.text`` (external content, kept in
  sync by SQL triggers); on PostgreSQL a ``pg_trgm`` GIN index on the same column, queried
  with ``ILIKE``. Both are always current, whoever writes the text.
* terms of 1-2 characters, which a trigram index cannot find, use a *gram* index: the set of
  distinct characters and adjacent character pairs of the text (``掌政府`` -> 掌 政 府 掌政
  政府). On SQLite an FTS5 table (unicode61 over space-separated grams, ``detail=none``,
  rowid = version id); on PostgreSQL ``text[]`` chunks with a GIN index. Grams are computed
  in Python: writers call :func:`index_version`; for writers that don't, SQL triggers queue
  every inserted or re-extracted version in ``search_queue`` and :func:`sync_index` (run by
  ``ogi serve`` at start and every 30 s, and by ``POST /api/admin/reindex``) indexes it.
  (A PostgreSQL expression index computing grams in SQL was tried: 15 ms per report to
  build and rechecked per row for common grams, so no.)

All ``search_*`` objects are created by migration 0002 through :func:`install` and are
not SQLAlchemy models; :func:`include_name` keeps Alembic's autogenerate away from them.
Every query is parameterized. See ``bench/web_perf.py`` for measured latencies.
"""
from __future__ import annotations

import html
import logging
import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

from markupsafe import Markup
from sqlalchemy import ColumnElement, Connection, Select, Text, and_, column, exists, func, literal, or_, select, table, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from storage.models import CheckResult, Report, ReportVersion

logger = logging.getLogger(__name__)

PREFIX = "search_"
#: Counting stops here: "1000+ reports" is as useful as the exact figure and keeps common
#: terms (复议 occurs in almost every report) fast.
COUNT_CAP = 1_000
SORTS = {
    "archived": "newest archived first",
    "year": "report year, newest first",
    "year_asc": "report year, oldest first",
    "agency": "agency (publisher)",
    "region": "region",
}
TRIGGERS_SQLITE = ("search_rv_insert", "search_rv_update", "search_rv_delete")

# --------------------------------------------------------------------------- schema

_SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_trigram USING fts5("
    "text, content='report_versions', content_rowid='id', tokenize='trigram')",
    # rowid = version id. Not contentless: SQLite 3.40's FTS5 cannot delete from a contentless
    # table, and a re-extracted version must lose its old grams.
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_grams USING fts5(g, detail='none')",
    "CREATE TABLE IF NOT EXISTS search_queue (version_id INTEGER PRIMARY KEY "
    "REFERENCES report_versions(id) ON DELETE CASCADE)",
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS search_rv_insert AFTER INSERT ON report_versions BEGIN "
    "INSERT INTO search_trigram(rowid, text) VALUES (new.id, new.text); "
    "INSERT OR IGNORE INTO search_queue(version_id) VALUES (new.id); END",
    "CREATE TRIGGER IF NOT EXISTS search_rv_update AFTER UPDATE OF text ON report_versions BEGIN "
    "INSERT INTO search_trigram(search_trigram, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO search_trigram(rowid, text) VALUES (new.id, new.text); "
    "INSERT OR IGNORE INTO search_queue(version_id) VALUES (new.id); END",
    "CREATE TRIGGER IF NOT EXISTS search_rv_delete AFTER DELETE ON report_versions BEGIN "
    "INSERT INTO search_trigram(search_trigram, rowid, text) VALUES ('delete', old.id, old.text); "
    "DELETE FROM search_grams WHERE rowid = old.id; END",
)
_PG_DDL = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS search_trgm_text ON report_versions USING gin (text gin_trgm_ops)",
    # A version's grams in chunks of GRAM_CHUNK, each small enough to stay in the heap row: one
    # big array would live out of line (TOAST), which the planner does not cost, and it then
    # prefers reading every array to using the GIN index (measured: 150x slower).
    "CREATE TABLE IF NOT EXISTS search_grams (version_id INTEGER NOT NULL "
    "REFERENCES report_versions(id) ON DELETE CASCADE, chunk SMALLINT NOT NULL, grams TEXT[] NOT NULL, "
    "PRIMARY KEY (version_id, chunk))",
    "CREATE INDEX IF NOT EXISTS search_grams_gin ON search_grams USING gin (grams)",
    "CREATE TABLE IF NOT EXISTS search_queue (version_id INTEGER PRIMARY KEY "
    "REFERENCES report_versions(id) ON DELETE CASCADE)",
    "CREATE OR REPLACE FUNCTION search_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO search_queue(version_id) VALUES (NEW.id) ON CONFLICT DO NOTHING; RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS search_rv_enqueue ON report_versions",
    "CREATE TRIGGER search_rv_enqueue AFTER INSERT OR UPDATE OF text ON report_versions "
    "FOR EACH ROW EXECUTE FUNCTION search_enqueue()",
)
GRAM_CHUNK = 150


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic filter: the search objects are managed here, not by the models."""
    return not (name or "").startswith(PREFIX)


def install(conn: Connection) -> None:
    """Create the search tables, indexes and triggers, and queue every existing version."""
    sqlite = conn.dialect.name == "sqlite"
    for ddl in (_SQLITE_DDL + _SQLITE_TRIGGERS) if sqlite else _PG_DDL:
        conn.exec_driver_sql(ddl)
    if sqlite:
        conn.exec_driver_sql("INSERT INTO search_trigram(search_trigram) VALUES ('rebuild')")
    conn.exec_driver_sql("INSERT INTO search_queue(version_id) SELECT id FROM report_versions")


def uninstall(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name in TRIGGERS_SQLITE:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        for table in ("search_trigram", "search_grams", "search_queue"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        return
    for ddl in (
        "DROP TRIGGER IF EXISTS search_rv_enqueue ON report_versions",
        "DROP FUNCTION IF EXISTS search_enqueue()",
        "DROP TABLE IF EXISTS search_queue",
        "DROP TABLE IF EXISTS search_grams",
        "DROP INDEX IF EXISTS search_trgm_text",
    ):
        conn.exec_driver_sql(ddl)


def _repair_sqlite_triggers(conn: Connection) -> bool:
    """Re-create triggers lost when a batch migration rebuilt ``report_versions``; True if any were."""
    present = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")}
    if present.issuperset(TRIGGERS_SQLITE):
        return False
    logger.warning("search triggers missing (table rebuilt by a migration?): re-creating and rebuilding")
    for ddl in _SQLITE_TRIGGERS:
        conn.exec_driver_sql(ddl)
    conn.exec_driver_sql("INSERT INTO search_trigram(search_trigram) VALUES ('rebuild')")
    conn.exec_driver_sql("INSERT OR IGNORE INTO search_queue(version_id) SELECT id FROM report_versions")
    return True


# --------------------------------------------------------------------------- indexing

def normalize(text_: str) -> str:
    """NFKC and lower case, as both gram indexes and queries see text."""
    return unicodedata.normalize("NFKC", text_ or "").lower()


_WORD_RUN = re.compile(r"[^\W_]+")  # letters and digits (what str.isalnum() accepts), no punctuation


def grams(text_: str) -> set[str]:
    """Distinct characters and adjacent pairs of letters/digits (punctuation breaks pairs)."""
    out: set[str] = set()
    for run in _WORD_RUN.findall(normalize(text_)):
        out.update(run)
        out.update(map("".join, pairwise(run)))
    return out


def _write_grams(session: Session, docs: list[tuple[int, str]]) -> None:
    """(Re)index the grams of ``docs`` [(version id, text)] and take them off the queue."""
    if not docs:
        return
    conn = session.connection()
    ids = [{"v": vid} for vid, _ in docs]
    if conn.dialect.name == "sqlite":
        conn.execute(text("DELETE FROM search_grams WHERE rowid = :v"), ids)
        conn.execute(text("INSERT INTO search_grams(rowid, g) VALUES (:v, :g)"),
                     [{"v": vid, "g": " ".join(sorted(grams(body)))} for vid, body in docs])
    else:
        # One gram writer at a time (the web server's sync and an extraction worker may meet on a
        # version): delete-then-insert would otherwise race on the (version_id, chunk) key.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('ogi.search_grams'))"))
        conn.execute(text("DELETE FROM search_grams WHERE version_id = :v"), ids)
        rows = []
        for vid, body in docs:
            gs = sorted(grams(body))
            rows += [{"v": vid, "c": n, "g": gs[i:i + GRAM_CHUNK]} for n, i in enumerate(range(0, len(gs), GRAM_CHUNK))]
        if rows:
            conn.execute(text("INSERT INTO search_grams(version_id, chunk, grams) VALUES (:v, :c, :g)"), rows)
    conn.execute(text("DELETE FROM search_queue WHERE version_id = :v"), ids)


def index_version(session: Session, version: ReportVersion) -> None:
    """Index ``version``'s current text now (call after filling ``ReportVersion.text``)."""
    session.flush()
    _write_grams(session, [(version.id, version.text or "")])


def sync_index(session: Session, *, batch: int = 500) -> int:
    """Index every queued version (and repair SQLite triggers); return how many were indexed."""
    if session.get_bind().dialect.name == "sqlite":
        _repair_sqlite_triggers(session.connection())
    done = 0
    while True:
        rows = session.execute(
            select(ReportVersion.id, ReportVersion.text)
            .where(ReportVersion.id.in_(text("SELECT version_id FROM search_queue").columns(ReportVersion.id)))
            .order_by(ReportVersion.id).limit(batch)
        ).all()
        _write_grams(session, [(vid, body or "") for vid, body in rows])
        done += len(rows)
        if len(rows) < batch:
            break
    if done:
        logger.info("search index: %(n)d versions indexed", {"n": done})
    return done


#: Leaf pages merged per FTS5 table per call of :func:`compact_index` (~0.4 s of work).
MERGE_PAGES = 2000


def compact_index(session: Session, *, pages: int = MERGE_PAGES) -> bool:
    """Merge a little of the SQLite FTS5 indexes' segments; return True while work remains.

    Why: every small write (a night's extractions, each sync) adds an FTS5 segment and a
    search reads every segment. At 100,000 versions in ~10 segments, looking up one version
    for a 2-character term took 100-800 us, merged into one segment 30 us; a year/region
    filtered search went from ~140 to ~120 ms. ``'optimize'`` merges in one go but holds the
    write lock for ~15 s at that size, so ``ogi serve`` calls this on each sync tick instead:
    a bounded ``'merge'`` with a negative page count is FTS5's incremental optimize, done
    when it changes fewer than two rows. PostgreSQL's GIN indexes need nothing here.
    """
    if session.get_bind().dialect.name != "sqlite":
        return False
    raw = session.connection().connection.driver_connection
    remaining = False
    for name in _FTS:
        before = raw.total_changes
        session.execute(text(f"INSERT INTO {name}({name}, rank) VALUES ('merge', :pages)"), {"pages": -pages})
        remaining |= raw.total_changes - before >= 2
    return remaining


# --------------------------------------------------------------------------- querying

@dataclass
class SearchQuery:
    """A search as the page and the API take it (all filters optional)."""

    q: str = ""
    region: str = ""  # 省 / 省/市 / 省/市/县: a prefix of the region hierarchy
    year: int | None = None
    agency: str = ""
    template: str = ""
    failing: str = ""  # "" | "any" | a rule id such as R1-balance
    ocr: str = ""  # "" | "yes": values read by OCR from a scan (to review) | "no": born-digital only
    sort: str = "archived"
    page: int = 1
    per_page: int = 20

    def terms(self) -> list[str]:
        return [t for t in re.split(r"\s+", self.q.strip()) if t]

    def params(self, **changes: Any) -> dict[str, Any]:
        """The non-empty fields as query-string parameters (for links to other pages)."""
        data = {k: v for k, v in vars(replace(self, **changes)).items() if v not in ("", None)}
        data.pop("per_page", None)
        if data.get("page") == 1:
            data.pop("page")
        if data.get("sort") == "archived":
            data.pop("sort")
        return data


@dataclass
class Hit:
    report_id: int
    version_id: int
    version: int
    title: str
    agency: str
    region: str
    report_year: int | None
    template: str
    published_at: str | None
    status: str
    snippet: Markup
    failing: list[str] = field(default_factory=list)
    ocr: bool = False  # values read by OCR: review them against the document


@dataclass
class SearchResult:
    query: SearchQuery
    hits: list[Hit]
    total: int
    capped: bool

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_FTS = {name: table(name, column("rowid"), column(name)) for name in ("search_trigram", "search_grams")}


def _gram(term: str) -> str | None:
    """The gram a 1-2 character term is indexed under; None if it holds punctuation or symbols."""
    norm = normalize(term)
    return norm if _WORD_RUN.fullmatch(norm) else None


def _fts_for(term: str) -> tuple[str, str] | None:
    """SQLite: (FTS table, MATCH expression) that finds ``term``, or None (no index applies)."""
    if len(term) >= 3:
        return "search_trigram", _fts_phrase(term)
    gram = _gram(term)
    return ("search_grams", _fts_phrase(gram)) if gram else None


def _term_condition(dialect: str, term: str) -> ColumnElement[bool]:
    """The condition "this version's text contains ``term``", using the right index."""
    if dialect == "sqlite":
        fts = _fts_for(term)
        if fts is None:  # punctuation or symbols only: no index, so scan (rare, and still correct)
            return ReportVersion.text.contains(term, autoescape=True)
        name, match = fts
        t = _FTS[name]
        return ReportVersion.id.in_(select(t.c.rowid).where(t.c[name].op("MATCH")(match)))
    if len(term) >= 3:
        pattern = f"%{_like_escape(term)}%"
        if term.lower() == term.upper():  # nothing to fold (Chinese, digits): LIKE, 5x cheaper a row
            return ReportVersion.text.like(pattern, escape="\\")
        return ReportVersion.text.ilike(pattern, escape="\\")
    gram = _gram(term)
    if gram is None:
        return ReportVersion.text.contains(term, autoescape=True)
    # EXISTS lets the planner choose: the GIN index for a rare gram, or walking versions
    # newest-first and probing their chunks for a common one.
    g = table("search_grams", column("version_id"), column("grams"))
    return exists().where(g.c.version_id == ReportVersion.id, g.c.grams.op("@>")(literal([gram], ARRAY(Text))))


def latest_only(stmt: Select) -> Select:
    """Restrict a select over ReportVersion to each report's newest version."""
    newer = aliased(ReportVersion)
    return stmt.where(~exists().where(newer.report_id == ReportVersion.report_id, newer.version > ReportVersion.version))


def _matching(dialect: str, query: SearchQuery, *columns: Any, all_versions: bool = False) -> tuple[Select, Any]:
    """select(columns) of the matching versions, and the column to order by for "newest first".

    On SQLite the first term's FTS table drives the join, so the default order (newest
    first = FTS rowid descending) is read straight off the index and a page stops early
    even when nearly every report matches.
    """
    terms = query.terms()
    stmt, newest = select(*columns), ReportVersion.id
    fts = _fts_for(terms[0]) if dialect == "sqlite" and terms else None
    if fts is not None:
        name, match = fts
        t = _FTS[name]
        stmt = stmt.select_from(t.join(ReportVersion, ReportVersion.id == t.c.rowid)).where(t.c[name].op("MATCH")(match))
        terms, newest = terms[1:], t.c.rowid
    for term in terms:
        stmt = stmt.where(_term_condition(dialect, term))
    stmt = _filters(stmt, query)
    return (stmt if all_versions else latest_only(stmt)), newest


def division_prefix(code: str) -> str:
    """The prefix shared by a division and everything below it: GB/T 2260 codes pad a province
    (34) or city (3404) with zeros, so 340000 matches 34xxxx and 340400 matches 3404xx."""
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def _filters(stmt: Select, query: SearchQuery) -> Select:
    if query.region and query.region.strip().isascii() and query.region.strip().isdigit():
        stmt = stmt.where(exists().where(Report.id == ReportVersion.report_id,
                                         Report.region_code.like(f"{division_prefix(query.region.strip())}%")))
    elif query.region:
        region = query.region.strip("/")
        below = ReportVersion.region.like(f"{_like_escape(region)}/%", escape="\\")
        stmt = stmt.where(or_(ReportVersion.region == region, below))
    if query.year:
        stmt = stmt.where(ReportVersion.report_year == query.year)
    if query.agency:
        stmt = stmt.where(ReportVersion.agency.like(f"%{_like_escape(query.agency)}%", escape="\\"))
    if query.template:
        stmt = stmt.where(ReportVersion.template == query.template)
    if query.failing:
        cond = and_(CheckResult.version_id == ReportVersion.id, CheckResult.ok.is_(False))
        if query.failing != "any":
            cond = and_(cond, CheckResult.rule == query.failing)
        stmt = stmt.where(exists().where(cond))
    if query.ocr:
        stmt = stmt.where(ReportVersion.ocr.is_(query.ocr == "yes"))
    return stmt


def _pg_planner(session: Session, **settings: str) -> str:
    """On PostgreSQL, set planner knobs for the rest of the transaction; return the dialect.

    Measured on the synthetic archive (bench/web_perf.py), each fixes one bad plan:

    * ``plan_cache_mode=force_custom_plan``: psycopg prepares a statement run 5 times and
      PostgreSQL may then reuse a generic plan, which cannot use the trigram index for
      ``ILIKE $1`` (1 ms -> 300 ms).
    * ``enable_bitmapscan=off, enable_seqscan=off`` (only for 3+ character terms matching
      over COUNT_CAP versions): the planner thinks a long pattern is rare, rechecks every
      match and sorts; walking the versions newest-first and stopping at one page is what a
      common term needs (290 ms -> 5 ms on 5,000 versions).
    * ``max_parallel_workers_per_gather=0, jit=off``: workers and JIT compilation cost more
      than they save on queries that stop after COUNT_CAP rows (a common 2-character term on
      100,000 versions and 2 CPUs: 45-115 ms with workers, 28 ms without).
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        for name, value in settings.items():
            session.execute(text(f"SELECT set_config('{name}', :v, true)"), {"v": value})
    return dialect


def version_ids(session: Session, query: SearchQuery, *, all_versions: bool = False) -> Select:
    """A select of the matching ReportVersion ids (no paging): what exports of a search use."""
    return _matching(_pg_planner(session, plan_cache_mode="force_custom_plan"), query, ReportVersion.id,
                     all_versions=all_versions)[0]


def _order(sort: str, newest_col: Any) -> list[Any]:
    newest = newest_col.desc()
    return {
        "year": [ReportVersion.report_year.desc().nulls_last(), newest],
        "year_asc": [ReportVersion.report_year.asc().nulls_last(), newest],
        "agency": [ReportVersion.agency, newest],
        "region": [ReportVersion.region, ReportVersion.agency, newest],
    }.get(sort, [newest])


def _years(session: Session, *, descending: bool) -> list[int]:
    """The distinct report years, one index probe each (a DISTINCT would read the whole index)."""
    years: list[int] = []
    pick, beyond = (func.max, operator.lt) if descending else (func.min, operator.gt)
    while True:
        stmt = select(pick(ReportVersion.report_year))
        if years:
            stmt = stmt.where(beyond(ReportVersion.report_year, years[-1]))
        year = session.execute(stmt).scalar()
        if year is None:
            return years
        years.append(year)


def _page_by_year(session: Session, ids: Select, newest: Any, query: SearchQuery, offset: int) -> list[int]:
    """A page of a year sort over more than COUNT_CAP matches, taken year by year.

    Sorting every match by year reads them all (100-300 ms for a common term on 100,000
    versions); within one year the newest-first order is the cheap one, so the years are
    walked in order (then the unknown year) until the page is full.
    """
    want, out = offset + query.per_page, []
    for year in [*_years(session, descending=query.sort == "year"), None]:
        same = ReportVersion.report_year.is_(None) if year is None else ReportVersion.report_year == year
        out += session.execute(ids.where(same).order_by(newest.desc()).limit(want - len(out))).scalars()
        if len(out) >= want:
            break
    return out[offset:want]


def search(session: Session, query: SearchQuery) -> SearchResult:
    """Run a search: one hit per report (its newest version), a page of them, with snippets."""
    dialect = _pg_planner(session, plan_cache_mode="force_custom_plan", max_parallel_workers_per_gather="0", jit="off")
    ids, newest = _matching(dialect, query, ReportVersion.id)
    found = list(session.execute(ids.limit(COUNT_CAP + 1)).scalars())
    total = len(found)
    if total <= COUNT_CAP:
        # A few matches: sort and page those ids. Planners misjudge rare terms (PostgreSQL
        # walked 480,000 gram rows newest-first to find none: 4 s instead of 6 ms).
        ids, newest = select(ReportVersion.id).where(ReportVersion.id.in_(found)), ReportVersion.id
    elif query.sort == "archived" and query.terms() and len(query.terms()[0]) >= 3:
        _pg_planner(session, enable_bitmapscan="off", enable_seqscan="off")
    page = max(1, query.page)
    offset = (page - 1) * query.per_page
    if not total:
        wanted = []
    elif total > COUNT_CAP and query.sort in ("year", "year_asc"):
        wanted = _page_by_year(session, ids, newest, query, offset)
    else:
        wanted = list(session.execute(
            ids.order_by(*_order(query.sort, newest)).offset(offset).limit(query.per_page)).scalars())
    rows = {v.id: (v, status) for v, status in session.execute(
        select(ReportVersion, Report.status).join(Report, Report.id == ReportVersion.report_id)
        .where(ReportVersion.id.in_(wanted)))}
    _pg_planner(session, enable_bitmapscan="on", enable_seqscan="on")
    failing = failing_rules(session, wanted)
    terms = query.terms()
    hits = [
        Hit(v.report_id, v.id, v.version, v.title, v.agency, v.region, v.report_year, v.template,
            v.published_at, status, snippet(v.text or "", terms), failing.get(v.id, []), bool(v.ocr))
        for v, status in (rows[i] for i in wanted)
    ]
    return SearchResult(query, hits, min(total, COUNT_CAP), total > COUNT_CAP)


def failing_rules(session: Session, version_ids_: Sequence[int]) -> dict[int, list[str]]:
    """version id -> the rules it fails (sorted, distinct)."""
    out: dict[int, set[str]] = {}
    if version_ids_:
        for vid, rule in session.execute(
            select(CheckResult.version_id, CheckResult.rule).where(
                CheckResult.version_id.in_(list(version_ids_)), CheckResult.ok.is_(False))
        ):
            out.setdefault(vid, set()).add(rule)
    return {k: sorted(v) for k, v in out.items()}


def snippet(body: str, terms: Iterable[str], width: int = 60) -> Markup:
    """An escaped excerpt around the first match, every match wrapped in ``<mark>``."""
    terms = [t for t in terms if t]
    folded = body.lower()
    starts = [p for p in (folded.find(t.lower()) for t in terms) if p >= 0]
    at = min(starts) if starts else 0
    lo, hi = max(0, at - width), min(len(body), at + width * 2)
    excerpt = re.sub(r"\s+", " ", body[lo:hi])
    if not terms:
        return Markup(html.escape(excerpt) + ("…" if hi < len(body) else ""))
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    out, pos = [], 0
    for m in pattern.finditer(excerpt):
        out += [html.escape(excerpt[pos:m.start()]), "<mark>", html.escape(m.group()), "</mark>"]
        pos = m.end()
    out.append(html.escape(excerpt[pos:]))
    return Markup(("…" if lo else "") + "".join(out) + ("…" if hi < len(body) else ""))
