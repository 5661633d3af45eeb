"""Generate a synthetic archive: N report versions with realistic Chinese text (2-5 KB) and values.

Used by ``bench/web_perf.py``; also runnable alone to get a big archive to click around in::

    .venv/bin/python bench/synth_archive.py --versions 100000 --db sqlite:////tmp/ogi-bench/ogi.sqlite3

Rows go in through the database's bulk paths (``executemany`` on SQLite, ``COPY`` on
PostgreSQL) into a freshly migrated, empty database, so the search triggers fire exactly as
they do for crawled reports; the gram index is then filled by ``storage.search.sync_index``,
the same catch-up ``ogi serve`` runs. About 1 in 5 reports has a second version. The text
is assembled from sentences in the style of real reports, with place names drawn from a
pool, so that rare (a town: ~10 reports), medium and very common terms all exist.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.schema import keys_for
from storage.db import Database, url_key
from storage.models import CheckResult, ExtractedValue
from storage.search import sync_index

PROVINCES = ("北京市 天津市 河北省 山西省 内蒙古自治区 辽宁省 吉林省 黑龙江省 上海市 江苏省 浙江省 安徽省 福建省 江西省 山东省 "
             "河南省 湖北省 湖南省 广东省 广西壮族自治区 海南省 重庆市 四川省 贵州省 云南省 西藏自治区 陕西省 甘肃省 青海省 "
             "宁夏回族自治区 新疆维吾尔自治区").split()
NAME_CHARS = ("安平阳泉清河东西南北新兴华龙凤山川林石桥湖江海宁和丰乐永长利德福寿昌明光金玉云天文武秀峰岭溪塘田家庄"
              "城关营屯集铺口坝湾洲港台寨岗坪沟堡寺桥马牛羊鹿鹤松柏桃李梅兰竹菊荷花草青红白黄绿")
SENTENCES = (
    "{year}年，{agency}深入贯彻落实《中华人民共和国政府信息公开条例》，坚持以公开为常态、不公开为例外。",
    "全年通过政府网站主动公开政府信息{n}条，其中政策文件{m}条，政策解读{k}篇。",
    "{town}持续深化重点领域信息公开，围绕乡村振兴、社会救助、环境保护等群众关注事项及时发布信息。",
    "严格落实公开属性源头认定机制，对拟制发的公文逐件明确公开方式。",
    "加强政府信息公开平台建设，优化政府网站栏目设置，提升信息检索和查阅的便利性。",
    "本年度共收到政府信息公开申请{k}件，均在法定期限内答复，答复率百分之百。",
    "本年度未发生因政府信息公开引起的行政复议和行政诉讼。",
    "发生政府信息公开行政复议{m}起，结果维持{m}起，未发生行政诉讼。",
    "政务新媒体共发布信息{n}条，阅读量持续增长，成为公众获取政务信息的重要渠道。",
    "召开新闻发布会{m}场，邀请部门主要负责人解读政策，回应社会关切。",
    "存在的主要问题：信息公开的及时性和规范性有待提高，政策解读形式较为单一。",
    "下一步，{agency}将进一步加强业务培训，提升工作人员的公开意识和业务能力。",
    "严格执行保密审查制度，坚持先审查后公开、一事一审，全年未发生泄密事件。",
    "推进基层政务公开标准化规范化建设，在{town}便民服务中心设立政务公开专区。",
    "按照《国务院办公厅政府信息公开信息处理费管理办法》，本年度未收取信息处理费。",
    "完善政府信息公开工作年度报告制度，按时编制并向社会公布年度报告。",
    "围绕优化营商环境，公开行政许可事项{k}项，公开行政处罚决定{m}件。",
    "加强政策解读回应，对重要政策文件做到应解读尽解读，解读材料与政策文件同步公开。",
    "依申请公开工作规范运行，申请受理、审查、答复等环节均按规定办理。",
    "本机关将持续做好政府信息公开工作，不断提高政务公开水平，建设人民满意的服务型政府。",
)
HEADINGS = ("一、总体情况", "二、主动公开政府信息情况", "三、收到和处理政府信息公开申请情况",
            "四、政府信息公开行政复议、行政诉讼情况", "五、存在的主要问题及改进情况", "六、其他需要报告的事项")
T0 = datetime(2025, 2, 1, tzinfo=UTC)


@dataclass
class Place:
    region: str
    county: str
    town: str


def _name(rng: random.Random, n: int = 2) -> str:
    return "".join(rng.choice(NAME_CHARS) for _ in range(n))


def places(rng: random.Random, count: int) -> list[Place]:
    """``count`` towns under counties under cities under the 31 provinces (names are invented)."""
    out = []
    counties = [(p, _name(rng) + "市", _name(rng) + rng.choice("县区")) for p in PROVINCES for _ in range(12)]
    for i in range(count):
        province, city, county = counties[i % len(counties)]
        town = _name(rng) + rng.choice(("镇", "乡", "街道"))
        out.append(Place(f"{province}/{city}/{county}", county, town))
    return out


def report_text(rng: random.Random, agency: str, town: str, year: int) -> str:
    """Six headed parts of filler sentences: 700-1700 characters (2-5 KB of UTF-8)."""
    target = rng.randint(700, 1700)
    parts, size = [f"{agency}{year}年政府信息公开工作年度报告"], 0
    for heading in HEADINGS:
        parts.append(heading)
        for _ in range(rng.randint(2, 6)):
            s = rng.choice(SENTENCES).format(year=year, agency=agency, town=town, n=rng.randint(50, 5000),
                                             m=rng.randint(1, 30), k=rng.randint(0, 200))
            parts.append(s)
            size += len(s)
    while size < target:
        s = rng.choice(SENTENCES).format(year=year, agency=agency, town=town, n=rng.randint(50, 5000),
                                         m=rng.randint(1, 30), k=rng.randint(0, 200))
        parts.insert(-1, s)
        size += len(s)
    return "\n".join(parts)


def _rows(n_versions: int, seed: int) -> Iterator[tuple[str, tuple]]:
    """("report", row) / ("url", row) / ("version", row) / ("value", row) / ("check", row) tuples."""
    rng = random.Random(seed)
    pool = places(rng, max(100, n_versions // 10))  # ~10 reports per town: a place query is rare
    version_id = report_id = value_id = check_id = 0
    while version_id < n_versions:
        report_id += 1
        place = rng.choice(pool)
        year = rng.choice((2019, 2020, 2021, 2022, 2023, 2024))
        template = "2019" if year < 2021 else "2021"
        agency = f"{place.county}{place.town}人民政府"
        url = f"http://www.gov{report_id % 997}.gov.cn/zwgk/{year}/nb_{report_id}.html"
        title = f"{agency}{year}年政府信息公开工作年度报告"
        yield "report", (report_id, url, url, None, title, agency, place.region, year, template, "current", T0, T0)
        yield "url", (report_id, report_id, url, url_key(url), T0)
        keys = [k.key for k in keys_for(template)]
        for number in range(1, 2 + (rng.random() < 0.2)):
            if version_id >= n_versions:
                break
            version_id += 1
            fetched = T0 + timedelta(days=30 * (number - 1))
            body = report_text(rng, agency, place.town, year)
            sha = url_key(f"{url}#{number}")
            yield "version", (version_id, report_id, number, sha, url, None, "text/html", "", fetched, fetched, fetched,
                              title, agency, place.region, year, template, f"{year + 1}-01-{rng.randint(10, 31)}", body,
                              json.dumps({"overview": body.split("\n")[2][:200]}, ensure_ascii=False), "{}", False, "done", "",
                              "bench")
            for key in keys:
                value_id += 1
                v = float(rng.randint(0, 40)) if rng.random() < 0.9 else None
                yield "value", (value_id, version_id, key, v, "" if v is None else str(int(v)), "", False, False)
            for rule in ("R1-balance", "R2-row-total", "R3-result-total", "R4-appeals-total", "R5-complete"):
                check_id += 1
                ok = rng.random() > 0.08
                yield "check", (check_id, version_id, rule, ok, "" if ok else f"{rule}: synthetic mismatch", "[]", None, None)


TABLES = {
    "report": ("reports", "id, url, source_url, document_url, title, agency, region, report_year, template, status, "
               "first_seen, last_seen"),
    "url": ("report_urls", "id, report_id, url, url_key, first_seen"),
    "version": ("report_versions", "id, report_id, version, sha256, source_url, document_url, content_type, filename, "
                "fetched_at, first_seen, last_seen, title, agency, region, report_year, template, published_at, text, "
                "sections, meta, ocr, extraction_status, extraction_error, extractor_version"),
    "value": ("extracted_values", "id, version_id, key, value, raw, unit, derived, ocr"),
    "check": ("checks", "id, version_id, rule, ok, detail, cells, expected, found"),
}


def _sqlite_value(value: object) -> object:
    """Datetimes as SQLAlchemy stores them in SQLite (naive UTC text), so the ORM reads them back."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


def _flush(db: Database, buffers: dict[str, list[tuple]]) -> None:
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.dialect == "sqlite":
            cur.execute("PRAGMA cache_size=-512000")  # 512 MB: the FTS5 trigram merges stay in memory
        for kind in TABLES:  # parents before children
            rows = buffers[kind]
            if not rows:
                continue
            table, cols = TABLES[kind]
            if db.dialect == "sqlite":
                if kind in ("report", "url", "version"):
                    rows = [tuple(_sqlite_value(v) for v in row) for row in rows]
                marks = ", ".join("?" * len(cols.split(",")))
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
            else:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            buffers[kind].clear()
        raw.commit()
    finally:
        raw.close()


def generate(db_url: str, n_versions: int, *, seed: int = 7, progress: bool = True) -> dict[str, float]:
    """Fill an empty database with ``n_versions`` versions; return timings in seconds."""
    db = Database(db_url)
    with db.engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM report_versions").scalar():
            raise SystemExit(f"{db_url} already has report versions: give an empty database")
    t0 = time.perf_counter()
    # Bulk-load practice: build the big tables' secondary indexes once at the end, not row by row.
    indexes = [*ExtractedValue.__table__.indexes, *CheckResult.__table__.indexes]
    with db.engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    buffers: dict[str, list[tuple]] = {k: [] for k in TABLES}
    done = 0
    for kind, row in _rows(n_versions, seed):
        buffers[kind].append(row)
        if kind == "version":
            done += 1
            if done % 5000 == 0:
                _flush(db, buffers)
                if progress:
                    print(f"  {done}/{n_versions} versions ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    _flush(db, buffers)
    with db.engine.begin() as conn:
        for index in indexes:
            index.create(conn)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            for table, _ in TABLES.values():
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    t_insert = time.perf_counter() - t0
    with db.session() as session:
        sync_index(session, batch=2000)
    with db.engine.begin() as conn:  # statistics for the planner, now that every table is full
        conn.exec_driver_sql("ANALYZE")
    timings = {"insert_s": t_insert, "gram_index_s": time.perf_counter() - t0 - t_insert}
    db.dispose()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite:////tmp/ogi-bench-web/ogi.sqlite3", help="an empty database URL")
    parser.add_argument("--versions", type=int, default=2000, help="report versions to generate (the benchmark uses 100000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    timings = generate(args.db, args.versions, seed=args.seed)
    print(f"{args.versions} versions into {args.db}: insert {timings['insert_s']:.1f} s, "
          f"gram index {timings['gram_index_s']:.1f} s")


if __name__ == "__main__":
    main()
