"""Versioning: new bytes -> a new version and an outbox event; same bytes -> only last_seen moves.

Also identity across URLs (redirect aliases, moved reports, replaced attachments) and
withdrawal (404/410, not listed in a complete crawl) and return from withdrawal.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage.db import Database, url_key
from storage.models import ChangeEvent, CrawlRun, Document, Report, ReportUrl, ReportVersion, Source, utcnow
from storage.versions import (
    ReportCandidate,
    find_report,
    mark_gone,
    record_report,
    record_reports,
    touch_report,
    withdraw_unseen,
)

PAGE = "http://127.0.0.1/art/2021/1/20/art_1_2.html"


def _candidate(sha: str, when_offset: int = 0, **kw: object) -> ReportCandidate:
    fields: dict = dict(
        url=PAGE, source_url="http://127.0.0.1/col/index.html",
        document_url=None, title="众兴镇2020年度政府信息公开工作年度报告", sha256=sha,
        fetched_at=utcnow() + timedelta(days=when_offset),
    )
    fields.update(kw)
    return ReportCandidate(**fields)


def _source_and_run(db: Database, started_offset: int = 0) -> tuple[int, int]:
    with db.session() as s:
        src = s.scalars(select(Source).where(Source.name == "zx")).first() or Source(name="zx")
        s.add(src)
        s.flush()
        run = CrawlRun(source_id=src.id, kind="incremental", started_at=utcnow() + timedelta(days=started_offset))
        s.add(run)
        s.flush()
        return src.id, run.id


def _events(db: Database) -> list[str]:
    with db.session() as s:
        return [e.kind for e in s.scalars(select(ChangeEvent).order_by(ChangeEvent.id))]


def _first_night(db: Database, *candidates: ReportCandidate) -> tuple[int, int]:
    """Record ``candidates`` in a first run; the source and the next night's run."""
    src, run1 = _source_and_run(db)
    with db.session() as s:
        for candidate in candidates:
            record_report(s, candidate, run_id=run1, source_id=src)
    return src, _source_and_run(db, 1)[1]


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_same_bytes_touch_new_bytes_version(db: Database) -> None:
    with db.session() as s:
        _, v1, outcome = record_report(s, _candidate("a" * 64))
        assert (outcome, v1.version) == ("new", 1)
    with db.session() as s:
        report, v, outcome = record_report(s, _candidate("a" * 64, 1))
        assert (outcome, v.version) == ("unchanged", 1)
        assert v.last_seen > v.first_seen
    with db.session() as s:
        _, v2, outcome = record_report(s, _candidate("b" * 64, 2))
        assert (outcome, v2.version) == ("changed", 2)
    with db.session() as s:
        assert [v.sha256[0] for v in s.scalars(select(ReportVersion).order_by(ReportVersion.version))] == ["a", "b"]
        revised = s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "revised")).one()
        assert revised.details["previous_version"] == 1 and revised.details["version"] == 2
    assert _events(db) == ["new", "revised"]


def test_redirect_alias_links_both_urls(db: Database) -> None:
    """The crawler passes the final URL and the one before the redirect: both find the report."""
    old = "http://127.0.0.1/old/report.html"
    with db.session() as s:
        record_report(s, _candidate("a" * 64, aliases=(old,)))
    with db.session() as s:
        assert find_report(s, old).id == find_report(s, PAGE).id
        # Next night the old URL still redirects: same report, no new row.
        _, _, outcome = record_report(s, _candidate("a" * 64, 1, url=PAGE, aliases=(old,)))
        assert outcome == "unchanged"
    assert (_count(db, Report), _count(db, ReportUrl)) == (1, 2)


def test_moved_report_is_linked_not_duplicated(db: Database) -> None:
    """Same source + agency + year at a new URL (new bytes) -> a new version of the same report."""
    src, run2 = _first_night(db, _candidate("a" * 64, agency="众兴镇人民政府", report_year=2020))
    moved = "http://127.0.0.1/xxgk/2021/report-2020.html"
    with db.session() as s:
        report, version, outcome = record_report(
            s, _candidate("b" * 64, 1, url=moved, agency="众兴镇人民政府", report_year=2020), run_id=run2, source_id=src)
        assert (outcome, version.version) == ("changed", 2)
        assert report.source_url == "http://127.0.0.1/col/index.html" and {u.url for u in report.urls} == {PAGE, moved}
        event = s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "revised")).one()
        assert event.details["new_urls"] == [moved] and event.details["matched_by"] == "agency_year"
    assert _count(db, Report) == 1


def test_moved_same_bytes_is_unchanged(db: Database) -> None:
    src, run2 = _first_night(db, _candidate("a" * 64))
    with db.session() as s:
        _, version, outcome = record_report(s, _candidate("a" * 64, 1, url=PAGE + "?moved"), run_id=run2, source_id=src)
        assert (outcome, version.version) == ("unchanged", 1)
    assert (_count(db, Report), _count(db, ReportUrl)) == (1, 2)
    assert _events(db) == ["new"]


def test_two_live_reports_of_one_year_stay_two(db: Database) -> None:
    """A PDF and its DOCX side by side in one run are not versions of each other."""
    src, run1 = _source_and_run(db)
    kw = dict(agency="众兴镇人民政府", report_year=2020, source_url=PAGE)
    with db.session() as s:
        for ext, sha in (("pdf", "a"), ("docx", "b")):
            record_report(s, _candidate(sha * 64, url=f"{PAGE}/r.{ext}", document_url=f"{PAGE}/r.{ext}", **kw),
                          run_id=run1, source_id=src)
    _, run2 = _source_and_run(db, 1)
    with db.session() as s:  # next night both again, same bytes: nothing new
        for ext, sha in (("pdf", "a"), ("docx", "b")):
            _, _, outcome = record_report(s, _candidate(sha * 64, 1, url=f"{PAGE}/r.{ext}", document_url=f"{PAGE}/r.{ext}", **kw),
                                          run_id=run2, source_id=src)
            assert outcome == "unchanged"
    assert (_count(db, Report), _count(db, ReportVersion)) == (2, 2)


def test_replaced_attachment_on_same_page_is_a_revision(db: Database) -> None:
    src, run2 = _first_night(
        db, _candidate("a" * 64, url=PAGE + "/a.pdf", document_url=PAGE + "/a.pdf", source_url=PAGE),
        # Another year's report linked straight from the same page with another title: not linked.
        _candidate("c" * 64, url=PAGE + "/c.pdf", document_url=PAGE + "/c.pdf", source_url=PAGE,
                   title="众兴镇2019年度政府信息公开工作年度报告"))
    with db.session() as s:
        revised = _candidate("b" * 64, 1, url=PAGE + "/b.pdf", document_url=PAGE + "/b.pdf", source_url=PAGE)
        _, v, outcome = record_report(s, revised, run_id=run2, source_id=src)
        assert (outcome, v.version) == ("changed", 2)
    assert _count(db, Report) == 2


def test_gone_url_withdraws_and_return_restores(db: Database) -> None:
    src, run2 = _first_night(db, _candidate("a" * 64))
    when = utcnow() + timedelta(days=1)
    with db.session() as s:
        assert mark_gone(s, "http://127.0.0.1/unknown.html", run2, 404, when) is None
        assert mark_gone(s, PAGE, run2, 500, when) is None
        report = mark_gone(s, PAGE, run2, 410, when)
        assert report.status == "withdrawn" and report.withdrawn_at == when
        assert mark_gone(s, PAGE, run2, 404, when) is None  # already withdrawn: no second event
    with db.session() as s:  # still there, with its version: nothing deleted
        report = find_report(s, PAGE)
        assert report.status == "withdrawn" and len(report.versions) == 1
    _, run3 = _source_and_run(db, 2)
    with db.session() as s:
        report, _, outcome = record_report(s, _candidate("a" * 64, 2), run_id=run3, source_id=src)
        assert (outcome, report.status, report.withdrawn_at) == ("unchanged", "current", None)
        restored = s.scalars(select(ChangeEvent).order_by(ChangeEvent.id.desc())).first()
        assert restored.kind == "revised" and restored.details["restored"] is True
    assert _events(db) == ["new", "withdrawn", "revised"]


def test_gone_url_of_a_report_seen_elsewhere_this_run_is_not_withdrawn(db: Database) -> None:
    src, run2 = _first_night(db, _candidate("a" * 64, agency="众兴镇", report_year=2020))
    with db.session() as s:
        record_report(s, _candidate("a" * 64, 1, url=PAGE + "?new"), run_id=run2, source_id=src)
        assert mark_gone(s, PAGE, run2, 404) is None
        assert find_report(s, PAGE).status == "current"


def test_withdraw_unseen_after_a_complete_crawl(db: Database) -> None:
    src, run2 = _first_night(db, *(_candidate(str(n) * 64, url=f"{PAGE}?r={n}", title=f"报告{n}") for n in range(4)))
    with db.session() as s:
        since = s.get(CrawlRun, run2).started_at
        record_report(s, _candidate("0" * 64, 1, url=f"{PAGE}?r=0", title="报告0"), run_id=run2, source_id=src)
        touch_report(s, f"{PAGE}?r=1", run_id=run2, when=utcnow() + timedelta(days=1))  # answered 304
        # answered 304 and the crawler only moved its Document row
        s.add(Document(url=f"{PAGE}?r=2", url_key=url_key(f"{PAGE}?r=2"), last_status=304,
                       last_seen=since + timedelta(seconds=1)))
        assert withdraw_unseen(s, src, run2, since) == 1
        assert find_report(s, f"{PAGE}?r=3").status == "withdrawn"
        assert find_report(s, f"{PAGE}?r=2").last_seen == since + timedelta(seconds=1)
        assert s.scalars(select(ChangeEvent).where(ChangeEvent.kind == "withdrawn")).one().details["reason"] == "not_listed"
    with db.session() as s:
        assert withdraw_unseen(s, src, run2, since) == 0  # idempotent


def test_withdraw_unseen_counts_what_a_killed_run_saw(db: Database) -> None:
    """A run that resumed a killed one does not refetch what the killed run saw: that is not 'unseen'."""
    src, killed = _first_night(db, _candidate("a" * 64))
    with db.session() as s:
        record_report(s, _candidate("a" * 64, 1), run_id=killed, source_id=src)
    _, resumed = _source_and_run(db, 2)
    with db.session() as s:
        s.get(CrawlRun, resumed).stats = {"resumed_from": killed}
        assert withdraw_unseen(s, src, resumed, s.get(CrawlRun, resumed).started_at) == 0
        assert find_report(s, PAGE).status == "current"


def test_record_reports_in_one_batch_equals_recording_them_in_turn(db: Database) -> None:
    """New reports go in together; repeats within the batch, known reports and a bad record take
    the one-by-one path, in order; the bad one is returned as its error and loses nothing else."""
    src, run = _source_and_run(db)
    url = "http://127.0.0.1/art/2021/1/20/art_1_{}.html".format
    with db.session() as s:
        record_report(s, _candidate("a" * 64, url=url("a")), run_id=run, source_id=src)
    items = [
        _candidate("b" * 64, url=url("b")),  # new
        _candidate("c" * 64, url=url("c")),  # new
        _candidate("a" * 64, 1, url=url("a")),  # known, same bytes
        _candidate("d" * 64, 2, url=url("a")),  # known, new bytes
        _candidate("e" * 64, url=url("e")),  # new ...
        _candidate("e" * 64, 1, url=url("e")),  # ... and seen again in the same batch
    ]
    with db.session() as s:
        assert record_reports(s, [(c, run, src) for c in items]) == ["new", "new", "unchanged", "changed", "new", "unchanged"]
    bad = _candidate(None, url=url("f"))  # type: ignore[arg-type]  # a version needs its sha256
    with db.session() as s:
        outcomes = record_reports(s, [(_candidate("g" * 64, url=url("g")), run, src), (bad, run, src)])
    assert outcomes[0] == "new" and isinstance(outcomes[1], Exception)
    with db.session() as s:
        versions = {(r.url.rsplit("_", 1)[1], v.version, v.sha256[0])
                    for r, v in s.execute(select(Report, ReportVersion).join(ReportVersion))}
        assert versions == {("a.html", 1, "a"), ("a.html", 2, "d"), ("b.html", 1, "b"), ("c.html", 1, "c"), ("e.html", 1, "e"),
                            ("g.html", 1, "g")}
        assert s.scalar(select(func.count()).select_from(ReportUrl)) == 5
    assert sorted(_events(db)) == ["new"] * 5 + ["revised"]
