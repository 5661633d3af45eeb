"""Sending digests exactly once: claim events into digests, then deliver each digest.

Called by the scheduler after every crawl run (``send_pending(db, settings, run_id=...)``)
and by ``ogi alerts send``. Three steps, each safe to interrupt at any point:

1. **Recover.** A digest left ``sending`` or ``committing`` by a process that died (its
   lease, ``next_attempt_at``, has expired) is resolved as described below.
2. **Claim.** For each active subscription, in one transaction: the matching events after
   its watermark become one new ``Digest`` (status ``pending``, Message-ID fixed now) with
   one ``DigestEvent`` per event, and the watermark moves. ``unique(subscription_id,
   event_id)`` makes a second claim of the same event fail, so two senders racing each
   other (or a rerun) cannot put one event into two digests; the watermark update is a
   compare-and-set for the same reason.
3. **Deliver.** Each due ``pending`` digest is taken with a compare-and-set to ``sending``
   (attempts + 1, lease of :data:`LEASE`), then sent. Just before the final dot of DATA the
   digest moves to ``committing`` (committed), after the server's 250 to ``sent``.

Why this is the strongest guarantee SMTP allows. A client cannot learn whether a server
that received the final dot accepted the message unless it reads the reply, and no SMTP
command asks "did you get message X?" afterwards (RFC 1047 describes the same gap from the
server's side). So a crash between the dot and recording the reply leaves delivery unknown,
and one must choose between a possible duplicate and a possible loss. Because subscribers
must never get an event twice, we choose *at most once* for that gap and make the gap as
small as the protocol permits:

- crash while ``sending`` (connecting, MAIL, RCPT, or the body before the dot): the server
  discards a transaction whose DATA never ended, so nothing was delivered; the digest goes
  back to ``pending`` and is sent again with the same Message-ID and the same events.
- crash while ``committing`` (the dot was sent, the 250 not yet recorded): after the lease
  the digest is marked ``sent`` with ``last_error`` "unconfirmed ..." and is never resent.
  The server had the complete message and only had to answer, so it was almost certainly
  delivered; the case is logged and counted (``unconfirmed``) so an operator can check the
  mail log for the Message-ID. The same applies when the connection breaks while waiting
  for the reply to the dot.
- SMTP failure before the dot (server down, 4xx/5xx to MAIL, RCPT or DATA, or a refusal
  after the dot): nothing was delivered; the digest stays ``pending`` with attempts + 1,
  ``last_error`` and ``next_attempt_at`` backed off exponentially (:func:`backoff`, capped
  below a day so the next nightly run always retries). Digests are never dropped; only
  unsubscribing cancels them (``cancelled``).

Failures are logged and, when ``run_id`` is given, stored in ``CrawlRun.stats['alerts']``.
"""
from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import smtp as smtp_mod
from alerts.digest import compose_digest, digest_items, new_message_id, sender
from alerts.match import load_events, select_for
from domain.config import Settings
from storage.db import Database
from storage.models import CrawlRun, Digest, DigestEvent, Subscription, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # far longer than one digest's SMTP exchange (a few TIMEOUTs at most)
BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(hours=12)
MAX_LOGGED_ERRORS = 20
_REPLY_ERRORS = (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


class LeaseLostError(Exception):
    """Another sender took over this digest; stop without sending the final dot."""


def backoff(attempts: int) -> timedelta:
    """5 min, 10 min, 20 min ... capped at 12 h, after the ``attempts``-th failure."""
    return min(BACKOFF_BASE * 2 ** max(0, attempts - 1), BACKOFF_CAP)


def send_pending(db: Database, settings: Settings, *, run_id: int | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """Claim new events into digests and deliver every due digest; return the counts.

    ``now`` is the clock for leases and back-off (tests move it forward).
    """
    now = now or utcnow()
    summary: dict[str, Any] = {"subscriptions": 0, "digests": 0, "events": 0, "sent": 0, "failed": 0,
                               "unconfirmed": 0, "resumed": 0, "pending": 0, "errors": []}
    _recover(db, now, summary)
    _claim(db, settings, run_id, now, summary)
    _deliver_due(db, settings, now, summary)
    with db.session() as s:
        summary["pending"] = s.execute(select(func.count()).select_from(Digest).where(Digest.status == "pending")).scalar()
        if run_id is not None and (run := s.get(CrawlRun, run_id)) is not None:
            run.stats = {**(run.stats or {}), "alerts": summary}
    log.info("alerts: %(digests)d digests with %(events)d events; %(sent)d sent, %(failed)d failed, "
             "%(unconfirmed)d unconfirmed, %(pending)d pending", summary)
    return summary


def _note_error(summary: dict[str, Any], text: str) -> None:
    log.warning("alerts: %s", text)
    if len(summary["errors"]) < MAX_LOGGED_ERRORS:
        summary["errors"].append(text)


# -- 1. recover digests abandoned by a dead process ---------------------------------------


def _recover(db: Database, now: datetime, summary: dict[str, Any]) -> None:
    with db.session() as s:
        in_flight = Digest.status.in_(("sending", "committing"))
        expired = list(s.scalars(select(Digest).where(in_flight, Digest.next_attempt_at <= now)))
        for digest in expired:
            if digest.status == "sending":
                digest.status, digest.next_attempt_at = "pending", None
                digest.last_error = "interrupted before the end of DATA: not delivered, will be resent"
                summary["resumed"] += 1
                log.warning("alerts: digest %d was interrupted before DATA ended; resending", digest.id)
            else:
                digest.status, digest.next_attempt_at = "sent", None
                digest.last_error = "unconfirmed: interrupted after the final dot, before the reply was recorded; not resent"
                summary["unconfirmed"] += 1
                _note_error(summary, f"digest {digest.id} ({digest.message_id}): delivery unconfirmed, not resent")


# -- 2. claim events into digests ---------------------------------------------------------


def _claim(db: Database, settings: Settings, run_id: int | None, now: datetime, summary: dict[str, Any]) -> None:
    with db.session() as s:
        subs = list(s.scalars(select(Subscription).where(Subscription.active.is_(True)).order_by(Subscription.id)))
        summary["subscriptions"] = len(subs)
        if not subs:
            return
        low = min(sub.since_event_id for sub in subs)
        views = load_events(s, low, with_text=any((sub.filters or {}).get("keyword") for sub in subs))
        claimed: dict[int, set[int]] = {}
        pairs = select(DigestEvent.subscription_id, DigestEvent.event_id).where(DigestEvent.event_id > low)
        for sub_id, event_id in s.execute(pairs):
            claimed.setdefault(sub_id, set()).add(event_id)
    for sub in subs:
        selection = select_for(sub, views, now, claimed.get(sub.id, set()))
        if selection.event_ids or selection.watermark != sub.since_event_id:
            try:
                with db.session() as s:
                    _claim_one(s, settings, sub, selection.event_ids, selection.watermark, run_id, summary)
            except IntegrityError:
                log.info("alerts: events for subscription %d were claimed by another sender", sub.id)


def _claim_one(s: Session, settings: Settings, sub: Subscription, event_ids: list[int], watermark: int,
               run_id: int | None, summary: dict[str, Any]) -> None:
    moved = s.execute(
        update(Subscription).where(Subscription.id == sub.id, Subscription.since_event_id == sub.since_event_id)
        .values(since_event_id=watermark)
    )
    if moved.rowcount != 1 or not event_ids:
        return
    digest = Digest(subscription_id=sub.id, run_id=run_id, message_id=new_message_id(settings), status="pending")
    s.add(digest)
    s.flush()
    s.add_all(DigestEvent(digest_id=digest.id, subscription_id=sub.id, event_id=e) for e in event_ids)
    s.flush()
    summary["digests"] += 1
    summary["events"] += len(event_ids)


# -- 3. deliver ---------------------------------------------------------------------------


class _Connection:
    """One SMTP connection shared by a run's digests; a failure to connect is remembered, not retried."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.error: Exception | None = None

    def get(self) -> smtplib.SMTP:
        if self.error is not None:
            raise self.error
        if self.smtp is None:
            try:
                self.smtp = smtp_mod.connect(self.settings)
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                self.error = exc
                raise
        return self.smtp

    def after_failure(self, exc: BaseException) -> None:
        """Keep the connection after a refused message (RSET), drop it after anything else."""
        if isinstance(exc, _REPLY_ERRORS) and self.smtp is not None:
            try:
                self.smtp.rset()
                return
            except (OSError, smtplib.SMTPException):
                pass
        self.drop()

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            smtp_mod.close(self.smtp)
            self.smtp = None


def _deliver_due(db: Database, settings: Settings, now: datetime, summary: dict[str, Any]) -> None:
    with db.session() as s:
        due = list(s.scalars(
            select(Digest.id).join(Subscription, Subscription.id == Digest.subscription_id)
            .where(Digest.status == "pending", Subscription.active.is_(True),
                   or_(Digest.next_attempt_at.is_(None), Digest.next_attempt_at <= now))
            .order_by(Digest.id)
        ))
    if not due:
        return
    connection = _Connection(settings)
    try:
        for digest_id in due:
            _send_one(db, settings, connection, digest_id, now, summary)
    finally:
        connection.close()


def _take(db: Database, digest_id: int, now: datetime) -> bool:
    """pending -> sending, attempts + 1, under a lease; False if another sender was quicker."""
    with db.session() as s:
        taken = s.execute(
            update(Digest).where(Digest.id == digest_id, Digest.status == "pending")
            .values(status="sending", attempts=Digest.attempts + 1, next_attempt_at=now + LEASE)
        )
        return taken.rowcount == 1


def _compose(db: Database, settings: Settings, digest_id: int) -> tuple[EmailMessage, str]:
    with db.session() as s:
        digest = s.get(Digest, digest_id)
        sub = s.get(Subscription, digest.subscription_id)
        items = digest_items(s, digest_id, settings, sub.language)
        return compose_digest(items, sub, settings, message_id=digest.message_id, now=utcnow()), sub.email


def _move(db: Database, digest_id: int, from_status: tuple[str, ...], **values: Any) -> bool:
    with db.session() as s:
        moved = s.execute(update(Digest).where(Digest.id == digest_id, Digest.status.in_(from_status)).values(**values))
        return moved.rowcount == 1


def _send_one(db: Database, settings: Settings, connection: _Connection, digest_id: int, now: datetime,
              summary: dict[str, Any]) -> None:
    if not _take(db, digest_id, now):
        return
    recipient = "?"

    def committing() -> None:
        if not _move(db, digest_id, ("sending",), status="committing"):
            raise LeaseLostError(f"digest {digest_id} was taken over by another sender")

    try:
        msg, recipient = _compose(db, settings, digest_id)
        smtp_mod.deliver(connection.get(), msg, sender=sender(settings).addr_spec, recipient=recipient,
                         before_commit=committing)
    except smtp_mod.UnconfirmedError as exc:
        connection.drop()
        _move(db, digest_id, ("committing",), status="sent", next_attempt_at=None, last_error=f"unconfirmed: {exc}")
        summary["unconfirmed"] += 1
        _note_error(summary, f"digest {digest_id} to {recipient}: delivery unconfirmed ({exc}), not resent")
    except LeaseLostError as exc:
        connection.drop()
        _note_error(summary, str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure before the dot: nothing delivered, retry later
        connection.after_failure(exc)
        _failed(db, digest_id, exc, now, summary, recipient)
    else:
        _move(db, digest_id, ("committing",), status="sent", sent_at=utcnow(), next_attempt_at=None, last_error="")
        summary["sent"] += 1
        log.info("alerts: digest %d sent to %s", digest_id, recipient)


def _failed(db: Database, digest_id: int, exc: BaseException, now: datetime, summary: dict[str, Any], recipient: str) -> None:
    with db.session() as s:
        digest = s.get(Digest, digest_id)
        if digest is None or digest.status not in ("sending", "committing"):
            return
        error = f"{type(exc).__name__}: {exc}"
        digest.status, digest.last_error = "pending", error[:2000]
        digest.next_attempt_at = now + backoff(digest.attempts)
        attempts, retry = digest.attempts, digest.next_attempt_at
    summary["failed"] += 1
    _note_error(summary, f"digest {digest_id} to {recipient}: attempt {attempts} failed ({error}); "
                         f"retry after {retry:%Y-%m-%d %H:%M} UTC")
