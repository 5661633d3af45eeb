"""The alerts commands, TLS (STARTTLS with AUTH, implicit TLS) against aiosmtpd, and deferral of
events whose extraction has not finished."""
from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from alerts.match import DEFER_LIMIT
from alerts.send import send_pending
from alerts.subscriptions import new_token
from domain.config import Settings
from ogi.cli import main
from storage.db import Database
from storage.models import ReportVersion, Subscription, utcnow
from tests.mail import SENDER, Collector, add_report, free_port, start_smtp, sub


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smtp_port: int) -> None:
    monkeypatch.chdir(tmp_path)  # no stray ./ogi.yaml
    for name, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_FROM": SENDER,
                        "BASE_URL": "https://ogi.example.org"}.items():
        monkeypatch.setenv(f"OGI_{name}", value)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_subscribe_list_unsubscribe_commands(db: Database, cli_env: None) -> None:
    ok = run("subscribe", "Reader@Example.org", "--region", "浙江省/杭州市", "--year", "2023", "--keyword", "依申请",
             "--events", "new,revised", "--lang", "en", "--db", db.url)
    assert ok.exit_code == 0, ok.output
    with db.session() as s:
        created = s.scalars(select(Subscription)).one()
    assert (created.email, created.filters, created.events, created.language) == (
        "Reader@example.org", {"region": "浙江省/杭州市", "year": 2023, "keyword": "依申请"}, ["new", "revised"], "en")
    assert f"https://ogi.example.org/unsubscribe/{created.token}" in ok.output

    for args, message in ((["not-an-address"], "is not an email address"),
                          (["a@example.org", "--year", "1990"], "outside 2008"),
                          (["a@example.org", "--events", "new,deleted"], "events must be some of"),
                          (["a@example.org", "--region", "浙江省//杭州市"], "names separated by '/'")):
        refused = run("subscribe", *args, "--db", db.url)
        assert refused.exit_code == 2 and message in refused.output, refused.output

    listed = run("subscriptions", "--db", db.url)
    assert "Reader@example.org" in listed.output and "浙江省/杭州市" in listed.output
    assert run("unsubscribe", created.token, "--db", db.url).output.startswith("unsubscribed 1")
    again = run("unsubscribe", created.token, "--db", db.url)
    assert again.exit_code == 1 and "no active subscription" in again.output


def test_tokens_can_be_pasted_on_a_command_line() -> None:
    """One token in 64 began with "-" and ``ogi unsubscribe`` took it for an option (seen on CI)."""
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000 and not any(t.startswith("-") for t in tokens)
    assert all(len(t) == 32 for t in tokens)


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test trusts it via SSL_CERT_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _server_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    cert_path, key_path = _certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class AuthCollector(Collector):
    def __init__(self) -> None:
        super().__init__()
        self.logins = []

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        login, password = (x.decode() if isinstance(x, bytes) else x for x in (auth_data.login, auth_data.password))
        self.logins.append(login)
        return AuthResult(success=(login, password) == ("alerts", "s3cret"), handled=False)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_digest_over_starttls_with_login(db: Database, settings: Settings, smtp_port: int, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    handler = AuthCollector()
    controller = start_smtp(smtp_port, handler, tls_context=_server_context(tmp_path, monkeypatch), require_starttls=True,
                            authenticator=handler.authenticate, auth_required=True)
    monkeypatch.setenv("OGI_SMTP_PASSWORD", "s3cret")  # the password comes from the environment only
    settings.smtp_port, settings.smtp_security, settings.smtp_user, settings.smtp_from = smtp_port, "starttls", "alerts", SENDER
    try:
        sub(db, "tls@example.org")
        add_report(db, "http://x.test/r.pdf", title="某县2023年报告", agency="某县人民政府", region="浙江省/杭州市",
                   year=2023, sha="a")
        assert send_pending(db, settings)["sent"] == 1
        settings.smtp_user = "intruder"
        add_report(db, "http://x.test/r2.pdf", title="某县2024年报告", agency="某县人民政府", region="浙江省/杭州市",
                   year=2024, sha="b")
        refused = send_pending(db, settings)
        assert (refused["sent"], refused["failed"]) == (0, 1) and "SMTPAuthenticationError" in refused["errors"][0]
    finally:
        controller.stop()
    assert handler.logins[0] == "alerts" and set(handler.logins[1:]) == {"intruder"} and len(handler.envelopes) == 1
    assert handler.messages()[0]["Subject"] == "政府信息公开年报提醒：新发现 1 份"


def test_alerts_test_command_over_implicit_tls(cli_env: None, smtp_port: int, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Collector()
    controller = start_smtp(smtp_port, handler, ssl_context=_server_context(tmp_path, monkeypatch))
    monkeypatch.setenv("OGI_SMTP_SECURITY", "ssl")
    try:
        for lang, subject in (("zh", "政府信息公开年报存档：测试邮件"), ("en", "ogi-archive: test message")):
            result = run("alerts", "test", "me@example.org", "--lang", lang)
            assert result.exit_code == 0, result.output
            assert handler.messages()[-1]["Subject"] == subject
        monkeypatch.setenv("OGI_SMTP_PORT", str(free_port()))  # nobody listening: a clear error, not a traceback
        failed = run("alerts", "test", "me@example.org")
        assert failed.exit_code == 1 and "failed" in failed.output and "refused" in failed.output.lower()
    finally:
        controller.stop()
    assert handler.messages()[0].get_content().startswith("这是一封测试邮件")


def _pending_extraction(db: Database, report_id: int) -> int:
    with db.session() as s:
        version = s.scalars(select(ReportVersion).where(ReportVersion.report_id == report_id)).one()
        version.extraction_status, version.text = "pending", ""
        return version.id


def test_events_wait_for_extraction_but_not_for_ever(db: Database, settings: Settings, smtp_port: int) -> None:
    handler = Collector()
    controller = start_smtp(smtp_port, handler)
    settings.smtp_port = smtp_port
    try:
        sub(db, "kw@example.org", keyword="行政复议")
        sub(db, "all@example.org")
        first_id = _pending_extraction(db, add_report(db, "http://x.test/a.pdf", title="甲报告", agency="甲", region="浙江省",
                                                      year=2023, sha="a"))
        add_report(db, "http://x.test/b.pdf", title="乙报告", agency="乙", region="浙江省", year=2023, sha="b", text="无行政复议")
        assert send_pending(db, settings)["events"] == 2  # 乙 for both now; 甲 waits for its text
        with db.session() as s:
            version = s.get(ReportVersion, first_id)
            version.extraction_status, version.text = "done", "本年度行政复议 2 件"
        assert send_pending(db, settings)["events"] == 2  # 甲 for both
        _pending_extraction(db, add_report(db, "http://x.test/c.pdf", title="丙报告", agency="丙", region="浙江省",
                                           year=2023, sha="c"))
        assert send_pending(db, settings)["events"] == 0  # stuck extraction ...
        late = send_pending(db, settings, now=utcnow() + DEFER_LIMIT * 2)  # ... is not waited for any longer
        assert (late["events"], late["sent"]) == (1, 1)
    finally:
        controller.stop()
    got = {rcpt: [m.get_body(("plain",)).get_content() for m in msgs] for rcpt, msgs in handler.by_recipient().items()}
    assert [("乙报告" in b, "甲报告" in b, "丙报告" in b) for b in got["kw@example.org"]] == [
        (True, False, False), (False, True, False)]
    assert [("乙报告" in b, "甲报告" in b, "丙报告" in b) for b in got["all@example.org"]] == [
        (True, False, False), (False, True, False), (False, False, True)]
