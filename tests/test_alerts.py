"""Alerts end to end: subscriptions, filters, digest content in zh and en, and exactly-once
delivery through a real SMTP server (aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from alerts.send import LEASE, send_pending
from alerts.subscriptions import Filters, InvalidSubscriptionError, make_filters, normalize_email, unsubscribe
from domain.config import Settings
from flow.after_crawl import after_crawl
from storage.db import Database
from storage.models import CrawlRun, Digest, Subscription, utcnow
from storage.versions import mark_gone
from tests.mail import BASE_URL, SENDER, Collector, add_report, start_smtp, sub

# -- building the archive state through the real versioning code ------------------------------

FIGURES_V1 = {"applications.new.total": 12, "applications.result.disclosed.total": 7, "appeals.review.total": 1,
              "appeals.litigation_direct.total": 0}


def withdraw(db: Database, url: str) -> None:
    with db.session() as s:
        assert mark_gone(s, url, None, 404) is not None


def new_run(db: Database) -> int:
    with db.session() as s:
        run = CrawlRun(kind="incremental")
        s.add(run)
        s.flush()
        return run.id


FUYANG = ("http://fy.test/2024/fy.pdf", "杭州市富阳区教育局2023年政府信息公开工作年度报告",
          "杭州市富阳区教育局", "浙江省/杭州市/富阳区", 2023)
YINZHOU = ("http://yz.test/2024/yz.docx", "宁波市鄞州区人民政府2023年政府信息公开工作年度报告",
           "宁波市鄞州区人民政府", "浙江省/宁波市/鄞州区", 2023)
PINGTAN = ("http://pt.test/2023/pt.html", "平潭综合实验区教育局2022年政府信息公开工作年度报告",
           "平潭综合实验区教育局", "福建省/平潭综合实验区", 2022)


def seed_three(db: Database, run_id: int | None = None) -> dict[str, int]:
    ids = {}
    for name, (url, title, agency, region, year), sha, text, failing in (
        ("fuyang", FUYANG, "a", "本机关全年共受理依申请公开 12 件。", True),
        ("yinzhou", YINZHOU, "b", "全年主动公开政府信息 3,520 条。", False),
        ("pingtan", PINGTAN, "c", "依 申 请 公 开 情 况 如 下", False),
    ):
        ids[name] = add_report(db, url, title=title, agency=agency, region=region, year=year, sha=sha, text=text,
                               values=FIGURES_V1, failing=failing, run_id=run_id)
    return ids


def titles(msg: EmailMessage) -> set[str]:
    body = msg.get_body(("plain",)).get_content()
    return {t for t in (FUYANG[1], YINZHOU[1], PINGTAN[1]) if t in body}


# -- tests ------------------------------------------------------------------------------------


def test_validation_refuses_bad_addresses_and_filters() -> None:
    assert normalize_email(" Researcher@Example.ORG ") == "Researcher@example.org"
    assert normalize_email("a@例子.中国").endswith("@xn--fsqu00a.xn--fiqs8s")
    for bad in ("", "no-at-sign", "a@b", "两个字@example.org", "a b@example.org", "a@-bad-.org", "a@@example.org"):
        with pytest.raises(InvalidSubscriptionError):
            normalize_email(bad)
    assert make_filters(region=" 浙江省／杭州市 ").region == "浙江省/杭州市"
    for kwargs in ({"region": "浙江省//杭州市"}, {"region": "浙江*"}, {"year": 1999}, {"year": 2999}, {"keyword": "  "}):
        with pytest.raises(InvalidSubscriptionError):
            make_filters(**kwargs)
    assert Filters.from_dict(make_filters(agency="教育局", year=2023, failing_only=True).as_dict()) == \
        Filters(agency="教育局", year=2023, failing_only=True)


def test_digests_follow_filters_and_decode_in_both_languages(db: Database, mail_settings: Settings, collector: Collector) -> None:
    seed_three(db)  # before anyone subscribed: nobody hears of these
    everyone = sub(db, "all@example.org")
    sub(db, "hz@example.org", region="浙江省/杭州市", lang="en")
    sub(db, "edu@example.org", agency="教育局", year=2023)
    sub(db, "kw@example.org", keyword="依申请公开", lang="en")
    sub(db, "failing@example.org", failing_only=True)
    sub(db, "new-only@example.org", events="new")
    assert send_pending(db, mail_settings)["digests"] == 0

    run_id = new_run(db)
    fresh = {name: add_report(db, url.replace(".test/", ".test/x/"), title=title, agency=agency, region=region, year=year,
                              sha=sha, text=text, values=FIGURES_V1, failing=failing, run_id=run_id)
             for name, (url, title, agency, region, year), sha, text, failing in (
                 ("fuyang", FUYANG, "d", "本机关全年共受理依申请公开 12 件。", True),
                 ("yinzhou", YINZHOU, "e", "全年主动公开政府信息 3,520 条。", False),
                 ("pingtan", PINGTAN, "f", "依 申 请 公 开 情 况 如 下", False))}
    summary = send_pending(db, mail_settings, run_id=run_id)
    assert (summary["digests"], summary["sent"], summary["failed"]) == (6, 6, 0)
    got = collector.by_recipient()
    assert {rcpt: titles(msgs[0]) for rcpt, msgs in got.items()} == {
        "all@example.org": {FUYANG[1], YINZHOU[1], PINGTAN[1]},
        "hz@example.org": {FUYANG[1]},
        "edu@example.org": {FUYANG[1]},
        "kw@example.org": {FUYANG[1], PINGTAN[1]},  # the keyword matches across the PDF's stray spaces
        "failing@example.org": {FUYANG[1]},
        "new-only@example.org": {FUYANG[1], YINZHOU[1], PINGTAN[1]},
    }
    assert all(len(msgs) == 1 for msgs in got.values())

    zh = got["all@example.org"][0]
    assert zh["Subject"] == "政府信息公开年报提醒：新发现 3 份"
    assert zh["From"].addresses[0].display_name == "政府信息公开年报存档"
    raw_headers = collector.envelopes[0].content.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()  # Chinese only as RFC 2047 encoded words
    assert zh.get_content_type() == "multipart/alternative"
    text, html = zh.get_body(("plain",)).get_content(), zh.get_body(("html",)).get_content()
    fid = fresh["fuyang"]
    for part in (text, html):
        assert "新发现的报告" in part and "杭州市富阳区教育局" in part and "浙江省/杭州市/富阳区" in part
        assert f"{BASE_URL}/reports/{fid}/versions/1/original" in part and "http://fy.test/x/2024/fy.pdf" in part
        assert f"{BASE_URL}/unsubscribe/{everyone}" in part
    assert "本年新收申请 12" in text and "予以公开 7" in text and "R1: 本年新收 + 上年结转 ≠ 办理结果总计" in text
    assert f'<a href="{BASE_URL}/reports/{fid}">' in html
    assert f"<{BASE_URL}/unsubscribe/{everyone}>" in zh["List-Unsubscribe"]
    assert zh["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mailto = f"<mailto:alerts@ogi.example.org?subject=unsubscribe%20{everyone}>".encode()
    assert any(mailto in e.content for e in collector.envelopes)  # verbatim, never an encoded word

    en = got["hz@example.org"][0]
    assert en["Subject"] == "OGI annual reports: 1 new"
    en_text = en.get_body(("plain",)).get_content()
    assert "New reports" in en_text and "New requests 12" in en_text and "Agency: 杭州市富阳区教育局" in en_text

    with db.session() as s:
        assert s.get(CrawlRun, run_id).stats["alerts"]["sent"] == 6
    before = len(collector.envelopes)
    assert send_pending(db, mail_settings)["sent"] == 0  # a second send sends nothing
    assert len(collector.envelopes) == before

    # a revision and a withdrawal: what changed, and who wants these events
    add_report(db, "http://fy.test/x/2024/fy.pdf", title=FUYANG[1], agency=FUYANG[2], region=FUYANG[3], year=2023, sha="g",
               text="更正后的报告", values={**FIGURES_V1, "applications.new.total": 15, "appeals.review.total": 2})
    withdraw(db, PINGTAN[0].replace(".test/", ".test/x/"))
    after_crawl(db, mail_settings, steps=("diffs", "alerts"))  # the digest reads the diffs this writes
    later = {rcpt: msgs for rcpt, msgs in collector.by_recipient().items() if len(msgs) > 1}
    # the revised text lost the keyword and passes the checks; the withdrawn report still has the keyword
    assert set(later) == {"all@example.org", "hz@example.org", "edu@example.org", "kw@example.org"}
    assert titles(later["kw@example.org"][1]) == {PINGTAN[1]}
    zh2 = later["all@example.org"][1]
    assert zh2["Subject"] == "政府信息公开年报提醒：修改 1 份，撤下 1 份"
    text2 = zh2.get_body(("plain",)).get_content()
    assert "一、本年新收政府信息公开申请数量 总计: 12 -> 15" in text2 and "行政复议 总计: 1 -> 2" in text2
    assert "被撤下的报告" in text2 and PINGTAN[1] in text2 and "原网址返回 HTTP 404" in text2
    en2 = later["hz@example.org"][1].get_body(("plain",)).get_content()
    assert "applications.new.total: 12 -> 15" in en2 and "Revised reports" in en2
    assert send_pending(db, mail_settings)["digests"] == 0


def test_smtp_down_then_up_delivers_each_digest_exactly_once(db: Database, mail_settings: Settings, smtp_port: int) -> None:
    sub(db, "one@example.org")
    sub(db, "two@example.org", lang="en")
    run_id = new_run(db)
    seed_three(db, run_id)
    t0 = utcnow()
    down = send_pending(db, mail_settings, run_id=run_id, now=t0)  # nothing listens on smtp_port
    assert (down["digests"], down["sent"], down["failed"], down["pending"]) == (2, 0, 2, 2)
    with db.session() as s:
        digests = list(s.scalars(select(Digest)))
        assert all(d.status == "pending" and d.attempts == 1 and d.last_error and d.next_attempt_at > t0 for d in digests)
        assert len(s.get(CrawlRun, run_id).stats["alerts"]["errors"]) == 2
    assert send_pending(db, mail_settings, now=t0 + timedelta(minutes=1))["failed"] == 0  # backing off: not retried yet
    again = send_pending(db, mail_settings, now=t0 + timedelta(minutes=6))  # still down: second failure, longer back-off
    assert again["failed"] == 2
    with db.session() as s:
        assert {d.attempts for d in s.scalars(select(Digest))} == {2}
        assert all(d.next_attempt_at >= t0 + timedelta(minutes=16) for d in s.scalars(select(Digest)))

    handler = Collector()
    controller = start_smtp(smtp_port, handler)
    try:
        up = send_pending(db, mail_settings, now=t0 + timedelta(hours=1))
        assert (up["sent"], up["pending"]) == (2, 0)
        assert send_pending(db, mail_settings, now=t0 + timedelta(days=2))["sent"] == 0
    finally:
        controller.stop()
    assert sorted(r for e in handler.envelopes for r in e.rcpt_tos) == ["one@example.org", "two@example.org"]
    with db.session() as s:
        assert {(d.status, d.attempts, d.last_error) for d in s.scalars(select(Digest))} == {("sent", 3, "")}


def test_subscribers_hear_only_later_events_and_unsubscribe_stops_mail(db: Database, mail_settings: Settings,
                                                                     collector: Collector) -> None:
    seed_three(db)
    token = sub(db, "late@example.org")
    sub(db, "late@example.org", lang="en", region="福建省")
    with db.session() as s:
        assert {x.since_event_id for x in s.scalars(select(Subscription))} == {3}
    add_report(db, "http://pt.test/2024/new.html", title="平潭2024", agency="平潭", region="福建省/平潭综合实验区",
               year=2024, sha="h")
    with db.session() as s:
        assert unsubscribe(s, token) == 1  # by token: only that subscription
    assert send_pending(db, mail_settings)["sent"] == 1
    add_report(db, "http://pt.test/2025/new.html", title="平潭2025", agency="平潭", region="福建省/平潭综合实验区",
               year=2025, sha="i")
    with db.session() as s:
        assert unsubscribe(s, "LATE@example.org") == 1  # by address: every remaining one
        assert unsubscribe(s, "nobody@example.org") == 0
    assert send_pending(db, mail_settings)["digests"] == 0
    assert len(collector.envelopes) == 1


class KillingCollector(Collector):
    """Kills the sending process at one point of the SMTP exchange (once), then behaves normally.

    ``at="data"``: after the server has the whole message but before the client reads the
    250 reply, the worst moment. ``at="rcpt"``: in the middle of the transaction, before DATA.
    """

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at: str | None = at
        self.victim: subprocess.Popen | None = None

    def _kill_victim(self) -> None:
        deadline = time.monotonic() + 10
        while self.victim is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(self.victim.pid, signal.SIGKILL)
        self.victim.wait(10)
        self.at = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if self.at == "rcpt":
            self._kill_victim()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        if self.at == "data":
            self._kill_victim()
        return "250 OK"


SENDER_SCRIPT = """
import sys
import threading
from alerts.send import send_pending
from domain.config import load_settings
from storage.db import Database
send_pending(Database(sys.argv[1]), load_settings())
"""


@pytest.mark.parametrize("at", ["data", "rcpt"])
def test_process_killed_mid_send_never_duplicates_or_drops(db: Database, mail_settings: Settings, smtp_port: int,
                                                           tmp_path, at: str) -> None:
    sub(db, "first@example.org")
    sub(db, "second@example.org", lang="en")
    seed_three(db)
    handler = KillingCollector(at)
    controller = start_smtp(smtp_port, handler)
    try:
        env = {**os.environ, "OGI_SMTP_HOST": "127.0.0.1", "OGI_SMTP_PORT": str(smtp_port), "OGI_SMTP_FROM": SENDER,
               "OGI_BASE_URL": BASE_URL}
        handler.victim = subprocess.Popen(
            [sys.executable, "-c", SENDER_SCRIPT, db.url],
            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert handler.victim.wait(60) == -signal.SIGKILL
        with db.session() as s:
            states = [d.status for d in s.scalars(select(Digest).order_by(Digest.id))]
        assert states == (["committing", "pending"] if at == "data" else ["sending", "pending"])

        early = send_pending(db, mail_settings)  # the lease has not expired: the dead sender's digest is left alone
        assert (early["sent"], early["resumed"], early["unconfirmed"]) == (1, 0, 0)
        late = send_pending(db, mail_settings, now=utcnow() + LEASE + timedelta(minutes=1))
        if at == "data":  # the server had the message: marked sent (unconfirmed), not sent again
            assert (late["sent"], late["unconfirmed"]) == (0, 1)
        else:  # DATA never ended, the server dropped it: sent again
            assert (late["sent"], late["resumed"]) == (1, 1)
        assert send_pending(db, mail_settings, now=utcnow() + timedelta(days=1))["sent"] == 0
    finally:
        controller.stop()
    assert sorted(r for e in handler.envelopes for r in e.rcpt_tos) == ["first@example.org", "second@example.org"]
    with db.session() as s:
        digests = list(s.scalars(select(Digest).order_by(Digest.id)))
        assert [d.status for d in digests] == ["sent", "sent"]
        assert digests[0].last_error.startswith("unconfirmed") == (at == "data")
    first = next(m for e, m in zip(handler.envelopes, handler.messages(), strict=True) if e.rcpt_tos == ["first@example.org"])
    assert first["Message-ID"].strip() == digests[0].message_id  # fixed before the first attempt


def test_two_senders_at_once_send_each_digest_once(db: Database, mail_settings: Settings, collector: Collector) -> None:
    addresses = [f"reader{i}@example.org" for i in range(8)]
    for address in addresses:
        sub(db, address)
    seed_three(db)
    summaries: list[dict] = []
    threads = [threading.Thread(target=lambda: summaries.append(send_pending(db, mail_settings))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(s["digests"] for s in summaries) == 8 and sum(s["sent"] for s in summaries) == 8
    assert sorted(r for e in collector.envelopes for r in e.rcpt_tos) == sorted(addresses)


class HangUpAfterData(Collector):
    """Takes the message, then drops the connection instead of answering the final dot."""

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        server.transport.abort()
        return "250 OK"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_reply_to_the_final_dot_is_unconfirmed_not_resent(db: Database, mail_settings: Settings, smtp_port: int) -> None:
    sub(db, "reader@example.org")
    seed_three(db)
    handler = HangUpAfterData()
    controller = start_smtp(smtp_port, handler)
    try:
        first = send_pending(db, mail_settings)
        assert (first["sent"], first["unconfirmed"], first["pending"]) == (0, 1, 0)
        assert send_pending(db, mail_settings, now=utcnow() + timedelta(days=1))["sent"] == 0
    finally:
        controller.stop()
    assert len(handler.envelopes) == 1
    with db.session() as s:
        digest = s.scalars(select(Digest)).one()
        assert digest.status == "sent" and digest.last_error.startswith("unconfirmed")
