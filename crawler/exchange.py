"""What one HTTP exchange amounted to: ok, not modified, blocked, or which error and why.

Pure functions of status, headers, body and the request's role, so the recording
middleware stays small and every rule is testable on literal bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet import error as tx_error
from twisted.web._newclient import ResponseFailed

from crawler.attachments import attachment_filename, document_format
from crawler.blocked import blocked_reason
from storage.models import utcnow


@dataclass(frozen=True)
class Assessment:
    outcome: str  # ok | redirect | not_modified | blocked | error
    error_kind: str = ""
    error: str = ""
    format: str = ""  # sniffed format of an attachment
    filename: str = ""


def assess(
    url: str, status: int, headers: dict[str, str], body: bytes, *, role: str = "", flags: tuple[str, ...] = (),
    cap_bytes: int = 0, disposition: bytes | None = None, inflated: int = 0,
) -> Assessment:
    """Classify one response. ``role`` is ``attachment`` for downloads whose type must be checked.

    ``inflated`` is how far decompression got before it passed the cap (0: it did not).
    """
    content_type = headers.get("content-type", "")
    if inflated:
        encoding = headers.get("content-encoding", "compressed")
        return Assessment("error", "too_large", f"{encoding} body of {len(body):,} bytes received inflates past the "
                          f"{cap_bytes // 2**20} MB size cap: decompression stopped at {inflated:,} bytes")
    if "download_stopped" in flags and cap_bytes:
        length = headers.get("content-length", "unknown")
        return Assessment("error", "too_large", f"download stopped after {len(body):,} bytes: over the "
                          f"{cap_bytes // 2**20} MB size cap (Content-Length {length})")
    html_like = status == 412 or not content_type or "html" in content_type.lower()
    reason = blocked_reason(status, body, content_type) if html_like else ""
    if reason:
        return Assessment("blocked", "blocked", reason)
    if status == 304:
        return Assessment("not_modified")
    if 300 <= status < 400:
        return Assessment("redirect")
    if status >= 400:
        return Assessment("error", f"http_{status}", f"HTTP {status}")
    # "dataloss": fewer bytes than Content-Length or an unfinished chunked body. A body that ends
    # when the server closes ("partial": no length was given) is complete by HTTP's rules;
    # attachments still pass the wholeness check below.
    if "dataloss" in flags:
        return Assessment("error", "truncated", f"connection closed after {len(body):,} of "
                          f"{headers.get('content-length', 'unknown')} bytes")
    if role != "attachment":
        return Assessment("ok")
    filename = attachment_filename(url, disposition)
    fmt, problem = document_format(body, content_type, filename)
    if problem:
        kind = "truncated" if problem.startswith("truncated") or "broken ZIP" in problem else "not_a_document"
        return Assessment("error", kind, problem, fmt, filename)
    return Assessment("ok", format=fmt, filename=filename)


_EXCEPTION_KINDS = (
    (tx_error.TimeoutError, "timeout"),
    (tx_error.DNSLookupError, "dns"),
    (tx_error.ConnectionRefusedError, "connection_refused"),
    (tx_error.ConnectionDone, "connection_lost"),
    (tx_error.ConnectionLost, "connection_lost"),
    (tx_error.ConnectError, "connect"),
    (ResponseFailed, "connection_lost"),
)


def exception_kind(exc: BaseException) -> tuple[str, str]:
    """(error kind, readable reason) for a download that raised instead of answering."""
    name = type(exc).__name__
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return "timeout", f"timed out: {exc}" if str(exc) else "timed out"
    for cls, kind in _EXCEPTION_KINDS:
        if isinstance(exc, cls):
            return kind, f"{name}: {exc}"[:500]
    return "download", f"{name}: {exc}"[:500]


def failure_row(url: str, outcome: str, kind: str, reason: str) -> dict[str, Any]:
    """A Fetch row for an attempt that got no response (timeout, robots.txt, redirect loop)."""
    return {
        "url": url, "fetched_at": utcnow(), "status": None, "headers": {}, "content_type": "", "size": 0, "sha256": "",
        "outcome": outcome, "error_kind": kind, "error": reason, "warc_file": "", "warc_offset": None,
    }
