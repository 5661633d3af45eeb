"""Crawl state in the database (both back ends): sources, batched writes, resume of a dead run."""
from __future__ import annotations

import sqlalchemy as sa

from crawler.exchange import assess
from crawler.sources import DEFAULT_FILE, load_sources_file, resolve_sources, sync_sources
from crawler.state import CrawlState, close_status
from storage.db import url_key
from storage.models import CrawlRun, Document, Fetch, FrontierEntry, Report, Source, utcnow
from storage.runs import COUNT_COLUMNS
from storage.versions import ReportCandidate


def test_shipped_sources_file_loads_and_syncs(db):
    entries = load_sources_file(DEFAULT_FILE)
    names = {e["name"] for e in entries}
    assert {"zhangshu", "xingqing", "shouxian", "fuyang-hz", "shuangyang", "pingtan", "huaian", "huaian-hongze"} <= names
    assert not any(e.get("verified") for e in entries)
    with db.session() as s:
        assert sync_sources(s, entries) == (len(entries), 0)
        assert sync_sources(s, entries) == (0, 0)
        [shouxian] = resolve_sources(s, ["shouxian"])
        assert shouxian.region == "安徽省/淮南市/寿县" and shouxian.start_urls


def test_sources_not_in_the_table_come_from_the_file(db):
    with db.session() as s:
        [src] = resolve_sources(s, ["pingtan"])
        assert src.overrides["column_urls"] and s.scalar(sa.select(sa.func.count()).select_from(Source)) == 1


def _fetch_row(url: str, status: int = 200, outcome: str = "ok") -> dict:
    return {"url": url, "fetched_at": utcnow(), "status": status, "headers": {"content-type": "text/html"},
            "content_type": "text/html", "size": 10, "sha256": "0" * 64, "outcome": outcome, "error_kind": "",
            "error": "", "warc_file": "x.warc.gz", "warc_offset": 0}


def _doc(url: str, role: str = "listing", status: int = 200) -> dict:
    return {"url": url, "url_key": url_key(url), "source_id": None, "kind": role, "content_type": "text/html",
            "etag": '"abc"', "last_modified": "", "sha256": "0" * 64, "last_status": status, "last_seen": utcnow()}


def test_batched_writes_and_resume_of_a_dead_run(db):
    urls = ["http://127.0.0.2/"]
    first = CrawlState(db, flush_rows=10_000)
    run = first.open_run(None, urls, ["127.0.0.2"])
    for n, state in enumerate(("done", "done", "pending", "pending")):
        url = f"http://127.0.0.2/p{n}.html"
        first.frontier_add(run.run_id, url, url_key(url), 1, "listing", {"role": "listing", "depth": 1})
        if state == "done":
            first.fetch(run.run_id, _fetch_row(url), _doc(url))
            first.fetch(run.run_id, _fetch_row(url), _doc(url))  # same URL twice in one batch
            first.frontier_state(run.run_id, url_key(url), "done")
    candidate = ReportCandidate(url="http://127.0.0.2/p0.html", source_url="http://127.0.0.2/p0.html", document_url=None,
                                title="某县2020年政府信息公开工作年度报告", sha256="a" * 64, report_year=2020, template="2019")
    first.report(run.run_id, None, candidate, 10)
    with db.session() as s:  # nothing written before the flush
        assert s.scalar(sa.select(sa.func.count()).select_from(FrontierEntry)) == 0
    first.flush()
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Fetch)) == 4
        assert s.scalar(sa.select(sa.func.count()).select_from(Document)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(Report)) == 1
        s.execute(sa.update(CrawlRun).values(pid=2**22 + 12345))  # the process is gone (killed)
    assert first.counts[run.run_id].reports_new == 1 and first.counts[run.run_id].pages == 4

    second = CrawlState(db)
    resumed = second.open_run(None, urls, ["127.0.0.2"])
    assert resumed.resumed_from == run.run_id
    assert sorted(e["url"] for e in resumed.pending) == ["http://127.0.0.2/p2.html", "http://127.0.0.2/p3.html"]
    assert resumed.done_keys == {url_key("http://127.0.0.2/p0.html"), url_key("http://127.0.0.2/p1.html")}
    second.report(resumed.run_id, None, candidate, 10)  # the same bytes again: no second version
    second.finish("finished")
    with db.session() as s:
        runs = s.execute(sa.select(CrawlRun).order_by(CrawlRun.id)).scalars().all()
        assert [r.status for r in runs] == ["interrupted", "finished"]
        assert runs[0].stats["resumed_by"] == runs[1].id
        counts = second.counts[resumed.run_id]
        assert counts.reports_unchanged == 1
        assert {name: getattr(runs[1], name) for name in COUNT_COLUMNS} == counts.columns()  # the row is the counts
        assert runs[1].stats["not_modified"] == counts.not_modified == 0

    third = CrawlState(db)  # a finished run is not resumed
    assert third.open_run(None, urls, ["127.0.0.2"]).resumed_from is None


def test_close_status():
    """One mapping from Scrapy's close reason to the run's status (the runs and the summary use it)."""
    assert close_status("finished") == ("finished", True)
    assert close_status("closespider_pagecount") == ("finished", False)  # a page limit proves nothing gone
    assert close_status("shutdown") == ("interrupted", False)
    assert close_status("cancelled") == ("failed", False)


def test_assess_outcomes():
    assert assess("http://a/", 200, {"content-type": "text/html"}, b"<html>ok</html>").outcome == "ok"
    assert assess("http://a/", 304, {}, b"").outcome == "not_modified"
    assert assess("http://a/", 302, {"location": "/b"}, b"").outcome == "redirect"
    gone = assess("http://a/", 404, {"content-type": "text/html"}, b"<html>404</html>")
    assert (gone.outcome, gone.error_kind) == ("error", "http_404")
    wall = assess("http://a/", 412, {"content-type": "text/html"}, b"<script>$_ts=1</script>")
    assert wall.outcome == "blocked" and "412" in wall.error
    big = assess("http://a/x.pdf", 200, {"content-length": "99999999"}, b"%PDF", role="attachment",
                 flags=("download_stopped",), cap_bytes=2**20)
    assert big.error_kind == "too_large" and "1 MB" in big.error
    cut = assess("http://a/", 200, {"content-type": "text/html"}, b"<html>", flags=("dataloss",))
    assert cut.error_kind == "truncated"
    bad = assess("http://a/x.pdf", 200, {"content-type": "application/pdf"}, b"<html>error</html>", role="attachment")
    assert bad.error_kind == "not_a_document"
    name = "年报.pdf".encode("gbk")
    good = assess("http://a/download.jsp?id=1", 200, {"content-type": "application/octet-stream"},
                  b"%PDF-1.4\n%%EOF\n", role="attachment", disposition=b'attachment; filename="' + name + b'"')
    assert (good.outcome, good.format, good.filename) == ("ok", "pdf", "年报.pdf")
