"""The nightly at scale: ``scheduler.py --once`` over N loopback portals against a bare Scrapy spider.

Reproduce (from the checkout; the 300-host default takes about 10-15 minutes on 2 cores)::

    .venv/bin/python bench/nightly_scale.py                          # 300 hosts, workers on 60
    .venv/bin/python bench/nightly_scale.py --hosts 100 --worker-hosts 40

The portal is ``portal_simulator.build_scale_site(departments=2)`` re-addressed onto
127.1.x.y (all of 127/8 is loopback): per host 8 annual reports, about 17 pages crawled. Every
source has ``DOWNLOAD_DELAY=1``, one request at a time per host and no AutoThrottle in its
``overrides.schedule.crawl_settings``; the bare spider (bench/crawl_throughput.py's: it
stores nothing and follows only the URLs the nightly requested, from the portal's request
log, so both fetch the same pages) gets the same politeness for every host in one process.
Timed with the wall clock around each whole command:

1. ``scheduler.py --once --now <02:30>`` on a fresh SQLite archive with no queue (the jobs were
   created by an untimed ``--once`` the day before): batches, crawl with extraction beside it
   (``extract_workers`` processes), then diffs, index, alerts; the reports it archived are
   counted in the database.
2. The bare spider over the same hosts (after the nightly: it needs its URLs).
3. With ``DOWNLOAD_DELAY=0`` (CPU-bound) on PostgreSQL with the task queue: the batches of
   ``--worker-hosts`` sources (4 batches) queued, then 1 or 2 ``ogi worker --until-empty``
   processes until the queue is empty; crawl time (first run start to last run end) and the
   rest (after-crawl flows) are reported apart, for per-page and per-document costs.

Results go to stdout and ``bench/results/nightly_scale.txt``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import crawl_throughput  # noqa: E402 - a sibling script, not a package: its bare spider and PostgreSQL helpers

RESULTS = ROOT / "bench" / "results" / "nightly_scale.txt"
POLITE = {"DOWNLOAD_DELAY": 1, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "AUTOTHROTTLE_ENABLED": False}
EVE, NIGHT = "2027-01-10T12:00", "2027-01-11T02:30"  # jobs created the day before; the 02:00 run due


def portal(hosts: int) -> Any:
    """The scale portal on 127.1.x.y: ``hosts`` county sites of 8 reports each."""
    from portal_simulator import build_scale_site

    built = build_scale_site(hosts=hosts, departments=2)
    for i, site in enumerate(built.sites.values()):
        site.address = f"127.1.{i // 250}.{i % 250 + 1}"
    return built


def add_sources(db_url: str, urls: dict[str, str], crawl_settings: dict[str, Any]) -> None:
    from urllib.parse import urlsplit

    from storage.db import Database
    from storage.models import Source

    db = Database(db_url)
    with db.session() as s:
        s.add_all(Source(name=name, start_urls=[url], allowed_domains=[urlsplit(url).hostname],
                         overrides={"schedule": {"incremental": "0 2 * * *", "full": False, "crawl_settings": crawl_settings}})
                  for name, url in urls.items())
    db.dispose()


def archived(db_url: str) -> dict[str, float]:
    """Reports and pages in the archive, and the crawl span (first run start to last run end)."""
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import CrawlRun, Report

    db = Database(db_url)
    with db.session() as s:
        reports = s.scalar(select(func.count()).select_from(Report))
        pages, start, end = s.execute(select(func.sum(CrawlRun.pages), func.min(CrawlRun.started_at),
                                             func.max(CrawlRun.finished_at))).one()
    db.dispose()
    return {"reports": reports, "pages": pages or 0, "crawl_s": (end - start).total_seconds() if start and end else 0}


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall-clock seconds of the command, and the CPU seconds it and its children used."""
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: some crawl failed, reported by the counts
        raise SystemExit(f"{cmd[:3]} exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return time.monotonic() - started, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def nightly(urls: dict[str, str], data_dir: str) -> dict[str, float]:
    db = f"sqlite:///{data_dir}/ogi.sqlite3"
    add_sources(db, urls, POLITE)
    once = [sys.executable, str(ROOT / "scheduler.py"), "--once", "--db", db, "--data-dir", data_dir, "--now"]
    timed([*once, EVE])
    env = {"OGI_QUEUE_URL": "", "OGI_NIGHTLY_BATCH_SIZE": str(max(300, len(urls)))}
    seconds, cpu = timed([*once, NIGHT], env)
    return {"seconds": seconds, "cpu_s": cpu, **archived(db)}


def bare(urls: dict[str, str], only: Path) -> dict[str, float]:
    started, cpu = time.monotonic(), _children_cpu()
    out = subprocess.run([sys.executable, __file__, "--bare", str(only), *urls.values()], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return {"seconds": time.monotonic() - started, "cpu_s": _children_cpu() - cpu, **json.loads(out.strip().splitlines()[-1])}


def workers(n: int, urls: dict[str, str], data_dir: str) -> dict[str, float]:
    """``n`` queue workers over the sources' 4 batches, DOWNLOAD_DELAY=0, on a fresh PostgreSQL database."""
    from domain.config import Settings
    from flow.jobs import defer_batches
    from flow.nightly import plan_batches
    from storage.db import Database

    url = crawl_throughput._create_pg_database()
    try:
        add_sources(url, urls, {**POLITE, "DOWNLOAD_DELAY": 0})
        settings = Settings(data_dir=data_dir, database_url=url, queue_url=url)
        db = Database(url)
        defer_batches(settings, plan_batches(db, [(name, "incremental") for name in urls], -(-len(urls) // 4)))
        db.dispose()
        cmd = [sys.executable, "-m", "ogi", "--data-dir", data_dir, "worker", "--db", url, "--queue-url", url, "--until-empty"]
        started = time.monotonic()
        procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
        codes = [p.wait() for p in procs]
        seconds = time.monotonic() - started
        if any(codes):
            raise SystemExit(f"a worker exited with {codes}")
        return {"seconds": seconds, **archived(url)}
    finally:
        crawl_throughput._drop_pg_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=300)
    parser.add_argument("--worker-hosts", type=int, default=60, help="hosts for the 1 vs 2 workers runs")
    args = parser.parse_args()
    from portal_simulator import PortalServer

    built = portal(args.hosts)
    with PortalServer(built) as server, tempfile.TemporaryDirectory(prefix="ogi-nightly-") as tmp:
        urls, offered = server.base_urls, len(server.manifest().reports)
        print(f"portal: {args.hosts} hosts on 127.1.x.y, {offered} reports", flush=True)
        results = {"nightly": nightly(urls, f"{tmp}/nightly")}
        print("nightly:", results["nightly"], flush=True)
        only = Path(tmp) / "urls.txt"
        only.write_text("\n".join(sorted(set(server.log.urls()))), encoding="utf-8")
        results["bare"] = bare(urls, only)
        print("bare:", results["bare"], flush=True)
        few = dict(list(urls.items())[:args.worker_hosts])
        for n in (1, 2):
            results[f"workers{n}"] = workers(n, few, f"{tmp}/w{n}")
            print(f"{n} worker(s):", results[f"workers{n}"], flush=True)
    report(results, args, offered)


def report(r: dict[str, dict[str, float]], args: argparse.Namespace, offered: int) -> None:
    nb, bb = r["nightly"], r["bare"]
    w1, w2 = r["workers1"], r["workers2"]
    few_reports = w1["reports"]
    lines = [
        f"nightly at scale ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, shared machine)",
        f"command: bench/nightly_scale.py --hosts {args.hosts} --worker-hosts {args.worker_hosts}",
        f"portal: {args.hosts} hosts on 127.1.x.y, {offered} reports; per source " + json.dumps(POLITE),
        f"bare spider, one process : {bb['seconds']:.1f} s wall ({bb['cpu_s']:.1f} s CPU), {bb['pages']} responses",
        f"scheduler.py --once      : {nb['seconds']:.1f} s wall (crawl span {nb['crawl_s']:.1f} s), {nb['pages']} pages, "
        f"{nb['reports']}/{offered} reports archived",
        f"  after the crawl        : {nb['seconds'] - nb['crawl_s']:.1f} s (start-up, the extraction tail, diffs, index, "
        f"compliance, alerts; extraction runs beside the crawl)",
        f"  CPU of the command     : {nb['cpu_s']:.1f} s (scheduler, crawl and extraction processes; "
        f"{nb['cpu_s'] / max(nb['reports'], 1) * 1000:.0f} ms per report)",
        f"bare/nightly             : {bb['seconds'] / nb['seconds']:.2f} (target >= 0.8: "
        f"{'met' if bb['seconds'] / nb['seconds'] >= 0.8 and nb['reports'] == offered else 'NOT met'})",
        f"queue (PostgreSQL, DOWNLOAD_DELAY=0, {args.worker_hosts} hosts, 4 batches):",
        *(f"  {n} worker(s): {w['seconds']:.1f} s wall (crawl span {w['crawl_s']:.1f} s), {w['pages']} pages, "
          f"{w['reports']} reports" for n, w in ((1, w1), (2, w2))),
        f"  speed-up 2 vs 1: {w1['seconds'] / w2['seconds']:.2f}x",
        f"per-page crawl cost (1 worker, CPU-bound): {w1['crawl_s'] / max(w1['pages'], 1) * 1000:.1f} ms",
        f"per-report after-crawl cost (1 worker, inline HTML): "
        f"{max(w1['seconds'] - w1['crawl_s'], 0) / max(few_reports, 1) * 1000:.1f} ms",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text, encoding="utf-8")


def run_bare_child(only: Path, urls: list[str]) -> None:
    """The bare spider with the sources' politeness for every host, all hosts in flight at once."""
    crawl_throughput.POLITENESS = {"CONCURRENT_REQUESTS": str(max(16, len(urls))), "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
                                   "DOWNLOAD_DELAY": "1", "RANDOMIZE_DOWNLOAD_DELAY": "False", "AUTOTHROTTLE_ENABLED": "False"}
    print(json.dumps(crawl_throughput.run_bare(urls, set(only.read_text(encoding="utf-8").split()))))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        run_bare_child(Path(sys.argv[2]), sys.argv[3:])
    else:
        main()
