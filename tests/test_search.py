"""Chinese full-text search (storage/search.py) on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from storage.db import Database
from storage.models import ReportVersion
from storage.search import SearchQuery, compact_index, grams, index_version, search, snippet, sync_index
from tests.seeding import Seeded


@pytest.fixture
def synced(db: Database, seeded: Seeded) -> Seeded:
    with db.session() as s:
        sync_index(s)
    return seeded


def _reports(db: Database, **kw) -> list[int]:
    with db.session() as s:
        return [h.report_id for h in search(s, SearchQuery(**kw)).hits]


def test_grams_are_characters_and_pairs_broken_by_punctuation() -> None:
    assert grams("掌政，Ｒ1") == {"掌", "政", "掌政", "r", "1", "r1"}


@pytest.mark.parametrize("q", ["掌政", "复议", "掌", "掌政镇", "行政复议"])
def test_short_and_long_chinese_queries_find_their_report(db: Database, synced, q: str) -> None:
    assert _reports(db, q=q) == [synced.zhangzheng]


def test_two_terms_are_anded_and_misses_return_nothing(db: Database, synced) -> None:
    assert _reports(db, q="政务公开 众兴") == [synced.zhongxing]
    assert _reports(db, q="掌政 众兴") == []
    assert _reports(db, q="不存在的词") == []
    assert _reports(db, q="%") == [] and _reports(db, q="'\"") == []


def test_only_the_newest_version_is_searched(db: Database, synced) -> None:
    assert _reports(db, q="阳光政府") == [synced.zhongxing]  # only in version 2
    with db.session() as s:
        hit = search(s, SearchQuery(q="阳光")).hits[0]
        assert hit.version == 2 and "<mark>阳光</mark>" in hit.snippet


def test_filters_region_prefix_year_template_agency_failing(db: Database, synced) -> None:
    assert _reports(db, region="宁夏回族自治区") == [synced.zhangzheng]
    assert _reports(db, region="安徽省/淮南市") == [synced.zhongxing]
    assert _reports(db, region="安徽") == []  # a hierarchy prefix, not a substring
    assert _reports(db, year=2018) == [synced.zhangshu]
    assert _reports(db, template="2019") == [synced.zhongxing]
    assert _reports(db, agency="樟树") == [synced.zhangshu]
    assert _reports(db, failing="any") == [synced.zhangzheng]
    assert _reports(db, failing="R1-balance", q="政府") == [synced.zhangzheng]
    assert _reports(db, failing="R2-row-total") == []


def test_region_filter_takes_a_division_code_or_its_prefix(db: Database, synced) -> None:
    from storage.models import Report

    with db.session() as s:
        s.get(Report, synced.zhongxing).region_code = "340422"  # 寿县, 淮南市, 安徽省
        s.get(Report, synced.zhangshu).region_code = "360982"
    assert _reports(db, region="340000") == _reports(db, region="3404") == _reports(db, region="340422") == [synced.zhongxing]
    assert _reports(db, region="36") == [synced.zhangshu] and _reports(db, region="110000") == []


def test_sorting_and_pagination(db: Database, synced) -> None:
    assert _reports(db, sort="year") == [synced.zhangzheng, synced.zhongxing, synced.zhangshu]
    assert _reports(db, sort="year_asc") == [synced.zhangshu, synced.zhongxing, synced.zhangzheng]
    with db.session() as s:
        res = search(s, SearchQuery(sort="year", per_page=2, page=2))
    assert res.total == 3 and res.pages == 2 and [h.report_id for h in res.hits] == [synced.zhangshu]


def test_reextracted_text_is_found_after_sync_or_index_version(db: Database, synced) -> None:
    """A writer that changes text without indexing is caught up by sync_index (queue filled by triggers)."""
    with db.session() as s:
        v = s.get(ReportVersion, _newest(s, synced.zhangshu))
        v.text = v.text + "\n新增内容：药都"
    assert _reports(db, q="药都新增") == []  # 4 chars: trigram side is current at once ...
    assert _reports(db, q="新增内容") == [synced.zhangshu]
    with db.session() as s:
        assert sync_index(s) == 1
    assert _reports(db, q="新增") == [synced.zhangshu]
    with db.session() as s:
        v = s.get(ReportVersion, _newest(s, synced.zhangshu))
        v.text = "全文替换：萍乡"
        index_version(s, v)
        assert sync_index(s) == 0
    assert _reports(db, q="萍乡") == [synced.zhangshu]
    assert _reports(db, q="新增") == []


def _newest(s, report_id: int) -> int:
    return max(v.id for v in s.query(ReportVersion).filter_by(report_id=report_id))


def test_snippet_escapes_html_and_marks_matches() -> None:
    out = snippet("前文<script>alert(1)</script>掌政镇政务公开", ["掌政"])
    assert "<script>" not in out and "&lt;script&gt;" in out and "<mark>掌政</mark>" in out


def test_sqlite_triggers_lost_to_a_table_rebuild_are_restored(tmp_path, blobs) -> None:
    """A batch migration that rebuilds report_versions drops its triggers; sync_index puts them back."""
    from tests.seeding import seed_archive

    db = Database(f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    ids = seed_archive(db, blobs)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER search_rv_update")
        conn.exec_driver_sql("UPDATE report_versions SET text = '重建后的文本：鄱阳湖' WHERE report_id = ?", (ids.zhangshu,))
    with db.session() as s:
        sync_index(s)
    assert _reports(db, q="鄱阳湖") == [ids.zhangshu] and _reports(db, q="鄱阳") == [ids.zhangshu]
    assert _reports(db, q="药都") == []
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'search_rv_update'").scalar() == 1
    db.dispose()


def test_more_matches_than_the_count_cap_are_counted_as_capped(db: Database, synced, monkeypatch) -> None:
    """Past COUNT_CAP the total is "N+" and pages still come newest first, with and without a query."""
    import storage.search

    monkeypatch.setattr(storage.search, "COUNT_CAP", 1)
    with db.session() as s:
        for q in ("", "政府信息", "政府"):
            res = search(s, SearchQuery(q=q, per_page=2))
            assert res.capped and res.total == 1 and len(res.hits) == 2
            assert res.hits[0].version_id > res.hits[1].version_id


def test_year_sort_past_the_count_cap_walks_the_years_in_order(db: Database, synced, monkeypatch) -> None:
    """Capped year sorts are taken year by year; pages must match the uncapped order exactly."""
    import storage.search

    uncapped = {sort: _reports(db, sort=sort) for sort in ("year", "year_asc")}
    monkeypatch.setattr(storage.search, "COUNT_CAP", 1)
    for sort, expected in uncapped.items():
        assert _reports(db, sort=sort) == expected
        pages = [_reports(db, sort=sort, per_page=1, page=p) for p in (1, 2, 3, 4)]
        assert pages == [[expected[0]], [expected[1]], [expected[2]], []]


def test_compact_index_merges_the_segments_that_small_writes_leave(db: Database, synced) -> None:
    """Each re-indexed version in its own transaction adds FTS5 segments; compaction merges
    them into one, a bounded step at a time, and every query finds what it found before."""
    queries = ("掌政", "复议", "政府信息公开", "樟树市")
    before = {q: _reports(db, q=q) for q in queries}
    for _ in range(3):
        with db.session() as s:
            for v in s.query(ReportVersion):
                v.text += " "  # an UPDATE of text re-indexes the trigram side (trigger) ...
                index_version(s, v)  # ... and this the gram side
                s.commit()

    def segments() -> dict[str, int]:
        with db.engine.connect() as conn:
            return {t: conn.exec_driver_sql(f"SELECT count(DISTINCT segid) FROM {t}_idx").scalar()
                    for t in ("search_grams", "search_trigram")}

    if db.dialect != "sqlite":
        with db.session() as s:
            assert compact_index(s) is False  # GIN indexes: nothing to merge by hand
        return
    assert segments()["search_grams"] > 1
    steps = 0
    while True:
        with db.session() as s:
            if not compact_index(s, pages=1):
                break
        steps += 1
    assert steps >= 1 and segments() == {"search_grams": 1, "search_trigram": 1}
    assert {q: _reports(db, q=q) for q in queries} == before
