"""Hostile answers to the crawler: decompression bombs, bodies of unknown length, file names
with control characters, pages with 100,000 links.

Each crawl is a real ``ogi crawl`` in a subprocess (Twisted's reactor runs once per process)
against a real HTTP server on 127.0.0.1 that frames its answers as told (Content-Length,
chunked, or close-delimited), so the Twisted/Scrapy code paths are the ones a portal hits.
The crawl's peak memory is read from the kernel (``wait4``) for that one child process.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urljoin

import brotli
import pytest
import sqlalchemy as sa
from backports import zstd
from warcio.archiveiterator import ArchiveIterator

from crawler.attachments import attachment_filename, filename_from_disposition
from crawler.discovery import HUB, PAGINATION, REPORT, Link, Scored, _joiner, best_links
from crawler.exchange import assess
from storage.db import Database
from storage.models import Blob, CrawlRun, Fetch, FrontierEntry, Report, ReportVersion
from tests.rss import measured, peak_mb

MB = 2**20
CAP_MB = 5
FAST = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        "-s", "LOG_LEVEL=WARNING", "-s", f"OGI_MAX_DOWNLOAD_MB={CAP_MB}", "-s", "DOWNLOAD_TIMEOUT=5",
        "-s", "RETRY_TIMES=0"]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def report_html(title: str) -> bytes:
    return (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>一、总体情况</p><p>本年度政府信息公开工作正常开展。</p></body></html>").encode()


def listing_html(links: list[tuple[str, str]]) -> bytes:
    items = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
    head = "<head><meta charset='utf-8'><title>政府信息公开年报</title></head>"
    return f"<html>{head}<body><ul>{items}</ul></body></html>".encode()


# -- a server that frames its answers as told ----------------------------------------------------


@dataclass(frozen=True)
class Route:
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    framing: str = "length"  # length | chunked | close
    delay: float = 0  # seconds before answering


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path, Route(b"not found", framing="length"))
        self.server.hits.append(self.path)
        time.sleep(route.delay)
        try:
            self._send(404 if self.path not in self.server.routes else 200, route)
        except (BrokenPipeError, ConnectionResetError):  # the crawler stopped reading (size cap)
            self.close_connection = True

    def _send(self, status: int, route: Route) -> None:
        self.send_response(status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.framing == "length":
            self.send_header("Content-Length", str(len(route.body)))
        elif route.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for start in range(0, len(route.body), 64 * 1024):
            piece = route.body[start:start + 64 * 1024]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if route.framing == "chunked" else piece)
        if route.framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's parameter name; quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server()
    srv.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow:\n", {"Content-Type": "text/plain"})
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """These defects are in the crawler, not the database: SQLite only keeps the tests fast."""
    return f"sqlite:///{tmp_path / 'ogi.sqlite3'}"


@dataclass
class Crawl:
    summary: dict
    stderr: str
    maxrss_mb: float
    seconds: float


def crawl(url: str, db_url: str, data_dir: Path, *extra: str, timeout: float = 90) -> Crawl:
    """``ogi crawl URL`` in a child process; its summary, log and peak RSS (tests/rss.py)."""
    rss = data_dir / "crawl.maxrss"
    cmd = measured([sys.executable, "-m", "ogi", "crawl", url, "--db", db_url, "--json", "--no-extract", *FAST, *extra], rss)
    env = {**os.environ, "OGI_DATA_DIR": str(data_dir)}
    out, err = data_dir / "crawl.out", data_dir / "crawl.err"
    started = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr)
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    try:
        returncode = proc.wait()
    finally:
        killer.cancel()
    log = err.read_text("utf-8", "replace")
    assert returncode == 0, log[-3000:]
    return Crawl(json.loads(out.read_text("utf-8")), log, peak_mb(rss), time.monotonic() - started)


def rows(db_url: str, model: type) -> list:
    db = Database(db_url)
    try:
        with db.session() as s:
            return list(s.execute(sa.select(model)).scalars())
    finally:
        db.dispose()


def last_fetch(db_url: str, url: str) -> Fetch:
    return [f for f in rows(db_url, Fetch) if f.url == url][-1]


def assert_no_traceback(log: str) -> None:
    assert "Traceback" not in log and "Error caught on signal handler" not in log, log[-3000:]


# -- 1. decompression bombs ------------------------------------------------------------------------


def _zeros(compressor_chunk, total_mb: int) -> bytes:
    """``total_mb`` MB of zeros compressed a megabyte at a time (the bomb never exists unpacked)."""
    chunk = bytes(MB)
    return b"".join(compressor_chunk(chunk) for _ in range(total_mb))


def gzip_bomb(total_mb: int, wbits: int = 31) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return _zeros(c.compress, total_mb) + c.flush()


def brotli_bomb(total_mb: int) -> bytes:
    c = brotli.Compressor(quality=5)
    return _zeros(c.process, total_mb) + c.finish()


def zstd_bomb(total_mb: int) -> bytes:
    c = zstd.ZstdCompressor()
    return _zeros(c.compress, total_mb) + c.flush()


def test_inflated_body_over_the_cap_is_too_large():
    result = assess("http://a/r.html", 200, {"content-type": "text/html", "content-encoding": "gzip"}, b"\x1f\x8b" * 10,
                    cap_bytes=5 * MB, inflated=5 * MB + 1)
    assert (result.outcome, result.error_kind) == ("error", "too_large")
    assert "gzip" in result.error and "5 MB" in result.error and "20 bytes received" in result.error


def test_close_delimited_bodies_are_whole_and_short_ones_truncated():
    """A body without Content-Length ends when the server closes (Twisted flags it 'partial');
    fewer bytes than announced ('dataloss') is a truncation."""
    headers = {"content-type": "text/html", "content-length": "900"}
    assert assess("http://a/r.html", 200, {"content-type": "text/html"}, b"<html>", flags=("partial",)).outcome == "ok"
    assert assess("http://a/r.html", 200, headers, b"<html>", flags=("dataloss",)).error_kind == "truncated"


def test_decompression_bombs_are_capped_and_the_crawl_goes_on(server, sqlite_url, tmp_path):
    bombs = {
        "gzip": (gzip_bomb(200), "2022"),  # 200 MB unpacked from ~200 KB
        "deflate": (gzip_bomb(32, wbits=15), "2021"),
        "br": (brotli_bomb(64), "2020"),
        "zstd": (zstd_bomb(64), "2019"),
    }
    links = [("/bombs/ok.html", "清源县2023年政府信息公开工作年度报告")]
    server.routes["/bombs/ok.html"] = Route(report_html(links[0][1]))
    for encoding, (body, year) in bombs.items():
        path = f"/bombs/{encoding}.html"
        links.append((path, f"清源县{encoding}局{year}年政府信息公开工作年度报告"))
        server.routes[path] = Route(body, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": encoding})
    server.routes["/bombs/"] = Route(listing_html(links))

    result = crawl(server.url("/bombs/"), sqlite_url, tmp_path)

    assert result.summary["reports_new"] == 1, result.summary
    reports = rows(sqlite_url, Report)
    assert [r.url for r in reports] == [server.url("/bombs/ok.html")]
    for encoding, (body, _) in bombs.items():
        fetch = last_fetch(sqlite_url, server.url(f"/bombs/{encoding}.html"))
        assert (fetch.outcome, fetch.error_kind) == ("error", "too_large"), (encoding, fetch.error)
        assert f"{CAP_MB} MB" in fetch.error and encoding in fetch.error, fetch.error
        assert fetch.size == len(body) and fetch.warc_file, encoding  # what was received is archived
    assert all(b.size <= CAP_MB * MB for b in rows(sqlite_url, Blob))
    assert len(rows(sqlite_url, ReportVersion)) == 1
    # the 200 MB gzip bomb must never be inflated whole: a Python + Scrapy crawl is ~150 MB
    assert result.maxrss_mb < 260, result.maxrss_mb
    assert result.summary["errors_by_kind"] == {"too_large": 4}


# -- 2. bodies without Content-Length -----------------------------------------------------------------


def test_bodies_of_unknown_length_are_capped_without_a_traceback(server, sqlite_url, tmp_path):
    big = b"<html><body>" + b"<p>x</p>" * (CAP_MB * MB // 8 + 1000) + b"</body></html>"
    links = []
    for framing in ("chunked", "close"):
        small, large = f"/framing/{framing}.html", f"/framing/{framing}-big.html"
        title = f"清源县{framing}局2023年政府信息公开工作年度报告"
        links += [(small, title), (large, f"清源县{framing}大局2022年政府信息公开工作年度报告")]
        server.routes[small] = Route(report_html(title), framing=framing)
        server.routes[large] = Route(big, framing=framing)
    server.routes["/framing/"] = Route(listing_html(links), framing="chunked")

    result = crawl(server.url("/framing/"), sqlite_url, tmp_path)

    assert_no_traceback(result.stderr)
    assert result.summary["reports_new"] == 2, result.summary
    for framing in ("chunked", "close"):
        assert last_fetch(sqlite_url, server.url(f"/framing/{framing}.html")).outcome == "ok"
        fetch = last_fetch(sqlite_url, server.url(f"/framing/{framing}-big.html"))
        assert (fetch.outcome, fetch.error_kind) == ("error", "too_large"), (framing, fetch.error)
        assert "Content-Length unknown" in fetch.error and fetch.size <= CAP_MB * MB + 64 * 1024, fetch.error


# -- 3. file names with control characters ----------------------------------------------------------------

NAME = "清源县2023年政府信息公开工作年度报告.pdf"


@pytest.mark.parametrize("header, expected", [
    (f"attachment; filename*=UTF-8''{quote('清源县2023年政府信息公开工作年度报告' + chr(13) + chr(10) + '.pdf')}", NAME),
    ("attachment; filename*=UTF-8''" + quote("\x00清源县\x1b2023年\x7f政府信息公开\x85工作\u2028年度\u2029报告\u202e.pdf"), NAME),
    ("attachment; filename=\"%2E%2E%2F%2E%2E%2F..\\\\" + quote(NAME) + '"', NAME),
    ("attachment; filename=\"=?UTF-8?B?Li5cLi5cDQoucGRm?=\"", "pdf"),  # ..\..\<CR><LF>.pdf: only 'pdf' is left
    ("attachment; filename=\"\r\n\t \"", ""),
])
def test_disposition_names_lose_controls_separators_and_leading_dots(header, expected):
    assert filename_from_disposition(header) == expected


def test_url_names_are_cleaned_too():
    assert attachment_filename("http://a/files/%0D%0A..%E5%B9%B4%E6%8A%A5%0A.pdf", None) == "年报.pdf"
    assert attachment_filename("http://a/files/%0D%0A.pdf", "attachment; filename*=UTF-8''%0D%0A") == "pdf"


def test_overlong_names_are_cut_keeping_the_extension():
    name = filename_from_disposition("attachment; filename*=UTF-8''" + quote("年" * 400 + ".pdf"))
    assert len(name) <= 200 and name.endswith("年.pdf")


def test_stored_attachment_filename_is_clean(server, sqlite_url, tmp_path):
    dirty = quote("..\\" + "清源县2023年政府信息公开工作年度报告" + "\r\n\x85\u2028.pdf")
    server.routes["/files/report.pdf"] = Route(PDF, {"Content-Type": "application/pdf",
                                                     "Content-Disposition": f"attachment; filename*=UTF-8''{dirty}"})
    server.routes["/files/"] = Route(listing_html([("/files/report.pdf", "清源县2023年政府信息公开工作年度报告")]))

    result = crawl(server.url("/files/"), sqlite_url, tmp_path)

    assert result.summary["reports_new"] == 1, result.summary
    [version] = rows(sqlite_url, ReportVersion)
    assert version.filename == NAME
    assert {b.filename for b in rows(sqlite_url, Blob)} == {NAME}


def test_a_retry_the_budget_stops_is_recorded(server, sqlite_url, tmp_path):
    """A timed-out file's row says "retry"; when the source's budget is spent before the retry
    is made, a last row says so (the slow PDF of tests/test_crawl_e2e.py once ended at "retry")."""
    slow = "/budget/slow.pdf"
    server.routes[slow] = Route(PDF, {"Content-Type": "application/pdf"}, delay=3)
    pages = [(f"/budget/{n}.html", f"清源县{2015 + n}年政府信息公开工作年度报告") for n in range(5)]
    server.routes.update({href: Route(report_html(title)) for href, title in pages})
    server.routes["/budget/"] = Route(listing_html([(slow, "清源县2023年政府信息公开工作年度报告（PDF）"), *pages]))

    crawl(server.url("/budget/"), sqlite_url, tmp_path,
          "-s", "DOWNLOAD_TIMEOUT=1", "-s", "RETRY_TIMES=1", "-s", "OGI_SOURCE_MAX_PAGES=3")

    history = [(f.outcome, f.error_kind) for f in rows(sqlite_url, Fetch) if f.url == server.url(slow)]
    assert history == [("retry", "timeout"), ("error", "budget")], history
    assert "not retried: page budget spent (3 pages)" in last_fetch(sqlite_url, server.url(slow)).error


# -- 4. a page with 100,000 links ----------------------------------------------------------------------------


def _scored(url: str, kind: str, score: int) -> Scored:
    return Scored(Link(url, url), kind, score)


def test_best_links_keeps_reports_and_pagination_first_in_page_order():
    hubs = [_scored(f"http://a/hub{i}", HUB, 30) for i in range(10)]
    report, nxt = _scored("http://a/r", REPORT, 100), _scored("http://a/list_1.html", PAGINATION, 5)
    kept, dropped = best_links([hubs[0], report, *hubs[1:], nxt], 4)
    assert [s.link.url for s in kept] == ["http://a/hub0", "http://a/r", "http://a/hub1", "http://a/list_1.html"]
    assert dropped == 8
    assert best_links(hubs, 50) == (hubs, 0)


def test_link_joining_shortcut_matches_urljoin():
    """Plain paths skip urljoin (most of a big page's parsing time): the result must not change."""
    bases = ["http://h.gov.cn/a/b/c.html", "http://h.gov.cn", "http://h/a/b/c.html?x=1", "https://h:8080/a/./b/../c/",
             "http://h/a//b/c.html", "http://h/a/b;p?q#f"]
    pieces = ["/", ".", "..", "a", ":", "?", "#", ";", "\\", "%2E", " ", "\t", "\x01", "年", "x.pdf", "//", "\u3000"]
    rnd = random.Random(16)
    for base in bases:
        join = _joiner(base)
        for _ in range(3000):
            href = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 7)))
            assert join(href) == urljoin(base, href), (base, href)


def test_a_page_with_100000_links_is_bounded(server, sqlite_url, tmp_path):
    junk = [(f"/links/dept{i}/", f"部门信息公开{i}") for i in range(100_000)]
    reports = [(f"/links/r{i}.html", f"清源县{i}局2023年政府信息公开工作年度报告") for i in range(3)]
    server.routes["/links/"] = Route(listing_html(junk + reports + [("/links/index_1.html", "下一页")]))
    server.routes["/links/index_1.html"] = Route(listing_html([("/links/r9.html", "清源县九局2022年政府信息公开工作年度报告")]))
    for path, title in [*reports, ("/links/r9.html", "清源县九局2022年政府信息公开工作年度报告")]:
        server.routes[path] = Route(report_html(title))

    result = crawl(server.url("/links/"), sqlite_url, tmp_path, "-s", "OGI_MAX_LINKS_PER_PAGE=40", "-s", "OGI_MAX_DOWNLOAD_MB=20")

    assert result.summary["reports_new"] == 4, result.summary  # the reports and the next page were kept
    frontier = rows(sqlite_url, FrontierEntry)
    assert len(frontier) <= 40 + 2, len(frontier)
    [run] = rows(sqlite_url, CrawlRun)
    assert run.stats["skipped"]["links_over_cap"] == 100_004 - 40, run.stats
    assert "100,004 links" in result.stderr and "40" in result.stderr, result.stderr[-2000:]
    assert result.seconds < 20 and result.maxrss_mb < 450, (result.seconds, result.maxrss_mb)  # was 33 s, 539 MB


# -- byte-faithful capture: the WARC holds the exchange as it came over the wire -------------------


def test_warc_holds_compressed_and_chunked_answers_as_received(server, sqlite_url, tmp_path):
    title = "清源县档案局2023年政府信息公开工作年度报告"
    page = report_html(title)
    wire = gzip.compress(page, mtime=0)
    server.routes["/wire/gz.html"] = Route(wire, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
    server.routes["/wire/"] = Route(listing_html([("/wire/gz.html", title)]), framing="chunked")

    result = crawl(server.url("/wire/"), sqlite_url, tmp_path)

    assert result.summary["reports_new"] == 1, result.summary
    (blob,) = rows(sqlite_url, Blob)
    assert blob.sha256 == hashlib.sha256(page).hexdigest(), "the original file is the decoded document"
    records = {}
    for warc in (tmp_path / "warc").glob("*.warc.gz"):
        with warc.open("rb") as fh:
            for record in ArchiveIterator(fh, check_digests=True):
                if record.rec_type == "response":
                    records[record.rec_headers.get_header("WARC-Target-URI")] = (record, record.raw_stream.read())
                    assert record.digest_checker.passed is not False, record.digest_checker.problems
    gz_record, gz_body = records[server.url("/wire/gz.html")]
    assert gz_record.http_headers.get_header("Content-Encoding") == "gzip"
    assert gz_record.http_headers.get_header("Content-Length") == str(len(wire))
    assert gz_body == wire and gzip.decompress(gz_body) == page, "the payload is the gzip body as served"
    listing, _ = records[server.url("/wire/")]
    assert listing.http_headers.get_header("Transfer-Encoding") is None, "the body is stored unchunked, so is its header"
    checked = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v",
                              *map(str, (tmp_path / "warc").glob("*.warc.gz"))], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
