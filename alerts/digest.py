"""Digest emails: what one subscriber is told about one batch of events, in Chinese or English.

The content is read back from the database each time a digest is (re)sent, so a retry after
an SMTP failure carries exactly the events the digest claimed. Messages are built with
``email.message.EmailMessage`` and ``policy.SMTP``: Chinese subjects and display names are
RFC 2047-encoded, bodies are UTF-8 with CRLF line ends, and the plain-text and HTML parts
say the same thing (``multipart/alternative``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.subscriptions import COMPLIANCE_EVENTS, EVENT_KINDS, Filters
from domain.config import Settings
from domain.schema import KEYS_BY_NAME
from storage.models import ChangeEvent, DigestEvent, ExtractedValue, Report, ReportVersion, Subscription
from storage.versions import latest_version

MAX_CHANGES = 15  # per revised report; the rest is summarised as "and N more"

KEY_FIGURES = (  # (canonical key, zh label, en label)
    ("applications.new.total", "本年新收申请", "New requests"),
    ("applications.carried_over.total", "上年结转申请", "Carried over from last year"),
    ("applications.result.disclosed.total", "予以公开", "Disclosed"),
    ("applications.result.partial.total", "部分公开", "Partly disclosed"),
    ("applications.result.total.total", "办理总计", "Requests answered"),
    ("appeals.review.total", "行政复议", "Administrative reviews"),
    ("appeals.litigation_direct.total", "行政诉讼（未经复议直接起诉）", "Lawsuits (direct)"),
    ("appeals.litigation_after_review.total", "行政诉讼（复议后起诉）", "Lawsuits (after review)"),
)

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "subject": "政府信息公开年报提醒：{counts}",
        "count.new": "新发现 {n} 份", "count.revised": "修改 {n} 份", "count.withdrawn": "撤下 {n} 份",
        "count.missing": "逾期未发布 {n} 份", "count.late": "逾期发布 {n} 份",
        "sep": "，",
        "intro": "以下政府信息公开工作年度报告符合您的订阅条件。",
        "heading.new": "新发现的报告", "heading.revised": "被修改的报告", "heading.withdrawn": "被撤下的报告",
        "heading.missing": "截止日期已过仍未发布的报告", "heading.late": "逾期发布的报告",
        "expected": "{agency}{year}年政府信息公开工作年度报告",
        "note.missing": "截止日期 {deadline}（另有 {grace} 天宽限期）已过，门户网站上仍未发现",
        "note.late": "{published} 发布，比截止日期 {deadline} 晚 {days} 天",
        "agency": "机关", "region": "地区", "year": "年度", "untitled": "（无标题）",
        "original": "原文", "archived": "存档副本", "page": "报告页面",
        "figures": "主要数字", "changes": "与上一版本相比的变化", "more": "另有 {n} 处变化",
        "failing": "未通过的勾稽关系检查", "withdrawn_at": "撤下时间",
        "note.restored": "此前被撤下，现重新出现", "note.moved": "报告已移至新网址：{urls}",
        "note.gone": "原网址返回 HTTP {status}", "note.not_listed": "已不在门户网站的栏目列表中",
        "filters": "订阅条件", "all_reports": "全部报告",
        "f.region": "地区", "f.agency": "机关", "f.year": "年度", "f.keyword": "关键词",
        "f.failing_only": "仅未通过勾稽检查的报告", "f.events": "事件",
        "unsubscribe": "退订", "unsubscribe_cli": "退订：请联系管理员执行 ogi unsubscribe {token}",
        "test.subject": "政府信息公开年报存档：测试邮件",
        "test.body": "这是一封测试邮件。收到此邮件说明邮件发送设置正确。",
        "footer": "此邮件由政府信息公开年报存档（ogi-archive）自动发送。",
    },
    "en": {
        "subject": "OGI annual reports: {counts}",
        "count.new": "{n} new", "count.revised": "{n} revised", "count.withdrawn": "{n} withdrawn",
        "count.missing": "{n} missing", "count.late": "{n} late",
        "sep": ", ",
        "intro": "These government information disclosure annual reports (政府信息公开工作年度报告) match your subscription.",
        "heading.new": "New reports", "heading.revised": "Revised reports", "heading.withdrawn": "Withdrawn reports",
        "heading.missing": "Reports not published by the deadline", "heading.late": "Reports published late",
        "expected": "{agency}: annual report for {year}",
        "note.missing": "not found on the portal by the deadline {deadline} plus {grace} days' grace",
        "note.late": "published {published}, {days} days after the deadline {deadline}",
        "agency": "Agency", "region": "Region", "year": "Year", "untitled": "(untitled)",
        "original": "Original", "archived": "Archived copy", "page": "Report page",
        "figures": "Key figures", "changes": "Changes since the previous version", "more": "and {n} more changes",
        "failing": "Failed consistency checks", "withdrawn_at": "Withdrawn on",
        "note.restored": "withdrawn earlier, now back online", "note.moved": "moved to a new address: {urls}",
        "note.gone": "the address answers HTTP {status}", "note.not_listed": "no longer listed on the portal",
        "filters": "Your subscription", "all_reports": "all reports",
        "f.region": "region", "f.agency": "agency", "f.year": "year", "f.keyword": "keyword",
        "f.failing_only": "only reports failing a consistency check", "f.events": "events",
        "unsubscribe": "Unsubscribe", "unsubscribe_cli": "To unsubscribe, ask the operator to run: ogi unsubscribe {token}",
        "test.subject": "ogi-archive: test message",
        "test.body": "This is a test message. Receiving it means the mail settings work.",
        "footer": "Sent automatically by ogi-archive, the archive of OGI annual reports.",
    },
}

class _UriListHeader(UnstructuredHeader):
    """``<uri>, <uri>`` kept verbatim, one per line: RFC 2369 URIs must never become encoded words,
    which is what the default folding does to a token longer than a line."""

    def fold(self, *, policy: Any) -> str:
        uris = (part.strip() for part in str(self).split(","))
        return f"{self.name}: " + f",{policy.linesep} ".join(uris) + policy.linesep


# A registry of our own, so the override does not leak into every EmailPolicy in the process.
POLICY = SMTP.clone(header_factory=HeaderRegistry())
POLICY.header_factory.map_to_type("list-unsubscribe", _UriListHeader)

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)


@dataclass
class Item:
    """One report in a digest, with everything the templates print."""

    kind: str
    title: str
    agency: str
    region: str
    year: int | None
    original_url: str
    archive_url: str = ""
    page_url: str = ""
    withdrawn_at: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    failing: list[str] = field(default_factory=list)
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (label, old, new)
    more_changes: int = 0
    notes: list[str] = field(default_factory=list)  # withdrawal reason, "found again", "moved to"


def sender(settings: Settings) -> Address:
    """The From address, display name and all (``政府信息公开年报 <alerts@example.org>`` works)."""
    name, addr = parseaddr(settings.smtp_from)
    if "@" not in addr:
        raise ValueError(f"smtp_from {settings.smtp_from!r} has no address (expected 'Name <user@host>')")
    return Address(display_name=name, addr_spec=addr)


def new_message_id(settings: Settings) -> str:
    """A Message-ID in the sender's domain; fixed when a digest is created, before any sending."""
    return make_msgid("ogi-digest", domain=sender(settings).domain)


def _number(value: float | None, raw: str) -> str:
    """A figure as people read it: 12 not 12.0; the printed text when there is no number."""
    if value is None:
        return raw or "—"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _values(session: Session, version_id: int) -> dict[str, ExtractedValue]:
    return {v.key: v for v in session.scalars(select(ExtractedValue).where(ExtractedValue.version_id == version_id))}


def _figures(values: dict[str, ExtractedValue], lang: str) -> list[tuple[str, str]]:
    col = 1 if lang == "zh" else 2
    return [(spec[col], _number(values[spec[0]].value, values[spec[0]].raw)) for spec in KEY_FIGURES if spec[0] in values]


def _label(key: str, lang: str) -> str:
    known = KEYS_BY_NAME.get(key)
    return known.label if (known and lang == "zh") else key


def _changes(event: ChangeEvent, lang: str) -> tuple[list[tuple[str, str, str]], int]:
    """(label, old, new) per changed value, and how many changed in all, as the after-crawl flow
    wrote them into the event (``details["changes"]``, see storage.diff.complete_revision_details).

    Nothing when the event made no new version (a return, a move) or its diff is not written yet.
    """
    written = (event.details or {}).get("changes") or {}
    rows = [(_label(c["key"], lang), _number(c["old"], c.get("old_raw", "")), _number(c["new"], c.get("new_raw", "")))
            for c in written.get("values", [])]
    return rows, int(written.get("values_changed", len(rows)))


def _notes(event: ChangeEvent, lang: str) -> list[str]:
    """Why a report was withdrawn, or that a revision is a return or a move."""
    t, details = TEXTS[lang], event.details or {}
    notes = []
    if details.get("restored"):
        notes.append(t["note.restored"])
    if details.get("new_urls"):
        notes.append(t["note.moved"].format(urls=", ".join(details["new_urls"])))
    reason = str(details.get("reason", ""))
    if reason.startswith("http_"):
        notes.append(t["note.gone"].format(status=reason[5:]))
    elif reason == "not_listed":
        notes.append(t["note.not_listed"])
    return notes


def compliance_item(event: ChangeEvent, settings: Settings, lang: str) -> Item:
    """A missing or late report: what was owed, by when, and where to look (the compliance
    page for a missing one, the report itself for a late one)."""
    t, d = TEXTS[lang], event.details or {}
    base = settings.base_url.rstrip("/")
    late = event.kind == "late"
    note = t[f"note.{event.kind}"].format(deadline=d.get("deadline"), grace=settings.compliance_grace_days,
                                          published=d.get("published_at"), days=d.get("days_late"))
    where = {"year": d.get("report_year"), "region": d.get("region", "")}
    page = f"/reports/{event.report_id}" if late else f"/compliance?{urlencode(where)}"
    return Item(kind=event.kind, title=t["expected"].format(agency=d.get("agency", ""), year=d.get("report_year")),
                agency=d.get("agency", ""), region=d.get("region", ""), year=d.get("report_year"),
                original_url=(event.report.document_url or event.report.url) if late else "",
                page_url=f"{base}{page}" if base else "", notes=[note])


def build_item(session: Session, event: ChangeEvent, settings: Settings, lang: str) -> Item:
    """Everything a digest says about one event."""
    if event.kind in COMPLIANCE_EVENTS:
        return compliance_item(event, settings, lang)
    report: Report = event.report
    version = session.get(ReportVersion, event.version_id) if event.version_id else latest_version(session, report)
    base = settings.base_url.rstrip("/")
    item = Item(
        kind=event.kind, title=report.title or (version.title if version else ""),
        agency=report.agency or (version.agency if version else ""), region=report.region or (version.region if version else ""),
        year=report.report_year or (version.report_year if version else None),
        original_url=((version.document_url or version.source_url) if version
                      else (report.document_url or report.source_url or report.url)),
        page_url=f"{base}/reports/{report.id}" if base else "",
        withdrawn_at=report.withdrawn_at.date().isoformat() if (event.kind == "withdrawn" and report.withdrawn_at) else "",
        notes=_notes(event, lang),
    )
    if version is None:
        return item
    if base:
        item.archive_url = f"{base}/reports/{report.id}/versions/{version.version}/original"
    values = _values(session, version.id)
    item.figures = _figures(values, lang)
    item.failing = [f"{c.rule}: {c.detail}" if c.detail else c.rule for c in version.checks if not c.ok]
    if event.kind == "revised":
        changes, total = _changes(event, lang)
        item.changes, item.more_changes = changes[:MAX_CHANGES], max(0, total - MAX_CHANGES)
    return item


def digest_items(session: Session, digest_id: int, settings: Settings, lang: str) -> list[Item]:
    """The items of one digest, in event order."""
    events = session.scalars(
        select(ChangeEvent).join(DigestEvent, DigestEvent.event_id == ChangeEvent.id)
        .where(DigestEvent.digest_id == digest_id).order_by(ChangeEvent.id)
    )
    return [build_item(session, event, settings, lang) for event in events]


def describe_filters(sub: Subscription, lang: str) -> str:
    """The subscription's conditions in words, so a reader knows why they got this email."""
    t = TEXTS[lang]
    f = Filters.from_dict(sub.filters)
    parts = [f"{t['f.' + name]}: {value}" for name, value in
             (("region", f.region), ("agency", f.agency), ("year", f.year), ("keyword", f.keyword)) if value]
    if f.failing_only:
        parts.append(t["f.failing_only"])
    parts.append(f"{t['f.events']}: {', '.join(sub.events or ())}")
    return t["sep"].join(parts) if len(parts) > 1 else f"{t['all_reports']}{t['sep']}{parts[0]}"


def subject_for(items: list[Item], lang: str) -> str:
    t = TEXTS[lang]
    counts = [t[f"count.{kind}"].format(n=n) for kind in EVENT_KINDS if (n := sum(i.kind == kind for i in items))]
    return t["subject"].format(counts=t["sep"].join(counts))


def unsubscribe_url(settings: Settings, sub: Subscription) -> str:
    base = settings.base_url.rstrip("/")
    return f"{base}/unsubscribe/{sub.token}" if base else ""


def _base_message(settings: Settings, to: str, subject: str, message_id: str, now: datetime) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subject
    msg["From"] = sender(settings)
    msg["To"] = Address(addr_spec=to)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def compose_digest(items: list[Item], sub: Subscription, settings: Settings, *, message_id: str, now: datetime) -> EmailMessage:
    """The multipart digest for ``sub``: plain text first, HTML as the preferred alternative.

    ``List-Unsubscribe`` carries the web link (one-click POST per RFC 8058 when base_url is
    set) and a mailto: to the sender, which an operator can act on with ``ogi unsubscribe``.
    """
    lang = sub.language if sub.language in TEXTS else "zh"
    msg = _base_message(settings, sub.email, subject_for(items, lang), message_id, now)
    link = unsubscribe_url(settings, sub)
    targets = ([f"<{link}>"] if link else []) + [f"<mailto:{sender(settings).addr_spec}?subject=unsubscribe%20{sub.token}>"]
    msg["List-Unsubscribe"] = ", ".join(targets)
    if link:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    context: dict[str, Any] = {
        "t": TEXTS[lang], "lang": lang, "kinds": EVENT_KINDS,
        "groups": {kind: [i for i in items if i.kind == kind] for kind in EVENT_KINDS},
        "filters": describe_filters(sub, lang), "unsubscribe_url": link, "token": sub.token,
    }
    msg.set_content(_env.get_template("digest.txt").render(context))
    msg.add_alternative(_env.get_template("digest.html").render(context), subtype="html")
    return msg


def compose_test(settings: Settings, to: str, lang: str, now: datetime) -> EmailMessage:
    """A short message proving the SMTP settings work (``ogi alerts test``)."""
    t = TEXTS[lang]
    msg = _base_message(settings, to, t["test.subject"], make_msgid("ogi-test", domain=sender(settings).domain), now)
    msg.set_content(f"{t['test.body']}\n\n{t['footer']}\n")
    return msg
