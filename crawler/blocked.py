"""Recognising anti-bot walls: an HTTP 412 JavaScript challenge or a WAF interstitial.

Many government portals sit behind such layers (瑞数 412 challenges, 安全狗, 云锁, 创宇盾,
Cloudflare). Their answers are neither content nor a transient error: retrying only
hammers the wall, and archiving them as reports would be wrong. So they are recorded as
``blocked`` with the reason, and the host is left alone after a few of them.
"""
from __future__ import annotations

import re

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
