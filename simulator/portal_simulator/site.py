"""A simulated government web site: columns, articles, dynamic endpoints, HTTP validators.

A family subclass (TRS WCM, Hanweb JCMS) decides URLs and page markup; this base keeps what
all portals share. Static pages are rendered from the articles into a path -> response map,
rebuilt after every change; a page whose bytes did not change keeps its ETag and
Last-Modified, a page whose bytes changed gets a newer Last-Modified, so conditional requests
behave like a real server's (304 only when nothing changed).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from urllib.parse import quote

from portal_simulator.model import Article, ManifestReport, Trap, sha256


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: Message
    target: str  # the raw request target, path and query

    @property
    def query_string(self) -> str:
        return self.target.partition("?")[2]

    def param(self, name: str, default: str = "") -> str:
        """A query or form parameter (Hanweb's dataproxy.jsp accepts both)."""
        values = self.query.get(name) or self.form.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: datetime | None = None
    delay: float = 0.0  # seconds to wait before answering (the slow endpoint)


@dataclass
class Link:
    """An entry of a column list that is not an article of this site (traps, files, other hosts)."""

    title: str
    href: str | Callable[[], str]
    date: datetime

    def resolve(self) -> str:
        return self.href() if callable(self.href) else self.href


@dataclass
class Column:
    key: str
    title: str
    ident: str  # TRS: directory path "/zwgk/zfxxgk/zfxxgknb/"; Hanweb: column id "1234"
    parent: str | None = None
    page_size: int = 4
    links: list[Link] = field(default_factory=list)
    pager: str = "js"  # how list pages link each other (portal_simulator.pagers)
    extra: str = ""  # more markup on the column's pages (a platform's own navigation)
    in_nav: bool = True  # listed among its parent's sub-columns
    feature: str = ""  # key of a column whose newest entries this column's page shows too (a hub's "latest")


Handler = Callable[[Request, str], "Response | None"]
UTC = UTC


class Site:
    """One virtual host. Subclasses implement ``assign_paths`` and ``render``."""

    family = "base"
    encoding = "utf-8"

    def __init__(self, name: str, title: str, address: str = "127.0.0.1") -> None:
        self.name = name
        self.title = title
        self.address = address
        self.columns: dict[str, Column] = {}
        self.articles: list[Article] = []
        self.traps: list[tuple[str, str | Callable[[], str], str]] = []  # (kind, path or URL, expect)
        self.not_reports: list[str] = []  # extra non-article paths that are not reports
        self.robots_disallow: list[str] = []
        self.forbidden: list[str] = []  # paths behind robots.txt
        self.built_at = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)
        self.home_items = 5  # newest entries of each column on the home page
        self.neighbours = False  # article pages link 上一篇 / 下一篇 by title (other reports, in a report column)
        self._base_url = ""
        self._handlers: list[tuple[str, Handler]] = []
        self._flaky: dict[str, int] = {}
        self._redirects: dict[str, str] = {}
        self._gone: dict[str, int] = {}
        self._static: dict[str, Response] | None = None
        self._validators: dict[str, tuple[str, datetime]] = {}
        self._lock = threading.RLock()

    # --- addressing --------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self._base_url = value.rstrip("/") + "/"
        if any(callable(link.href) for c in self.columns.values() for link in c.links):
            self.invalidate()  # links to other hosts are rendered with their addresses

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` as a browser sends it (Chinese characters and spaces percent-encoded)."""
        if path.startswith(("http://", "https://")):
            return path
        if not self._base_url:
            raise RuntimeError(f"site {self.name!r} is not being served yet (start PortalServer first)")
        return self._base_url.rstrip("/") + quote(path, safe="/?&=%:;,+@!$'()*~#[]")

    # --- content -----------------------------------------------------------------------
    def add_column(self, column: Column) -> Column:
        self.columns[column.key] = column
        return column

    def add_article(self, article: Article) -> Article:
        self.articles.append(article)
        self.invalidate()
        return article

    def article(self, key: str) -> Article:
        return next(a for a in self.articles if a.key == key)

    def ancestry(self, column: Column | None) -> list[Column]:
        """``column`` and the columns above it, top first: a breadcrumb trail's columns."""
        trail: list[Column] = []
        while column is not None:
            trail.insert(0, column)
            column = self.columns.get(column.parent) if column.parent else None
        return trail

    def column_entries(self, column: Column) -> list[tuple[str, str, datetime, Article | None]]:
        """(title, href, date, article) of a column's list, newest first, as a CMS lists them."""
        entries = [(a.title, self.href(a), a.published, a) for a in self.articles
                   if a.column == column.key and a.listed and not a.gone]
        entries += [(link.title, link.resolve(), link.date, None) for link in column.links]
        return sorted(entries, key=lambda e: e[2], reverse=True)

    def href(self, article: Article) -> str:
        return article.path

    def add_handler(self, prefix: str, handler: Handler) -> None:
        self._handlers.append((prefix, handler))

    def set_flaky(self, path: str, times: int) -> None:
        self._flaky[path] = times

    def mark_gone(self, path: str, status: int = 404) -> None:
        """``path`` answers ``status`` (404/410) from now on, unless something is published there again."""
        self._gone[path] = status

    def redirect(self, old: str, new: str) -> None:
        self._redirects[old] = new

    # --- subclass API ------------------------------------------------------------------
    def assign_paths(self, article: Article) -> None:
        raise NotImplementedError

    def render(self) -> Iterable[tuple[str, Response]]:
        raise NotImplementedError

    def robots_txt(self) -> Response:
        lines = ["User-agent: *"] + [f"Disallow: {p}" for p in self.robots_disallow] + [""]
        return Response(body="\n".join(lines).encode(), content_type="text/plain")

    # --- serving -----------------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self._static = None

    def static(self) -> dict[str, Response]:
        with self._lock:
            if self._static is None:
                self._static = self._rebuild()
            return self._static

    def assign_all_paths(self) -> None:
        for article in self.articles:
            self.assign_paths(article)

    def _rebuild(self) -> dict[str, Response]:
        self.assign_all_paths()
        pages = dict(self.render())
        pages["/robots.txt"] = self.robots_txt()
        now = datetime.now(UTC).replace(microsecond=0)
        for path, resp in pages.items():
            digest = sha256(resp.body)
            prev = self._validators.get(path)
            if prev and prev[0] == digest:
                modified = prev[1]
            elif prev:
                modified = max(now, prev[1] + timedelta(seconds=1))
            else:
                modified = _aware(resp.last_modified or self.built_at)
            self._validators[path] = (digest, modified)
            resp.etag, resp.last_modified = f'"{digest[:20]}"', modified
        return pages

    def respond(self, request: Request) -> Response:
        path = request.path + ("index.html" if request.path.endswith("/") else "")
        for prefix, handler in self._handlers:
            if path.startswith(prefix) and (resp := handler(request, path)) is not None:
                return resp
        # Downloads such as Hanweb's downfile.jsp?...&filename=x are told apart by their query.
        keys = [f"{path}?{request.query_string}", path] if request.query_string else [path]
        static = self.static()
        for key in keys:
            with self._lock:
                if self._flaky.get(key, 0) > 0:
                    self._flaky[key] -= 1
                    return Response(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                                    headers={"Retry-After": "0"})
            if key in self._redirects:
                return Response(301, headers={"Location": self.url(self._redirects[key])})
            if key in static:
                return static[key]
            if key in self._gone:
                return error_page(self._gone[key])
        return error_page(404)

    # --- ground truth ------------------------------------------------------------------
    def manifest_reports(self) -> tuple[list[ManifestReport], list[ManifestReport]]:
        """(current, withdrawn) reports of this site."""
        static = self.static()
        current, withdrawn = [], []
        for a in self.articles:
            if a.report is None:
                continue
            inline = a.report.kind == "inline"
            path = a.path if inline else a.attachments[0].path
            body = static[path].body if path in static else b""
            entry = ManifestReport(
                key=a.key, site=self.name, family=self.family, url=self.url(path), page_url=self.url(a.path),
                title=a.title, year=a.report.year, agency=a.report.agency, template=a.report.template,
                kind=a.report.kind, format="html" if inline else a.attachments[0].format,
                sha256=sha256(body), status="withdrawn" if (a.gone or not a.listed) else "current")
            (withdrawn if entry.status == "withdrawn" else current).append(entry)
        return current, withdrawn

    def manifest_not_reports(self) -> list[str]:
        self.static()
        urls = [self.url(a.path) for a in self.articles if a.report is None and not a.gone]
        urls += [self.url(att.path) for a in self.articles if not a.gone
                 for i, att in enumerate(a.attachments) if a.report is None or a.report.kind == "inline" or i > 0]
        return urls + [self.url(p) for p in self.not_reports]

    def manifest_traps(self) -> list[Trap]:
        return [Trap(kind, where() if callable(where) else self.url(where), expect, self.name)
                for kind, where, expect in self.traps]


CST = timezone(timedelta(hours=8))


def _aware(moment: datetime) -> datetime:
    """Portal dates are Beijing time (what pages print); validators need UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=CST)).astimezone(UTC)


ERROR_TEXT = {404: "Not Found", 410: "Gone", 500: "Internal Server Error", 503: "Service Unavailable"}


def error_page(status: int) -> Response:
    text = ERROR_TEXT.get(status, "Error")
    body = (f"<html><head><title>{status} {text}</title></head><body><center><h1>{status} {text}</h1></center>"
            "<hr><center>nginx</center></body></html>").encode()
    return Response(status, body)
