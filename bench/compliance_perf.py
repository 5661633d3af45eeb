"""Compliance page and API on a synthetic archive (issue 15), on SQLite and PostgreSQL.

Target: compliance page and API p95 < 100 ms on the 100,000-version archive. The archive is
bench/synth_archive.py's (in databases of its own, as sources are added to it); one source
per county is attached to its reports, the expectations are evaluated once as on 1 May 2025
(the after-crawl step's cost is printed too), then the pages are timed in-process (FastAPI
TestClient: routing, queries, Jinja rendering, JSON). Run::

    .venv/bin/python bench/compliance_perf.py                  # 100,000 versions, both back ends
    .venv/bin/python bench/compliance_perf.py --versions 5000  # a quick look

Figures are printed and written to bench/results/compliance_perf.txt.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from bench.web_perf import PG_SERVER, _ensure_archive, _p95, _timed
from domain.config import Settings
from storage.compliance import evaluate
from storage.db import Database
from storage.models import Expectation, Report, Source
from web.app import create_app

RESULTS = Path(__file__).parent / "results" / "compliance_perf.txt"
AS_OF = datetime(2025, 5, 1, tzinfo=UTC)


def _attach_sources(db: Database) -> str:
    """One source per county (省/市/县 of the synthetic reports), unless already attached."""
    with db.session() as session:
        if session.scalar(select(Source.id).limit(1)) is not None:
            return "sources reused"
        regions = sorted(set(session.scalars(select(Report.region).distinct())))
        for i, region in enumerate(regions):
            province, city, county = region.split("/")
            source = Source(name=f"bench-{i}", province=province, city=city, county=county)
            session.add(source)
            session.flush()
            session.execute(update(Report).where(Report.region == region).values(source_id=source.id))
    return f"{len(regions)} sources attached"


def _evaluate(db: Database) -> str:
    t = time.perf_counter()
    with db.session() as session:
        counts = evaluate(session, now=AS_OF, grace_days=14)
    with db.session() as session:
        n = session.query(Expectation).count()
    shown = {k: v for k, v in counts.items() if isinstance(v, int)}
    return f"evaluate (the after-crawl compliance step): {time.perf_counter() - t:.1f} s, {n} expectations {shown}"


def bench_backend(name: str, url: str, versions: int, runs: int) -> list[str]:
    lines = [f"== {name}: {url.split('@')[-1]}", f"archive: {versions} versions ({_ensure_archive(url, versions)})"]
    db = Database(url)
    lines += [_attach_sources(db), _evaluate(db)]
    with db.session() as session:
        province = session.scalar(select(Expectation.region).limit(1)).split("/")[0]
        code = session.scalar(select(Expectation.region_code).where(Expectation.region_code != "").limit(1)) or "11"
    settings = Settings(data_dir=tempfile.mkdtemp(prefix="ogi-compliance-perf-"), database_url=url)
    cases = {
        "year, national": {"year": "2023"},
        "year + province": {"year": "2023", "region": province},
        "year + code prefix": {"year": "2023", "region": code[:2]},
        "year + status=missing": {"year": "2023", "status": "missing"},
        "year, page 20": {"year": "2023", "page": "20"},
    }
    with TestClient(create_app(settings, db)) as client:
        lines.append(f"{'selection':28} {'rows':>7} {'API p50':>8} {'API p95':>8} {'HTML p50':>9} {'HTML p95':>9}")
        api_all: list[float] = []
        html_all: list[float] = []
        for label, params in cases.items():
            total = client.get("/api/compliance", params=params).json()["total"]
            api = _timed(partial(client.get, "/api/compliance", params=params), runs)
            html = _timed(partial(client.get, "/compliance", params=params), runs)
            api_all += api
            html_all += html
            lines.append(f"{label:28} {total:>7} {statistics.median(api):8.1f} {_p95(api):8.1f} "
                         f"{statistics.median(html):9.1f} {_p95(html):9.1f}")
        lines.append(f"p95 over all selections: API {_p95(api_all):.1f} ms, page {_p95(html_all):.1f} ms (target < 100)")
    db.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40, help="timed requests per selection")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "ogi-bench-compliance"))
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    urls = {"sqlite": f"sqlite:///{Path(args.work) / f'compliance_{args.versions}.sqlite3'}",
            "postgresql": f"{PG_SERVER}/ogi_bench_compliance_{args.versions}"}
    chosen = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    lines = [f"bench/compliance_perf.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.node()}  {os.cpu_count()} CPUs  "
             f"load avg {os.getloadavg()[0]:.1f} (other jobs share this machine)"]
    for name in chosen:
        lines += bench_backend(name, urls[name], args.versions, args.runs)
        print("\n".join(lines), flush=True)
    lines.append(f"load avg at the end: {os.getloadavg()[0]:.1f}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
