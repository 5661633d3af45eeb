"""Admin endpoints (subscriptions, search re-index, fixity audits, parked queue jobs).

``Authorization: Bearer <admin_token>`` only.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import FixityAudit, Subscription
from storage.search import sync_index
from web.deps import AdminDep, RowId, SessionDep, Text
from web.responses import ERRORS, Deactivated, FixityAudits, ParkedJobs, Reindexed, SubscriptionCreated, Subscriptions

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[AdminDep], responses=ERRORS)


class NewSubscription(BaseModel):
    email: Text
    region: Text | None = None
    agency: Text | None = None
    year: int | None = None
    keyword: Text | None = None
    failing_only: bool = False
    events: list[Text] = ["new", "revised", "withdrawn"]
    language: Text = "zh"


def _sub(s: Subscription) -> dict[str, Any]:
    return {"id": s.id, "email": s.email, "filters": s.filters, "events": s.events, "language": s.language,
            "active": s.active, "token": s.token, "created_at": s.created_at.isoformat()}


@router.get("/subscriptions", response_model=Subscriptions, summary="List subscriptions")
def list_subs(include_inactive: bool = False, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import list_subscriptions

    return {"ok": True, "subscriptions": [_sub(s) for s in list_subscriptions(session, include_inactive=include_inactive)]}


@router.post("/subscriptions", response_model=SubscriptionCreated, summary="Create a subscription", status_code=201)
def create_sub(body: NewSubscription, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import InvalidSubscriptionError, make_filters, subscribe

    try:
        filters = make_filters(region=body.region, agency=body.agency, year=body.year, keyword=body.keyword,
                               failing_only=body.failing_only)
        sub = subscribe(session, body.email, filters, events=body.events, language=body.language)
    except InvalidSubscriptionError as exc:
        raise HTTPException(400, str(exc)) from None
    return {"ok": True, "subscription": _sub(sub)}


@router.delete("/subscriptions/{subscription_id}", response_model=Deactivated, summary="Deactivate a subscription")
def delete_sub(subscription_id: RowId, session: Session = SessionDep) -> dict[str, Any]:
    from alerts.subscriptions import unsubscribe

    sub = session.get(Subscription, subscription_id)
    if sub is None:
        raise HTTPException(404, f"no subscription {subscription_id}")
    return {"ok": True, "deactivated": unsubscribe(session, sub.token)}


@router.post("/reindex", response_model=Reindexed, summary="Index report versions queued for search now")
def reindex(session: Session = SessionDep) -> dict[str, Any]:
    return {"ok": True, "indexed": sync_index(session)}


@router.get("/fixity", response_model=FixityAudits, summary="The last fixity audits (ogi verify), newest first")
def fixity_audits(limit: int = Query(20, ge=1, le=500), session: Session = SessionDep) -> dict[str, Any]:
    audits = session.scalars(select(FixityAudit).order_by(FixityAudit.id.desc()).limit(limit))
    return {"ok": True, "audits": [
        {"id": a.id, "started_at": a.started_at.isoformat(), "finished_at": a.finished_at.isoformat() if a.finished_at else None,
         "sample": a.sample, "ok": a.ok, "counts": a.counts or {}, "problems": a.problems or []} for a in audits]}


@router.get("/jobs", response_model=ParkedJobs, summary="Task-queue jobs parked after failing every attempt, newest first")
def parked(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    settings = request.app.state.settings
    if not settings.queue_url:
        return {"ok": True, "queue": False, "jobs": []}
    import psycopg

    from flow.jobs import parked_jobs  # procrastinate is imported only where a queue is configured

    try:
        jobs = parked_jobs(settings, limit)
    except psycopg.Error as exc:
        raise HTTPException(503, f"task queue unreachable: {str(exc).strip()}") from None
    return {"ok": True, "queue": True, "jobs": [job.as_dict() for job in jobs]}
