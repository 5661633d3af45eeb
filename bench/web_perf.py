"""Web and export performance on a synthetic archive (issue 7), on SQLite and PostgreSQL.

Targets: search p95 < 100 ms (3+ character and 2-character Chinese queries), report page
< 50 ms, full wide export < 60 s, for an archive of 100,000 report versions. Requests go
through the whole application in-process (FastAPI TestClient: routing, queries, Jinja
rendering, JSON), so only the network is left out. Run::

    .venv/bin/python bench/web_perf.py                  # 100,000 versions, both back ends
    .venv/bin/python bench/web_perf.py --versions 5000  # a quick look

Archives are generated once by bench/synth_archive.py (SQLite under --work, PostgreSQL in a
database named ogi_bench_web_<N>) and reused by later runs. Figures are printed and written
to bench/results/web_perf.txt.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synth_archive import generate  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from ogi import export  # noqa: E402
from ogi.config import Settings  # noqa: E402
from storage.db import Database  # noqa: E402
from web.app import create_app  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "web_perf.txt"
PG_SERVER = os.environ.get("OGI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def _ensure_archive(url: str, versions: int) -> str:
    """Generate the archive unless it already holds ``versions`` versions; return a note."""
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        admin = sa.create_engine(PG_SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres",
                                 isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first():
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    db = Database(url)
    with db.engine.connect() as conn:
        have = conn.exec_driver_sql("SELECT count(*) FROM report_versions").scalar()
    db.dispose()
    if have == versions:
        return "reused"
    if have:
        raise SystemExit(f"{url} holds {have} versions, not {versions}: drop it first")
    t = generate(url, versions)
    return f"generated: insert {t['insert_s']:.0f} s, gram index {t['gram_index_s']:.0f} s"


def _pick_queries(db: Database) -> dict[str, dict[str, str]]:
    """Queries of each kind, with terms taken from the archive itself."""
    with db.engine.connect() as conn:
        agency = conn.exec_driver_sql("SELECT agency FROM report_versions WHERE id = 17").scalar()
        region = conn.exec_driver_sql("SELECT region FROM report_versions WHERE id = 17").scalar()
    town = agency.split("人民政府")[0][3:]  # 桃松县宁鹿乡人民政府 -> 宁鹿乡
    province = region.split("/")[0]
    return {
        "3+ rare (town)": {"q": town},
        "3+ medium (便民服务中心)": {"q": "便民服务中心"},
        "3+ common (政府信息公开)": {"q": "政府信息公开"},
        "3+ common (行政复议)": {"q": "行政复议"},
        "2 rare (town)": {"q": town[:2]},
        "2 medium (营商)": {"q": "营商"},
        "2 common (复议)": {"q": "复议"},
        "2 absent (掌政)": {"q": "掌政"},
        "2 + filters (复议, province, year)": {"q": "复议", "region": province, "year": "2021"},
        "3+ + failing rule": {"q": "政府信息公开", "failing": "R1-balance"},
        "2 + sort=year": {"q": "复议", "sort": "year"},
    }


def _timed(fn, runs: int) -> list[float]:  # noqa: ANN001
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _p95(ms: list[float]) -> float:
    return statistics.quantiles(ms, n=20)[-1] if len(ms) >= 20 else max(ms)


def bench_backend(name: str, url: str, versions: int, runs: int) -> list[str]:
    lines = [f"== {name}: {url.split('@')[-1]}"]
    lines.append(f"archive: {versions} versions ({_ensure_archive(url, versions)})")
    db = Database(url)
    settings = Settings(data_dir=tempfile.mkdtemp(prefix="ogi-web-perf-"), database_url=url)
    queries = _pick_queries(db)
    with TestClient(create_app(settings, db)) as client:
        all_search: list[float] = []
        lines.append(f"{'search (API /api/reports, HTML /)':38} {'hits':>6} {'p50 ms':>8} {'p95 ms':>8} {'HTML p95':>9}")
        for label, params in queries.items():
            total = client.get("/api/reports", params=params).json()["total"]
            api = _timed(lambda: client.get("/api/reports", params=params), runs)
            page = _timed(lambda: client.get("/", params=params), max(5, runs // 3))
            if label.startswith(("3+ ", "2 ")) and "+" not in label[2:]:  # plain queries: no filter, default sort
                all_search += api
            lines.append(f"{label:38} {total:>6} {statistics.median(api):8.1f} {_p95(api):8.1f} {_p95(page):9.1f}")
        lines.append(f"search p95 over the plain 3+/2-char queries above: {_p95(all_search):.1f} ms (target < 100)")
        with db.engine.connect() as conn:
            top = conn.exec_driver_sql("SELECT max(report_id) FROM report_versions").scalar()
        rng = random.Random(1)
        ids = [rng.randint(1, top) for _ in range(runs * 2)]
        it = iter(ids * 2)
        report = _timed(lambda: client.get(f"/reports/{next(it)}"), len(ids) - 1)
        lines.append(f"report page /reports/{{id}}: p50 {statistics.median(report):.1f} ms, p95 {_p95(report):.1f} ms, "
                     f"max {max(report):.1f} ms (target < 50)")
        it = iter(ids * 2)
        api = _timed(lambda: client.get(f"/api/reports/{next(it)}"), len(ids) - 1)
        lines.append(f"report API /api/reports/{{id}}: p50 {statistics.median(api):.1f} ms, p95 {_p95(api):.1f} ms")
    for fmt, writer in (("csv", export.write_csv), ("parquet", export.write_parquet)):
        out = Path(settings.data_dir) / f"all.{fmt}"
        t = time.perf_counter()
        with db.session() as session:
            if fmt == "csv":
                with out.open("w", encoding="utf-8", newline="") as fh:
                    n = writer(export.iter_records(session, all_versions=True), fh)
            else:
                n = writer(export.iter_records(session, all_versions=True), str(out))
        secs = time.perf_counter() - t
        lines.append(f"full wide export ({fmt}, all versions): {n} rows, {out.stat().st_size / 1e6:.0f} MB in "
                     f"{secs:.1f} s (target < 60)")
        out.unlink()
    db.dispose()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40, help="timed requests per query")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "ogi-bench-web"), help="where the SQLite archive lives")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    urls = {
        "sqlite": f"sqlite:///{Path(args.work) / f'web_{args.versions}.sqlite3'}",
        "postgresql": f"{PG_SERVER}/ogi_bench_web_{args.versions}",
    }
    chosen = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    lines = [f"bench/web_perf.py  {time.strftime('%Y-%m-%d %H:%M')}  {platform.node()}  {os.cpu_count()} CPUs  "
             f"load avg {os.getloadavg()[0]:.1f} (other jobs share this machine)"]
    for name in chosen:
        lines += bench_backend(name, urls[name], args.versions, args.runs)
        print("\n".join(lines), flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
