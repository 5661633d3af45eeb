"""Test fixtures for alerts: a real SMTP server (aiosmtpd) on a free port, and reports recorded
through the real versioning code. Registered as a pytest plugin in conftest.py."""
from __future__ import annotations

import email
import socket
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from alerts.subscriptions import make_filters, subscribe
from domain.config import Settings
from storage.db import Database
from storage.models import CheckResult, ExtractedValue
from storage.versions import ReportCandidate, record_report

BASE_URL = "https://ogi.example.org"
SENDER = "政府信息公开年报存档 <alerts@ogi.example.org>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Collector:
    """An aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    def by_recipient(self) -> dict[str, list[EmailMessage]]:
        out: dict[str, list[EmailMessage]] = {}
        for env, msg in zip(self.envelopes, self.messages(), strict=True):
            for rcpt in env.rcpt_tos:
                out.setdefault(rcpt, []).append(msg)
        return out


def start_smtp(port: int, handler: object, **kwargs: object) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def collector(smtp_port: int):
    handler = Collector()
    controller = start_smtp(smtp_port, handler)
    yield handler
    controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int) -> Settings:
    settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.base_url = "127.0.0.1", smtp_port, SENDER, BASE_URL
    return settings



def add_report(db: Database, url: str, *, title: str, agency: str, region: str, year: int, sha: str,
               text: str = "", values: dict[str, float] | None = None, failing: bool = False,
               run_id: int | None = None) -> int:
    """Record a report (or a new version of it) as the crawler and extraction would; return the report id."""
    with db.session() as s:
        candidate = ReportCandidate(url=url, source_url="http://portal.test/col/col1/index.html", document_url=url,
                                    title=title, sha256=sha * 64, region=region, agency=agency, report_year=year)
        report, version, _ = record_report(s, candidate, run_id=run_id)
        version.text, version.extraction_status = text, "done"
        for key, value in (values or {}).items():
            s.add(ExtractedValue(version_id=version.id, key=key, value=value, raw=str(value)))
        s.add(CheckResult(version_id=version.id, rule="R1", ok=not failing,
                          detail="本年新收 + 上年结转 ≠ 办理结果总计" if failing else ""))
        return report.id


def sub(db: Database, address: str, *, events: str = "new,revised,withdrawn", lang: str = "zh", **filters: object) -> str:
    with db.session() as s:
        return subscribe(s, address, make_filters(**filters), events=events, language=lang).token
