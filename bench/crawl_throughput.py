"""Crawl throughput: ``ogi crawl`` against a bare Scrapy spider on the same local portal.

Reproduce (from the checkout, ~3-6 minutes on a 2-core machine)::

    .venv/bin/python bench/crawl_throughput.py            # 3 rounds, 20 hosts
    .venv/bin/python bench/crawl_throughput.py --rounds 5 --hosts 20 --pg   # PostgreSQL archive

The portal is ``portal_simulator.build_scale_site``: ~3,000 pages (report columns of 30
departments x 4 years, TRS WCM and Hanweb JCMS alternating) on 20 loopback addresses
127.0.0.2 ... 127.0.0.21, served from this process. Each round runs both crawlers, one
after the other in alternating order, each in its own process with the same politeness
settings::

    -s CONCURRENT_REQUESTS=32 -s CONCURRENT_REQUESTS_PER_DOMAIN=4 -s DOWNLOAD_DELAY=0 -s AUTOTHROTTLE_ENABLED=False

``ogi crawl`` does everything it does on a real portal (discovery and classification, WARC
files, content-addressed blobs, database rows, report versions) into a fresh data directory
and database each run; extraction is left pending (``--no-extract``: it runs after the crawl,
off its critical path). The bare spider follows the same links: it parses plain anchors and
the TRS and Hanweb pagination (with the crawler's own ``crawler.cms`` parsers) and requests
only URLs that an untimed warm-up ``ogi crawl`` requested (from the portal's request log), so
both fetch the same pages; it stores nothing. Both
figures are pages (responses) per second over the crawl itself, excluding interpreter start-up.
Medians and the ratio (target >= 0.8) go to stdout and ``bench/results/crawl_throughput.txt``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "crawl_throughput.txt"
POLITENESS = {"CONCURRENT_REQUESTS": "32", "CONCURRENT_REQUESTS_PER_DOMAIN": "4", "DOWNLOAD_DELAY": "0",
              "AUTOTHROTTLE_ENABLED": "False"}
PG_SERVER = os.environ.get("OGI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


# --- the bare spider (run in a child process: ``crawl_throughput.py --bare URL ...``) ---------

def run_bare(urls: list[str], only: set[str]) -> dict[str, float]:
    """Crawl ``urls`` with a spider that follows same-host links in ``only`` and keeps nothing."""
    from urllib.parse import urlsplit

    import scrapy
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from crawler.cms import hanweb_next_urls, hanweb_records, trs_pages

    href = re.compile(r"""href\s*=\s*["']([^"'#]+)""", re.I)

    class BareSpider(scrapy.Spider):
        name = "bare"

        allowed = {urlsplit(u).netloc for u in urls}

        async def start(self):
            for url in urls:
                yield scrapy.Request(url)

        def parse(self, response):
            if not isinstance(response, scrapy.http.TextResponse):
                return
            text = response.text
            links = href.findall("".join(hanweb_records(text))) if "<datastore>" in text else []
            if "<html" in text[:2000].lower():
                links += response.css("a::attr(href)").getall()
            links += trs_pages(text, response.url) + hanweb_next_urls(text, response.url)
            for link in links:
                request = scrapy.Request(response.urljoin(link.replace("&amp;", "&")))
                if urlsplit(request.url).netloc in self.allowed and (not only or request.url in only):
                    yield request

    pages = 0

    def count(**_: object) -> None:
        nonlocal pages
        pages += 1

    settings = {**POLITENESS, "ROBOTSTXT_OBEY": True, "LOG_LEVEL": os.environ.get("BARE_LOG_LEVEL", "WARNING"),
                "TELNETCONSOLE_ENABLED": False, "USER_AGENT": "bench-bare/1"}
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(BareSpider)
    crawler.signals.connect(count, signal=signals.response_received)
    started = time.monotonic()
    process.crawl(crawler)
    process.start()
    return {"pages": pages, "seconds": time.monotonic() - started}


# --- the driver ---------------------------------------------------------------------------

def _ogi(urls: list[str], pg: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ogi-bench-") as data_dir:
        db = f"sqlite:///{data_dir}/ogi.sqlite3"
        if pg:
            db = _create_pg_database()
        cmd = [sys.executable, "-m", "ogi", "--data-dir", data_dir, "crawl", *urls, "--db", db, "--json",
               "--no-extract", "--no-progress", "-s", "LOG_LEVEL=WARNING"]
        for name, value in POLITENESS.items():
            cmd += ["-s", f"{name}={value}"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"ogi crawl failed:\n{exc.stderr[-3000:]}") from exc
        finally:
            if pg:
                _drop_pg_database(db)
    summary = json.loads(out)
    return {"pages": summary["pages"], "seconds": summary["seconds"], "reports": summary["reports_new"]}


def _bare(urls: list[str], only: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--bare", str(only), *urls], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def _create_pg_database() -> str:
    import sqlalchemy as sa

    name = f"ogi_bench_{uuid.uuid4().hex[:10]}"
    with sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return f"{PG_SERVER}/{name}"


def _drop_pg_database(url: str) -> None:
    import sqlalchemy as sa

    name = url.rsplit("/", 1)[1]
    with sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--pg", action="store_true", help="archive into a fresh PostgreSQL database per run")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from portal_simulator import PortalServer, build_scale_site

    portal = build_scale_site(hosts=args.hosts)
    runs: dict[str, list[dict[str, float]]] = {"ogi": [], "bare": []}
    with PortalServer(portal) as server:
        urls = list(server.base_urls.values())
        pages = sum(len(site.static()) for site in portal.sites.values())
        print(f"portal: {args.hosts} hosts, {pages} static pages, {len(portal.manifest().reports)} reports")
        # An untimed ogi crawl first: the URLs it requests are the links the bare spider may follow.
        warmup = _ogi(urls, args.pg)
        only = Path(tempfile.mkstemp(prefix="ogi-bench-links-", suffix=".txt")[1])
        only.write_text("\n".join(sorted(set(server.log.urls()))), encoding="utf-8")
        print(f"warm-up ogi crawl: {warmup['pages']} pages, {len(set(server.log.urls()))} distinct URLs requested")
        for n in range(args.rounds):
            order = ("bare", "ogi") if n % 2 == 0 else ("ogi", "bare")
            for which in order:
                result = _bare(urls, only) if which == "bare" else _ogi(urls, args.pg)
                result["pages_per_second"] = result["pages"] / result["seconds"]
                runs[which].append(result)
                reports = f", {result['reports']} reports" if "reports" in result else ""
                print(f"round {n + 1} {which:4}: {result['pages']} pages in {result['seconds']:.1f} s = "
                      f"{result['pages_per_second']:.1f} pages/s{reports}", flush=True)
    only.unlink()
    _report(runs, args)


def _report(runs: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    med = {k: statistics.median(r["pages_per_second"] for r in v) for k, v in runs.items()}
    ratio = med["ogi"] / med["bare"]
    lines = [
        f"crawl throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"{args.hosts} hosts, {args.rounds} rounds alternating, database {'postgresql' if args.pg else 'sqlite'})",
        "settings: " + " ".join(f"-s {k}={v}" for k, v in POLITENESS.items()),
        *(f"{name:4} runs: " + ", ".join(f"{r['pages']}p/{r['seconds']:.1f}s" for r in rs) for name, rs in runs.items()),
        f"median ogi crawl : {med['ogi']:.1f} pages/s",
        f"median bare spider: {med['bare']:.1f} pages/s",
        f"ratio ogi/bare    : {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        sys.path.insert(0, str(ROOT))
        links = set(Path(sys.argv[2]).read_text(encoding="utf-8").split())
        print(json.dumps(run_bare(sys.argv[3:], links)))
    else:
        main()
