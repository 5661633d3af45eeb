"""Incremental re-crawl cost: bytes downloaded by a nightly crawl of an unchanged portal vs the first full crawl.

Reproduce (from the checkout, about a minute on a 2-core machine)::

    .venv/bin/python bench/incremental_recrawl.py             # standard + benchmark portal (4 hosts)
    .venv/bin/python bench/incremental_recrawl.py --hosts 20  # the full benchmark portal

For each portal: a fresh SQLite archive; ``ogi crawl --kind full`` of every site; then,
with nothing changed, ``ogi crawl --kind incremental`` (what the scheduler runs nightly).
Bytes are the response bodies the crawler received, summed from ``Fetch.size`` per crawl
(cross-checked against ``CrawlRun.bytes_downloaded``). Listing pages are re-read every night
(that is how new reports are found); known reports are re-requested with If-None-Match /
If-Modified-Since and cost nothing when they answer 304. Bound: night 2 <= 5% of night 1,
judged on the benchmark portal (report columns of realistic size). The small test portal
(11 reports, ~26 other pages) is shown too: there the pages that must be re-read (home,
hubs, listings) and the article pages hosting attachments, which the crawler re-downloads
without validators, are a larger share of the whole.
Figures go to stdout and ``bench/results/incremental_recrawl.txt``; exit status 1 when the
benchmark portal is over the bound.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from portal_simulator import PortalServer, build_scale_site, build_site
from portal_simulator.builder import Portal
from sqlalchemy import func, select

from storage.db import Database
from storage.models import CrawlRun, Fetch, Source

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "incremental_recrawl.txt"
BOUND = 0.05
LOCAL = ["-s", "CONCURRENT_REQUESTS=32", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=4", "-s", "DOWNLOAD_DELAY=0",
         "-s", "AUTOTHROTTLE_ENABLED=False"]


def crawl(data_dir: Path, db_url: str, sources: list[str], kind: str) -> float:
    """One ``ogi crawl`` in its own process (one Twisted reactor per process); return seconds."""
    args = [arg for name in sources for arg in ("--source", name)]
    cmd = [sys.executable, "-c", "from ogi.cli import main; main()", "--data-dir", str(data_dir), "crawl", *args,
           "--kind", kind, "--db", db_url, "--no-extract", "--json", *LOCAL]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"ogi crawl --kind {kind} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def night_figures(db: Database, kind: str) -> dict[str, int]:
    with db.session() as s:
        run_ids = list(s.scalars(select(CrawlRun.id).where(CrawlRun.kind == kind)))
        fetched = s.scalar(select(func.coalesce(func.sum(Fetch.size), 0)).where(Fetch.run_id.in_(run_ids)))
        counted = s.scalar(select(func.coalesce(func.sum(CrawlRun.bytes_downloaded), 0)).where(CrawlRun.id.in_(run_ids)))
        outcomes = Counter(dict(s.execute(select(Fetch.outcome, func.count()).where(Fetch.run_id.in_(run_ids))
                                          .group_by(Fetch.outcome)).all()))
    return {"bytes": int(fetched), "run_bytes": int(counted), "requests": sum(outcomes.values()),
            "not_modified": outcomes.get("not_modified", 0)}


def measure(name: str, portal: Portal) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ogi-incr-") as tmp, PortalServer(portal) as server:
        data_dir = Path(tmp) / "data"
        db_url = f"sqlite:///{data_dir / 'ogi.sqlite3'}"
        db = Database(db_url)
        with db.session() as s:
            for site, url in server.base_urls.items():
                s.add(Source(name=site, start_urls=[url], allowed_domains=[urlsplit(url).hostname]))
        names = list(server.base_urls)
        t1 = crawl(data_dir, db_url, names, "full")
        t2 = crawl(data_dir, db_url, names, "incremental")
        one, two = night_figures(db, "full"), night_figures(db, "incremental")
        db.dispose()
    ratio = two["bytes"] / one["bytes"] if one["bytes"] else float("nan")
    return {"portal": name, "hosts": len(names), "night1": one, "night2": two, "ratio": ratio, "seconds": (t1, t2)}


def report(results: list[dict[str, object]]) -> str:
    lines = ["incremental re-crawl of an unchanged portal: bytes downloaded, night 2 / night 1 (bound <= 5%)",
             f"measured {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC on this machine; "
             "`bench/incremental_recrawl.py`", ""]
    for r in results:
        one, two = r["night1"], r["night2"]
        lines += [
            f"{r['portal']} ({r['hosts']} hosts):",
            f"  night 1 (full):        {one['bytes']:>12,} bytes  {one['requests']:>6} requests  ({r['seconds'][0]:.1f} s)",
            f"  night 2 (incremental): {two['bytes']:>12,} bytes  {two['requests']:>6} requests, "
            f"{two['not_modified']} answered 304  ({r['seconds'][1]:.1f} s)",
            f"  ratio: {r['ratio']:.2%}  -> {'OK' if r['ratio'] <= BOUND else 'OVER THE BOUND'}"
            f"  (CrawlRun.bytes_downloaded: {one['run_bytes']:,} / {two['run_bytes']:,})",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=4, help="hosts of the benchmark portal (default 4)")
    args = parser.parse_args()
    results = [measure("benchmark portal (judged)", build_scale_site(hosts=args.hosts)),
               measure("standard test portal, no traps (informational)", build_site(traps_on=False))]
    text = report(results)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    return 0 if results[0]["ratio"] <= BOUND else 1


if __name__ == "__main__":
    sys.exit(main())
