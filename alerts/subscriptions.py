"""Subscriptions: who wants which alerts, validated before anything is stored.

A subscription is an address, a set of filters (all optional; none means every report),
the kinds of events wanted and a language. It hears only of events created after it was
made: ``since_event_id`` starts at the newest event id, so subscribing never floods a
newcomer with the archive's history. The token is the only credential an unsubscribe link
carries, so it is random and unguessable.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import ChangeEvent, Digest, Subscription

log = logging.getLogger(__name__)

REPORT_EVENTS = ("new", "revised", "withdrawn")
#: Compliance events (storage/compliance.py): a body owes a report after deadline + grace, or published it late.
COMPLIANCE_EVENTS = ("missing", "late")
EVENT_KINDS = REPORT_EVENTS + COMPLIANCE_EVENTS
LANGUAGES = ("zh", "en")
FIRST_REPORT_YEAR = 2008  # the OGI Regulations took effect on 1 May 2008

_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class InvalidSubscriptionError(ValueError):
    """An address, filter, event kind or language that cannot be subscribed (message says why)."""


def normalize_email(value: str) -> str:
    """``user@example.org`` with the domain lower-cased and IDNA-encoded, or InvalidSubscriptionError.

    Only ASCII local parts are accepted: the envelope then never needs SMTPUTF8, which many
    relays in front of government-facing mailboxes still refuse. Chinese domains
    (``用户@例子.中国``) are fine: they become punycode.
    """
    text = (value or "").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidSubscriptionError(f"{value!r} is not an email address (expected name@domain)")
    if len(local) > 64 or not _LOCAL_PART.match(local):
        raise InvalidSubscriptionError(f"{value!r}: the part before @ must be plain ASCII without spaces")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidSubscriptionError(f"{value!r}: {domain!r} is not a valid domain name") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels) or len(domain) > 253:
        raise InvalidSubscriptionError(f"{value!r}: {domain!r} is not a valid domain name (e.g. example.org)")
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Filters:
    """What a subscriber wants to hear about; every unset field matches every report."""

    region: str = ""  # a prefix of Report.region by whole parts: 浙江省/杭州市 matches 浙江省/杭州市/富阳区
    agency: str = ""  # a substring of the agency name
    year: int | None = None  # the report year (the year reported on, not the publication year)
    keyword: str = ""  # a word in the report text
    failing_only: bool = False  # only reports failing at least one consistency rule

    def as_dict(self) -> dict[str, Any]:
        """Only the fields that are set, as stored in Subscription.filters."""
        data: dict[str, Any] = {}
        for name in ("region", "agency", "keyword"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        if self.year is not None:
            data["year"] = self.year
        if self.failing_only:
            data["failing_only"] = True
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Filters:
        data = data or {}
        return cls(region=data.get("region", ""), agency=data.get("agency", ""), year=data.get("year"),
                   keyword=data.get("keyword", ""), failing_only=bool(data.get("failing_only", False)))


def make_filters(*, region: str | None = None, agency: str | None = None, year: int | None = None,
                 keyword: str | None = None, failing_only: bool = False) -> Filters:
    """Validated filters; InvalidSubscriptionError names the first bad one."""
    return Filters(region=_region(region), agency=_text("agency", agency, 200), year=_year(year),
                   keyword=_text("keyword", keyword, 100), failing_only=bool(failing_only))


def _region(value: str | None) -> str:
    if value is None:
        return ""
    parts = [p.strip() for p in value.replace("／", "/").split("/")]
    if not any(parts):
        raise InvalidSubscriptionError("region is empty (e.g. 浙江省 or 浙江省/杭州市)")
    if not all(parts) or any(re.search(r"[\s%_*?]", p) for p in parts):
        raise InvalidSubscriptionError(f"region {value!r} must be names separated by '/', e.g. 浙江省/杭州市/富阳区")
    region = "/".join(parts)
    if len(region) > 200:
        raise InvalidSubscriptionError("region is longer than 200 characters")
    return region


def _text(name: str, value: str | None, limit: int) -> str:
    if value is None:
        return ""
    text = value.strip()
    if not text:
        raise InvalidSubscriptionError(f"{name} is empty")
    if len(text) > limit:
        raise InvalidSubscriptionError(f"{name} is longer than {limit} characters")
    return text


def _year(value: int | None) -> int | None:
    if value is None:
        return None
    last = date.today().year + 1
    if not FIRST_REPORT_YEAR <= value <= last:
        raise InvalidSubscriptionError(
            f"year {value} is outside {FIRST_REPORT_YEAR}-{last} (annual reports began with {FIRST_REPORT_YEAR})")
    return value


def parse_events(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """``new,revised`` -> ['new', 'revised'] in canonical order; unknown kinds are refused."""
    items = value.split(",") if isinstance(value, str) else list(value)
    kinds = {item.strip().lower() for item in items if item.strip()}
    unknown = kinds - set(EVENT_KINDS)
    if unknown or not kinds:
        raise InvalidSubscriptionError(f"events must be some of {', '.join(EVENT_KINDS)} (got {value!r})")
    return [kind for kind in EVENT_KINDS if kind in kinds]


def _language(value: str) -> str:
    lang = (value or "").strip().lower()
    if lang not in LANGUAGES:
        raise InvalidSubscriptionError(f"language must be one of {', '.join(LANGUAGES)} (got {value!r})")
    return lang


def new_token() -> str:
    """A random unsubscribe token (192 bits) that does not begin with "-", which a command line would take for an option."""
    while (token := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return token


def subscribe(session: Session, email: str, filters: Filters | None = None, *,
              events: str | list[str] | tuple[str, ...] = REPORT_EVENTS, language: str = "zh") -> Subscription:
    """Create (or return the identical active) subscription; it hears of events from now on."""
    address = normalize_email(email)
    kinds = parse_events(events)
    lang = _language(language)
    wanted = (filters or Filters()).as_dict()
    for existing in session.scalars(select(Subscription).where(Subscription.email == address, Subscription.active)):
        if existing.filters == wanted and existing.events == kinds and existing.language == lang:
            return existing
    newest = session.execute(select(func.max(ChangeEvent.id))).scalar() or 0
    sub = Subscription(email=address, filters=wanted, events=kinds, language=lang,
                       token=new_token(), active=True, since_event_id=newest)
    session.add(sub)
    session.flush()
    log.info("subscription %d: %s %s events=%s lang=%s", sub.id, address, wanted, kinds, lang)
    return sub


def unsubscribe(session: Session, token_or_email: str) -> int:
    """Deactivate the subscription with this token, or every subscription of this address.

    Returns how many were deactivated (0: nothing matched). Their digests not yet sent are
    cancelled, so nobody is mailed after unsubscribing.
    """
    key = (token_or_email or "").strip()
    if not key:
        return 0
    condition = Subscription.token == key
    if "@" in key:
        try:
            condition = or_(condition, func.lower(Subscription.email) == normalize_email(key).lower())
        except InvalidSubscriptionError:
            pass
    subs = list(session.scalars(select(Subscription).where(condition, Subscription.active)))
    for sub in subs:
        sub.active = False
        session.execute(
            update(Digest).where(Digest.subscription_id == sub.id, Digest.status == "pending")
            .values(status="cancelled", last_error="unsubscribed")
        )
        log.info("subscription %d (%s) unsubscribed", sub.id, sub.email)
    session.flush()
    return len(subs)


def list_subscriptions(session: Session, *, include_inactive: bool = False) -> list[Subscription]:
    query = select(Subscription).order_by(Subscription.id)
    if not include_inactive:
        query = query.where(Subscription.active)
    return list(session.scalars(query))
