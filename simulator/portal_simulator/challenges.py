"""Anti-bot walls in front of whole hosts, as county portals put them there.

Three kinds, each a gate in front of an ordinary simulated site (every path, robots.txt
included, as the products do):

* :class:`JsChallenge`: HTTP 412 with obfuscated JavaScript that computes a cookie from a
  nonce the server issued (a fresh one each time, signed, so no fixed value passes) and
  reloads the page (the 瑞数 "dynamic security" kind). Without running the script every
  page is 412; with the cookie it earned, any client passes (plain requests too).
* :class:`WafCookie`: a WAF interstitial (云锁 style, answered 200) whose first response sets
  a session cookie and reloads; a client that keeps cookies passes on its second request.
* :class:`CaptchaWall`: the same 412 challenge, but past it a CAPTCHA (人机验证) that no
  crawler solves: the host must end up recorded ``blocked``.

:func:`add_walled_site` puts a small TRS site with its own annual reports behind a wall;
:func:`build_demo_site` is the demo portal, whose third host sits behind the 412 challenge.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import datetime
from email.message import Message
from http.cookies import CookieError, SimpleCookie

from portal_simulator import traps
from portal_simulator.builder import SOURCES, Portal, _report_article, build_site
from portal_simulator.site import Column, Request, Response, Site
from portal_simulator.trs import TrsSite

# The report column of a walled site, at the path the demo's TRS site links to.
COLUMN = "/col/col100/"


def _cookie(headers: Message, name: str) -> str:
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_all("Cookie") or ():
        try:
            jar.load(value)
        except CookieError:
            continue
    return jar[name].value if name in jar else ""


def fnv1a(text: str) -> str:
    """The challenge's answer: 32-bit FNV-1a of the nonce, in hex (what the page's script computes)."""
    value = 0x811C9DC5
    for char in text:
        value = ((value ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return format(value, "x")


_CHALLENGE = """<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta http-equiv="Pragma" content="no-cache"><meta http-equiv="Expires" content="0">
<script type="text/javascript" r='m'>var $_ts=window['$_ts'];if(!$_ts)$_ts={};$_ts.nsd=@NSD@;$_ts.cd="@NONCE@";
(function(_$a,_$b){var _$c=0x811c9dc5,_$d=0;for(;_$d<_$a[_$b[3]];_$d++){
_$c^=_$a[_$b[4]](_$d);_$c=Math[_$b[5]](_$c,0x1000193)>>>0;}
document[_$b[0]]=_$b[1]+'='+_$a+'.'+_$c.toString(16)+';path=/';
window.addEventListener('load',function(){setTimeout(function(){location[_$b[2]]();},30);});})($_ts.cd,
['\\x63\\x6f\\x6f\\x6b\\x69\\x65','@COOKIE@','\\x72\\x65\\x6c\\x6f\\x61\\x64','length','charCodeAt','imul']);</script>
</head><body></body></html>"""


class JsChallenge:
    """HTTP 412 + a script that turns a signed server nonce into the cookie that lets a client in.

    ``browser_only``: the cookie is honoured only on requests with a browser's fetch metadata
    (``Sec-Fetch-Mode``), as challenges that also fingerprint the client do; plain requests
    carrying the earned cookie still get the 412.
    """

    cookie = "FSSBBIl1UgzbN7NP"

    def __init__(self, *, browser_only: bool = False) -> None:
        self.browser_only = browser_only
        self.lifted = False  # set True: the portal took its wall down
        self._key = secrets.token_bytes(16)
        self.issued = 0  # challenge pages served
        self.passed = 0  # requests let through with a valid cookie

    def _sign(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()[:10]

    def valid(self, value: str) -> bool:
        """A cookie this server's nonce led to: ``<token><signature>.<fnv1a of both>``."""
        nonce, _, answer = value.partition(".")
        token, signature = nonce[:12], nonce[12:]
        return bool(token) and hmac.compare_digest(signature, self._sign(token)) and answer == fnv1a(nonce)

    def challenge(self) -> Response:
        token = secrets.token_hex(6)
        nonce = token + self._sign(token)
        self.issued += 1
        page = _CHALLENGE.replace("@NSD@", str(int(token[:6], 16))).replace("@NONCE@", nonce).replace("@COOKIE@", self.cookie)
        return Response(412, page.encode("utf-8"), "text/html; charset=utf-8",
                        headers={"Set-Cookie": f"{self.cookie}O={token}; Path=/; HttpOnly", "Cache-Control": "no-store"})

    def gate(self, request: Request, path: str) -> Response | None:
        if self.lifted:
            return None
        if self.valid(_cookie(request.headers, self.cookie)) and (not self.browser_only or request.headers.get("Sec-Fetch-Mode")):
            self.passed += 1
            return None
        return self.challenge()


_WAF = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>安全验证</title></head>
<body><div class="yunsuo"><p>网站防火墙正在验证您的访问，请稍候……</p><p>云锁 yunsuo_session_verify</p></div>
<script type="text/javascript">setTimeout(function(){location.reload();},30);</script></body></html>"""


class WafCookie:
    """A WAF interstitial (200) whose first answer sets the session cookie the next request needs
    (robots.txt is served, as many WAFs guard pages only)."""

    cookie = "yunsuo_session_verify"

    def __init__(self) -> None:
        self._issued: set[str] = set()
        self._lock = threading.Lock()
        self.passed = 0

    def gate(self, request: Request, path: str) -> Response | None:
        with self._lock:
            if path == "/robots.txt" or _cookie(request.headers, self.cookie) in self._issued:
                self.passed += 1
                return None
            token = secrets.token_hex(16)
            self._issued.add(token)
        return Response(200, _WAF.encode("utf-8"), "text/html; charset=utf-8",
                        headers={"Set-Cookie": f"{self.cookie}={token}; Path=/; HttpOnly"})


_CAPTCHA = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>人机验证</title></head>
<body><div class="captcha"><h3>人机验证</h3><p>请拖动滑块完成拼图，以继续访问。</p>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="验证码"><div class="slider"></div></div></body></html>"""


class CaptchaWall(JsChallenge):
    """The 412 challenge, and behind it a CAPTCHA: a browser gets past the first, nobody past the second."""

    def gate(self, request: Request, path: str) -> Response | None:
        if self.valid(_cookie(request.headers, self.cookie)):
            return Response(200, _CAPTCHA.encode("utf-8"), "text/html; charset=utf-8", headers={"Cache-Control": "no-store"})
        return self.challenge()


Wall = JsChallenge | WafCookie | CaptchaWall


def walled_site(name: str, title: str, address: str, wall: Wall, portal: Portal,
                reports: tuple[str, ...] = ("pingtan-2021", "huaian-2024"), *, doc_id: int = 7700001) -> Site:
    """A small TRS site (home, 政务公开 > 政府信息公开 > 年报 column at :data:`COLUMN`) with
    ``reports`` (keys of ``builder.SOURCES``), every path behind ``wall``."""
    site = TrsSite(name, title, address, code="3411239901")
    for key, column_title, ident, parent in (("zwgk", "政务公开", "/col/col98/", None),
                                              ("zfxxgk", "政府信息公开", "/col/col99/", "zwgk"),
                                              ("nb", "政府信息公开年报", COLUMN, "zfxxgk")):
        site.add_column(Column(key, column_title, ident, parent, page_size=10))
    for n, key in enumerate(reports):
        site.add_article(_report_article(site, SOURCES[key], portal, doc_id=doc_id + 11 * n))
    site.add_handler("/", wall.gate)
    site.wall = wall  # type: ignore[attr-defined] # so a test can take it down (``lifted``)
    return site


def add_walled_site(portal: Portal, name: str, wall: Wall, address: str, *, title: str = "清源县经济开发区管委会",
                    link_from: str | None = "trs", reports: tuple[str, ...] = ("pingtan-2021", "huaian-2024")) -> Site:
    """Add a walled site to ``portal``, linked from the report column of site ``link_from`` (if any)."""
    site = walled_site(name, title, address, wall, portal, reports, doc_id=7700001 + 1000 * len(portal.sites))
    portal.sites[name] = site
    if link_from in portal.sites:
        traps.add_link(portal.sites[link_from], "nb", f"{title[:3]}经济开发区政府信息公开年报",
                       lambda: site.url(f"{COLUMN}index.html"), datetime(2021, 1, 29, 9, 0))
        portal.sites[link_from].invalidate()
    return site


def build_demo_site(addresses: dict[str, str] | None = None, options: traps.TrapOptions | None = None) -> Portal:
    """The ``ogi demo`` portal: the TRS and Hanweb sites with their traps, and a third host
    (``blocked``) whose reports sit behind the 412 JavaScript challenge."""
    addresses = addresses or {}
    portal = build_site(addresses=addresses, options=options, blocked_host=False)
    add_walled_site(portal, "blocked", JsChallenge(), addresses.get("blocked", "127.0.0.4"))
    return portal
