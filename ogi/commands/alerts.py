"""``ogi subscribe``, ``ogi unsubscribe``, ``ogi subscriptions`` and ``ogi alerts send|test``."""
from __future__ import annotations

import json

import click
from sqlalchemy import func, select

from domain.config import Settings
from ogi.cli import Context, db_option, json_option, pass_context, print_json, printable
from storage.db import MAX_ID


def _bad(exc: ValueError, name: str) -> click.BadParameter:
    return click.BadParameter(str(exc), param_hint=name)


@click.command()
@click.argument("email")
@click.option("--region", default=None, help="Region prefix, e.g. 浙江省 or 浙江省/杭州市.")
@click.option("--agency", default=None, help="Only agencies whose name contains this text.")
@click.option("--year", type=int, default=None, help="Only reports on this year.")
@click.option("--keyword", default=None, help="Only reports whose text contains this word.")
@click.option("--failing-only", is_flag=True, help="Only reports failing a consistency check (勾稽关系).")
@click.option("--events", default="new,revised,withdrawn", show_default=True,
              help="Which events: new, revised, withdrawn, missing, late.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of the emails.")
@db_option
@pass_context
def subscribe(ctx: Context, email: str, region: str | None, agency: str | None, year: int | None, keyword: str | None,
              failing_only: bool, events: str, lang: str, db_url: str | None) -> None:
    """Subscribe EMAIL to alerts about new, revised and withdrawn reports (from now on)."""
    from alerts import subscriptions as subs

    try:
        address = subs.normalize_email(email)
    except ValueError as exc:
        raise _bad(exc, "EMAIL") from exc
    try:
        filters = subs.make_filters(region=region, agency=agency, year=year, keyword=keyword, failing_only=failing_only)
        kinds = subs.parse_events(events)
    except ValueError as exc:
        raise _bad(exc, "filters") from exc
    with ctx.db(db_url).session() as session:
        sub = subs.subscribe(session, address, filters, events=kinds, language=lang)
        sub_id, token = sub.id, sub.token
    shown = json.dumps(filters.as_dict(), ensure_ascii=False)
    click.echo(f"subscription {sub_id}: {address} {shown} events={','.join(kinds)} lang={lang}")
    click.echo(f"unsubscribe token: {token}")
    if ctx.settings.base_url:
        click.echo(f"unsubscribe link: {ctx.settings.base_url.rstrip('/')}/unsubscribe/{token}")


@click.command()
@click.argument("email_or_token")
@db_option
@pass_context
def unsubscribe(ctx: Context, email_or_token: str, db_url: str | None) -> None:
    """Stop alerts for EMAIL (all its subscriptions) or for one subscription's TOKEN."""
    from alerts.subscriptions import unsubscribe as do_unsubscribe

    with ctx.db(db_url, create=False).session() as session:
        count = do_unsubscribe(session, email_or_token)
    if not count:
        raise click.ClickException(f"no active subscription for {email_or_token!r}")
    click.echo(f"unsubscribed {count} subscription(s)")


@click.command()
@click.option("--all", "include_inactive", is_flag=True, help="Include unsubscribed ones.")
@db_option
@json_option
@pass_context
def subscriptions(ctx: Context, include_inactive: bool, db_url: str | None, as_json: bool) -> None:
    """List subscriptions (tab-separated) with their filters and digests sent and waiting."""
    from alerts.subscriptions import list_subscriptions
    from storage.models import Digest

    columns = ("id", "email", "lang", "active", "events", "filters", "sent", "pending", "last_error")
    rows = []
    with ctx.db(db_url, create=False).session() as session:
        counts = {
            (sub_id, status): n for sub_id, status, n in session.execute(
                select(Digest.subscription_id, Digest.status, func.count()).group_by(Digest.subscription_id, Digest.status)
            )
        }
        errors = dict(session.execute(
            select(Digest.subscription_id, Digest.last_error).where(Digest.status == "pending", Digest.last_error != "")
        ).all())
        for sub in list_subscriptions(session, include_inactive=include_inactive):
            rows.append({"id": sub.id, "email": sub.email, "language": sub.language, "active": sub.active,
                         "events": list(sub.events or ()), "filters": sub.filters, "created_at": sub.created_at,
                         "sent": counts.get((sub.id, "sent"), 0), "pending": counts.get((sub.id, "pending"), 0),
                         "last_error": errors.get(sub.id, "")})
    if as_json:
        print_json(rows)
        return
    click.echo("\t".join(columns))
    for row in rows:
        cells = (row["id"], row["email"], row["language"], "yes" if row["active"] else "no", ",".join(row["events"]),
                 json.dumps(row["filters"], ensure_ascii=False), row["sent"], row["pending"], row["last_error"])
        click.echo("\t".join(printable(cell) for cell in cells))


@click.group()
def alerts() -> None:
    """Alert emails: send pending digests, or a test message."""


@alerts.command("send")
@click.option("--run", "run_id", type=click.IntRange(1, MAX_ID), default=None,
              help="Record the outcome in this crawl run's stats.")
@db_option
@pass_context
def send(ctx: Context, run_id: int | None, db_url: str | None) -> None:
    """Claim new events into digests and send every digest that is due.

    Exits 1 when a step failed or a digest could not be sent (it stays pending and is retried).
    """
    from flow.after_crawl import after_crawl

    result = after_crawl(ctx.db(db_url), ctx.settings, [run_id] if run_id else None, steps=("diffs", "alerts"))
    if "alerts" not in result.steps:
        raise click.ClickException(f"sending alerts failed: {'; '.join(result.errors.values())}")
    summary = result.steps["alerts"]
    click.echo(
        f"{summary['digests']} new digest(s) with {summary['events']} event(s); sent {summary['sent']}, "
        f"failed {summary['failed']} (will retry), unconfirmed {summary['unconfirmed']}, pending {summary['pending']}"
    )
    for error in [*summary["errors"], *(f"{step} failed: {reason}" for step, reason in result.errors.items())]:
        click.echo(f"  {printable(error)}", err=True)
    if not result.ok:
        raise click.exceptions.Exit(1)


@alerts.command("test")
@click.argument("email")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@pass_context
def test(ctx: Context, email: str, lang: str) -> None:
    """Send a test message to EMAIL with the configured SMTP settings."""
    import smtplib

    from alerts.digest import compose_test
    from alerts.smtp import send_message
    from alerts.subscriptions import normalize_email
    from storage.models import utcnow

    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise _bad(exc, "EMAIL") from exc
    s = ctx.settings
    try:
        send_message(s, compose_test(s, address, lang, utcnow()))
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise click.ClickException(f"sending to {address} via {_server(s)} failed: {exc}") from exc
    click.echo(f"test message sent to {address} via {_server(s)}")


def _server(s: Settings) -> str:
    return f"{s.smtp_host}:{s.smtp_port} ({s.smtp_security})"


def register(group: click.Group) -> None:
    for command in (subscribe, unsubscribe, subscriptions, alerts):
        group.add_command(command)
