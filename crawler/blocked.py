"""Recognising anti-bot walls: an HTTP 412 JavaScript challenge or a WAF interstitial.

Many government portals sit behind such layers (瑞数 412 challenges, 安全狗, 云锁, 创宇盾,
Cloudflare). Their answers are neither content nor a transient error: retrying only
hammers the wall, and archiving them as reports would be wrong. So they are recorded as
``blocked`` with the reason, and the host is left alone after a few of them, unless a
browser gets past its wall (:mod:`crawler.browser`, for the walls :func:`browser_may_pass`).
"""
from __future__ import annotations

import re
from collections import Counter

_WAF_MARKERS = (
    ("$_ts", "JavaScript challenge (瑞数)"),
    ("__jsl_clearance", "JavaScript challenge (加速乐)"),
    ("yunsuo_session", "WAF interstitial (云锁)"),
    ("安全狗", "WAF interstitial (安全狗)"),
    ("创宇盾", "WAF interstitial (创宇盾)"),
    ("网站防火墙", "WAF interstitial (网站防火墙)"),
    ("Web应用防火墙", "WAF interstitial"),
    ("访问被拦截", "WAF interstitial (访问被拦截)"),
    ("访问已被拦截", "WAF interstitial (访问被拦截)"),
    ("您的访问被阻断", "WAF interstitial (访问被阻断)"),
    ("人机验证", "CAPTCHA interstitial (人机验证)"),
    ("安全验证", "CAPTCHA interstitial (安全验证)"),
    ("cf-chl", "JavaScript challenge (Cloudflare)"),
    ("Checking your browser", "JavaScript challenge"),
    ("Just a moment...", "JavaScript challenge (Cloudflare)"),
)
# Byte patterns in UTF-8 and GBK, so a page is checked without decoding it first.
_MARKER_BYTES = tuple(
    (encoded, reason)
    for marker, reason in _WAF_MARKERS
    for encoded in dict.fromkeys((marker.encode("utf-8"), marker.encode("gbk")))
)
_SCRIPT = re.compile(rb"<script", re.I)
_SMALL = 64 * 1024


def blocked_reason(status: int, body: bytes, content_type: str = "") -> str:
    """Why this response is an anti-bot wall ('' when it is not)."""
    if status == 412:
        kind = "JavaScript challenge" if _SCRIPT.search(body[:_SMALL]) else "no content"
        return f"HTTP 412 Precondition Failed ({kind}): anti-bot layer"
    if len(body) > _SMALL or (content_type and "html" not in content_type.lower()):
        return ""
    for marker, reason in _MARKER_BYTES:
        if marker in body:
            return f"HTTP {status}: {reason}"
    return ""


def browser_may_pass(reason: str) -> bool:
    """Whether a browser gets past this wall as a visitor's does: a JavaScript challenge or a WAF
    interstitial, not a CAPTCHA, a login or a 412 with no script."""
    return "JavaScript challenge" in reason or "WAF interstitial" in reason


BLOCKED_HOST_LIMIT = 5  # consecutive walls from one host before it is left alone


class BlockedHosts:
    """Consecutive walls per host in this crawl: after a few, the scope guard leaves the host alone.

    Any good answer from the host resets its count (a wall in front of one path is not
    host-wide). Each host's first reason is kept in the run's counts for the summary. A host
    whose wall a browser got past is excused: its walls are the browser's to handle.
    """

    def __init__(self, limit: int = BLOCKED_HOST_LIMIT) -> None:
        self.limit = limit
        self.walls: Counter[str] = Counter()
        self.excused: set[str] = set()

    def excuse(self, host: str) -> None:
        self.excused.add(host)
        self.walls.pop(host, None)

    def unexcuse(self, host: str) -> None:
        self.excused.discard(host)

    def note(self, host: str) -> None:
        self.walls[host] += 1

    def answered(self, host: str) -> None:
        if self.walls:
            self.walls.pop(host, None)

    def left_alone(self, host: str) -> bool:
        return self.walls.get(host, 0) >= self.limit and host not in self.excused
