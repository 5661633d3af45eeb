"""Admin endpoints (subscriptions, search re-index): ``Authorization: Bearer <admin_token>`` only."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy.orm import Session

from storage.models import Subscription
from storage.search import sync_index
from web.deps import AdminDep, SessionDep

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[AdminDep])


class NewSubscription(BaseModel):
    email: str
    region: str | None = None
    agency: str | None = None
    year: int | None = None
    keyword: str | None = None
    failing_only: bool = False
    events: list[str] = ["new", "revised", "withdrawn"]
    language: str = "zh"


def _sub(s: Subscription) -> dict[str, Any]:
    return {"id": s.id, "email": s.email, "filters": s.filters, "events": s.events, "language": s.language,
            "active": s.active, "token": s.token, "created_at": s.created_at.isoformat()}


@router.get("/subscriptions", summary="List subscriptions")
def list_subs(include_inactive: bool = False, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import list_subscriptions

    return {"ok": True, "subscriptions": [_sub(s) for s in list_subscriptions(session, include_inactive=include_inactive)]}


@router.post("/subscriptions", summary="Create a subscription", status_code=201)
def create_sub(body: NewSubscription, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import InvalidSubscription, make_filters, subscribe

    try:
        filters = make_filters(region=body.region, agency=body.agency, year=body.year, keyword=body.keyword,
                               failing_only=body.failing_only)
        sub = subscribe(session, body.email, filters, events=body.events, language=body.language)
    except InvalidSubscription as exc:
        raise HTTPException(400, str(exc)) from None
    return {"ok": True, "subscription": _sub(sub)}


@router.delete("/subscriptions/{subscription_id}", summary="Deactivate a subscription")
def delete_sub(subscription_id: int, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import unsubscribe

    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise HTTPException(404, f"no subscription {subscription_id}")
    return {"ok": True, "deactivated": unsubscribe(session, sub.token)}


@router.post("/reindex", summary="Index report versions queued for search now")
def reindex(session: Session = SessionDep) -> dict[str, Any]:
    return {"ok": True, "indexed": sync_index(session)}
