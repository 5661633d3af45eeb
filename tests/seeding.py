"""A small seeded archive for the export, search, API and browser tests.

Reports are recorded the way the crawler records them (``storage.versions.record_report``),
then given what extraction would have filled in (text, sections, values, checks), so the
web and export code read exactly the rows production writes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from domain.config import Settings
from domain.schema import keys_for
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import Blob, CheckResult, ExtractedValue
from storage.versions import ReportCandidate, record_report
from web.app import create_app

R1_CELLS = [f"applications.{row}.natural_person" for row in ("new", "carried_over", "result.total", "carried_forward")]
T0 = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)

ZHANGZHENG_TEXT = (
    "兴庆区掌政镇人民政府2021年政府信息公开工作年度报告\n"
    "一、总体情况\n2021年，掌政镇深入贯彻《中华人民共和国政府信息公开条例》，扎实推进政务公开。\n"
    "二、主动公开政府信息情况\n本年制发行政规范性文件2件。\n"
    "三、收到和处理政府信息公开申请情况\n本年新收政府信息公开申请12件。\n"
    "四、政府信息公开行政复议、行政诉讼情况\n本年度发生行政复议1起，结果维持。\n"
    "五、存在的主要问题及改进情况\n公开内容还不够全面。\n"
    "六、其他需要报告的事项\n无。"
)
ZHONGXING_V1 = (
    "众兴镇2020年度政府信息公开工作年度报告\n一、总体情况\n我镇政务公开工作始终本着“实事求是、政务公开”的原则。\n"
    "三、收到和处理政府信息公开申请情况\n2020年度我镇未收到依申请公开信息。"
)
ZHONGXING_V2 = ZHONGXING_V1 + "\n（更新）补充了阳光政府建设的内容。"
ZHANGSHU_TEXT = (
    "樟树市2018年政府信息公开工作年度报告\n一、概述\n樟树市人民政府办公室围绕药都建设推进公开。\n"
    "二、主动公开政府信息情况\n全年主动公开政府信息3456条。"
)


@dataclass
class Seeded:
    zhangzheng: int  # report ids
    zhongxing: int
    zhangshu: int
    pdf_sha: str
    pdf_bytes: bytes


def _values_2021() -> dict[str, float | None]:
    """Full 2021 tables, consistent except R1 (balance) for natural persons."""
    out: dict[str, float | None] = {k.key: 0.0 for k in keys_for("2021")}
    out.update({
        "applications.new.natural_person": 12.0, "applications.new.total": 12.0,
        "applications.result.disclosed.natural_person": 9.0, "applications.result.disclosed.total": 9.0,
        "applications.result.total.natural_person": 9.0, "applications.result.total.total": 9.0,
        "applications.carried_forward.natural_person": 2.0, "applications.carried_forward.total": 2.0,
        "appeals.review.upheld": 1.0, "appeals.review.total": 1.0,
        "active.normative_docs.issued": 2.0, "active.fees.amount_10k_yuan": None,
    })
    return out


def _add(session, report, version, *, text: str, values: dict[str, float | None], checks: list[tuple[str, bool, str, list[str]]],
         template: str, year: int, agency: str, region: str) -> None:
    version.text, version.template, version.report_year = text, template, year
    version.agency, version.region, version.extraction_status = agency, region, "done"
    version.sections = {"overview": text.split("\n")[2] if "\n" in text else text}
    for key, value in values.items():
        raw = "—" if value is None else str(int(value))
        session.add(ExtractedValue(version_id=version.id, key=key, value=value, raw=raw))
    for rule, ok, detail, cells in checks:
        session.add(CheckResult(version_id=version.id, rule=rule, ok=ok, detail=detail, cells=cells))
    report.agency, report.region, report.report_year, report.template = agency, region, year, template


def seed_archive(db: Database, blobs: BlobStore) -> Seeded:
    """Three reports: 掌政镇 2021 (PDF, failing R1), 众兴镇 2020 (inline HTML, two versions), 樟树市 2018 (legacy)."""
    pdf = b"%PDF-1.4\n% zhangzheng 2021 annual report\n%%EOF\n"
    pdf_sha = blobs.put(pdf)
    html_v1, html_v2 = ZHONGXING_V1.encode(), ZHONGXING_V2.encode()
    with db.session() as s:
        s.add(Blob(sha256=pdf_sha, size=len(pdf), content_type="application/pdf", filename="掌政镇2021年报.pdf"))
        cand = ReportCandidate(
            url="http://www.xqq.gov.cn/zwgk/art/2022/1/20/zz2021.pdf",
            source_url="http://www.xqq.gov.cn/zwgk/art/2022/1/20/art_1.html",
            document_url="http://www.xqq.gov.cn/zwgk/art/2022/1/20/zz2021.pdf",
            title="兴庆区掌政镇人民政府2021年政府信息公开工作年度报告",
            sha256=pdf_sha, content_type="application/pdf", filename="掌政镇2021年报.pdf", fetched_at=T0,
            published_at="2022-01-20",
        )
        zz, v, _ = record_report(s, cand)
        _add(s, zz, v, text=ZHANGZHENG_TEXT, values=_values_2021(), template="2021", year=2021,
             agency="兴庆区掌政镇人民政府", region="宁夏回族自治区/银川市/兴庆区",
             checks=[("R1-balance", False, "natural_person: 12 + 0 != 9 + 2", R1_CELLS), ("R2-row-total", True, "", []),
                     ("R4-appeals-total", True, "", [])])
        for n, body in enumerate((html_v1, html_v2)):
            sha = blobs.put(body)
            s.add(Blob(sha256=sha, size=len(body), content_type="text/html; charset=utf-8", filename=""))
            cand = ReportCandidate(
                url="http://www.shouxian.gov.cn/public/zx2020.html", source_url="http://www.shouxian.gov.cn/public/zx2020.html",
                document_url=None, title="众兴镇2020年度政府信息公开工作年度报告", sha256=sha,
                content_type="text/html; charset=utf-8", fetched_at=T0 + timedelta(days=n), published_at="2021-01-25",
            )
            zx, v, _ = record_report(s, cand)
            _add(s, zx, v, text=(ZHONGXING_V1, ZHONGXING_V2)[n], values={"applications.new.total": 0.0 + n},
                 checks=[("R1-balance", True, "", [])], template="2019", year=2020, agency="众兴镇人民政府",
                 region="安徽省/淮南市/寿县")
        body = ZHANGSHU_TEXT.encode()
        sha = blobs.put(body)
        s.add(Blob(sha256=sha, size=len(body), content_type="text/html", filename=""))
        cand = ReportCandidate(
            url="http://www.zhangshu.gov.cn/zwgk/2018nb.html", source_url="http://www.zhangshu.gov.cn/zwgk/2018nb.html",
            document_url=None, title="樟树市2018年政府信息公开工作年度报告", sha256=sha, fetched_at=T0, published_at="2019-03-01",
        )
        zs, v, _ = record_report(s, cand)
        _add(s, zs, v, text=ZHANGSHU_TEXT, values={}, checks=[], template="legacy", year=2018,
             agency="樟树市人民政府", region="江西省/宜春市/樟树市")
        s.flush()
        return Seeded(zz.id, zx.id, zs.id, pdf_sha, pdf)


@pytest.fixture
def seeded(db: Database, blobs: BlobStore) -> Seeded:
    return seed_archive(db, blobs)


@pytest.fixture
def seeded_sqlite_url(tmp_path) -> str:
    """A seeded SQLite archive (for tests that run the app in another process)."""
    url = f"sqlite:///{tmp_path / 'seeded.sqlite3'}"
    db = Database(url)
    seed_archive(db, BlobStore(tmp_path / "data" / "blobs"))
    db.dispose()
    return url


@pytest.fixture
def client(settings: Settings, db: Database, seeded: Seeded) -> Iterator[TestClient]:
    """The web app on the seeded archive (started, so the search index is synced)."""
    settings.admin_token = "s3cret-admin"
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client
