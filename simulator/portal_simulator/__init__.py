"""A local simulator of Chinese government portals, for tests, ``ogi demo`` and benchmarks.

Two CMS families are simulated from real report documents: TRS WCM (GBK pages, pagination
only in ``createPageHTML(...)``) and Hanweb JCMS (UTF-8, records in an embedded
``<datastore>`` and from ``dataproxy.jsp``, downloads via ``downfile.jsp``), with look-alike
noise, traps (robots.txt, calendars, ``?page=N``, repeated segments, 412 challenge, WAF page,
flaky 503, HTML served as PDF, truncated PDF, oversized file, redirect loop, slow endpoint),
ETag/Last-Modified validators and a manifest of the ground truth. Usage::

    from portal_simulator import PortalServer, TrapOptions, build_site

    portal = build_site(options=TrapOptions(big_file_mb=2, slow_seconds=5))  # crawl with -s OGI_MAX_DOWNLOAD_MB=1
    with PortalServer(portal) as server:       # sites: trs 127.0.0.2, hanweb 127.0.0.3, blocked 127.0.0.4
        urls = list(server.base_urls.values())  # {"trs": "http://127.0.0.2:40123/", ...}
        truth = portal.manifest()   # .reports: key, url, page_url, year, agency, template, kind, format, sha256
                                    # .not_reports, .traps (kind, url, expect), .forbidden (robots-disallowed)
        ...run `ogi crawl *urls` in a subprocess...
        server.log.fetched(truth.forbidden[0])  # False for a polite crawler; .entries() has headers
        portal.add_report("trs"); portal.revise_report("zhongxing-2020")         # night two
        portal.replace_attachment("taiping-2020"); portal.remove_report("pingtan-2017")  # 404
        portal.remove_report("pingtan-2025", how="unlisted"); portal.move_report("xintong-2020")
        portal.changes              # what changed, with old and new URLs

Report keys: see ``builder.SOURCES`` / ``FIRST_NIGHT`` (``add_report`` publishes ``NIGHT_TWO``).
``build_scale_site(hosts=20)`` makes the benchmark portal (a few thousand pages on 127.0.0.2..21).
``build_pattern_portal()`` is one TRS host of real portals' pagers and navigation (``pagers``).
"""
from portal_simulator.builder import Change, Portal, build_pattern_portal, build_site
from portal_simulator.model import Manifest, ManifestReport, Trap
from portal_simulator.scale import build_scale_site
from portal_simulator.server import LoggedRequest, PortalServer, RequestLog
from portal_simulator.traps import TrapOptions

__all__ = ["Change", "LoggedRequest", "Manifest", "ManifestReport", "Portal", "PortalServer", "RequestLog", "Trap",
           "TrapOptions", "build_pattern_portal", "build_scale_site", "build_site"]
