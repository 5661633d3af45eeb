"""SMTP: connecting with none / STARTTLS / implicit TLS, and a DATA phase split at the final dot.

The SMTP server takes responsibility for a message only when it answers 250 to the
``<CRLF>.<CRLF>`` that ends DATA (RFC 5321 4.1.1.4); a connection dropped earlier makes it
discard the message. :func:`deliver` therefore sends everything except that final dot,
calls back so the caller can record "about to commit" durably, and only then sends the dot.
The window in which a crash leaves delivery unknown shrinks to one round trip (the problem
RFC 1047 describes); see alerts/send.py for what is done with it.

The password comes from ``OGI_SMTP_PASSWORD`` only (Settings refuses it in config files).
"""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage

from domain.config import Settings

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "ssl")
TIMEOUT = 60.0  # seconds per SMTP command; a digest send never holds its lease longer than a few of these


class UnconfirmedError(Exception):
    """The final dot was sent but no reply was read: the server may or may not have the message."""


def connect(settings: Settings, *, timeout: float = TIMEOUT) -> smtplib.SMTP:
    """An SMTP connection per the settings, secured and logged in when a user is configured.

    TLS certificates are verified against the system store (``SSL_CERT_FILE`` overrides it).
    """
    security = (settings.smtp_security or "none").lower()
    if security not in SECURITY_MODES:
        raise ValueError(f"smtp_security must be one of {', '.join(SECURITY_MODES)} (got {settings.smtp_security!r})")
    context = ssl.create_default_context()
    if security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        smtp.ehlo()
        if security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or os.environ.get("OGI_SMTP_PASSWORD", ""))
    except BaseException:
        smtp.close()
        raise
    return smtp


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as sent inside DATA: CRLF line ends, dot-stuffed, ending with CRLF (no final dot)."""
    data = re.sub(rb"(?:\r\n|\r|\n)", b"\r\n", msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def deliver(smtp: smtplib.SMTP, msg: EmailMessage, *, sender: str, recipient: str,
            before_commit: Callable[[], None]) -> None:
    """Send ``msg``; ``before_commit`` runs after the body and before the final dot.

    Raises an ``smtplib.SMTPException`` (or OSError) when the message was certainly not
    accepted, :class:`UnconfirmedError` when the dot went out but the reply never came. If
    ``before_commit`` raises, the connection is closed without the dot, so the server drops
    the message, and the exception propagates.
    """
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.rcpt(recipient)
    if code not in (250, 251):
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    smtp.send(message_bytes(msg))
    try:
        before_commit()
    except BaseException:
        smtp.close()
        raise
    try:
        smtp.send(b".\r\n")
        code, reply = smtp.getreply()
    except OSError as exc:
        raise UnconfirmedError(f"no reply to the end of DATA: {exc}") from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)


def send_message(settings: Settings, msg: EmailMessage) -> None:
    """Send one message in its own connection (test messages; digests use :func:`deliver`)."""
    smtp = connect(settings)
    try:
        smtp.send_message(msg)
    finally:
        close(smtp)


def close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; just drop the socket if the server is gone."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()

