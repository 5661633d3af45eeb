"""Serve simulated sites over real HTTP, one threaded server per site on its own loopback address.

Linux routes all of 127.0.0.0/8 to ``lo``, so each site gets an address of its own
(127.0.0.2, 127.0.0.3, ...) and a free port: a crawler's per-host politeness slots then apply
per site, as they would on the internet. Every request is logged (site, method, target,
headers, status) so a test can assert what a crawler did and did not fetch. Conditional
requests (If-None-Match / If-Modified-Since) are answered 304 when the document is unchanged.
"""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from portal_simulator.builder import Portal
from portal_simulator.model import Manifest
from portal_simulator.site import Request, Response, Site

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedRequest:
    site: str
    method: str
    url: str  # absolute URL as requested
    target: str  # path and query as sent
    path: str
    headers: dict[str, str]
    status: int
    time: float


class RequestLog:
    """Thread-safe record of every request the portal answered."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, site: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [e for e in self._entries if site is None or e.site == site]

    def urls(self, site: str | None = None) -> list[str]:
        return [e.url for e in self.entries(site)]

    def count(self, url: str) -> int:
        return sum(1 for e in self.entries() if e.url == url)

    def fetched(self, url: str) -> bool:
        return self.count(url) > 0

    def matching(self, prefix: str) -> list[LoggedRequest]:
        """Requests whose absolute URL starts with ``prefix``."""
        return [e for e in self.entries() if e.url.startswith(prefix)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, site: Site, address: tuple[str, int], portal_log: RequestLog, stopping: threading.Event) -> None:
        self.site, self.request_log, self.stopping = site, portal_log, stopping
        self.accepted: dict[int, float] = {}  # socket fd -> when its connection was accepted
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops a connection it opened (a browser closing the sockets it preconnected)
        is no server error: logged quietly, not printed as a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("%s closed its connection", client_address)
            return
        super().handle_error(request, client_address)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Note when each connection arrived: its first request is logged at that time, not when
        a handler thread got round to reading it (seconds later on a loaded machine)."""
        sock, address = super().get_request()
        self.accepted[sock.fileno()] = time.time()
        return sock, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    timeout = 30  # idle keep-alive connections end on their own
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's parameter name; quiet, the RequestLog has it
        log.debug("%s %s", self.address_string(), format % args)

    def _request(self) -> Request:
        split = urlsplit(self.path)
        form: dict[str, list[str]] = {}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            form = parse_qs(body.decode("ascii", "replace"), keep_blank_values=True)
        return Request(self.command, unquote(split.path) or "/", parse_qs(split.query, keep_blank_values=True),
                       form, self.headers, self.path)

    def _serve(self) -> None:
        # Politeness is about when requests arrive, not how long a page takes to render; a
        # connection's first request arrived when the connection was accepted.
        arrived = self.server.accepted.pop(self.connection.fileno(), None) or time.time()
        request = self._request()
        try:
            resp = self.server.site.respond(request)
        except Exception:  # a bug in a page renderer must show up as a 500, not a dropped connection
            log.exception("portal %s failed on %s", self.server.site.name, self.path)
            resp = Response(500, b"internal error")
        if resp.delay and self.server.stopping.wait(resp.delay):
            self.close_connection = True
            return
        status = 304 if resp.status == 200 and _not_modified(self.headers, resp) else resp.status
        site = self.server.site
        self.server.request_log.append(LoggedRequest(
            site.name, self.command, site.base_url.rstrip("/") + self.path, self.path, request.path,
            {k: v for k, v in self.headers.items()}, status, arrived))
        try:
            self._send(status, resp)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts, size caps)
            self.close_connection = True

    def _send(self, status: int, resp: Response) -> None:
        self.send_response(status)
        body = resp.body
        if status != 304:
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(body)))
        if resp.etag:
            self.send_header("ETag", resp.etag)
        if resp.last_modified:
            self.send_header("Last-Modified", format_datetime(resp.last_modified, usegmt=True))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(body)


def _not_modified(headers: Message, resp: Response) -> bool:
    """RFC 9110 13.1: If-None-Match wins over If-Modified-Since."""
    inm = headers.get("If-None-Match")
    if inm is not None:
        tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
        return "*" in tags or (resp.etag is not None and resp.etag in tags)
    ims = headers.get("If-Modified-Since")
    if ims and resp.last_modified:
        try:
            since: datetime = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return resp.last_modified <= since
    return False


class PortalServer:
    """Serve every site of a portal; use as a context manager (or ``start()``/``stop()``)."""

    def __init__(self, portal: Portal, *, port: int = 0) -> None:
        self.portal = portal
        self.log = RequestLog()
        self._stopping = threading.Event()
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        try:
            for site in portal.sites.values():
                server = _Server(site, (site.address, port), self.log, self._stopping)
                self._servers.append(server)
                site.base_url = f"http://{site.address}:{server.server_address[1]}/"
        except OSError:
            self.stop()
            raise

    @property
    def base_urls(self) -> dict[str, str]:
        """Site name -> base URL (``http://127.0.0.2:41234/``)."""
        return {s.site.name: s.site.base_url for s in self._servers}

    def url(self, site: str, path: str = "/") -> str:
        return self.portal.sites[site].url(path)

    def manifest(self) -> Manifest:
        return self.portal.manifest()

    def start(self) -> PortalServer:
        for server in self._servers:
            server.site.static()  # render now, not inside the first (timed) request
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"portal-{server.site.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers[:len(self._threads)]:  # shutdown() waits for a running loop only
            server.shutdown()
        for server in self._servers:
            server.server_close()
        self._threads.clear()

    def __enter__(self) -> PortalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
