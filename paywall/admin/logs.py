"""Staff screens for the two logs: received Stripe events (with replay, the same code as
`paywall events replay`) and the audit log of staff and team-manager actions."""

from __future__ import annotations

import json

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import false, func, select
from werkzeug.wrappers import Response

from paywall import audit, jobs
from paywall.billing import webhooks
from paywall.billing.models import StripeEvent
from paywall.dbtypes import parse_id
from paywall.extensions import db

bp = Blueprint("admin_logs", __name__, url_prefix="/admin")

PAGE = 100
EVENT_STATUSES = ("failed", "processed", "ignored", "received")


@bp.get("/events")
def events() -> str:
    status = request.args.get("status", "")
    kind = request.args.get("type", "").strip()[:100]
    before = request.args.get("before", "")
    query = select(StripeEvent).order_by(StripeEvent.received_at.desc(), StripeEvent.id.desc())
    if status in EVENT_STATUSES:
        query = query.where(StripeEvent.status == status)
    if kind:
        query = query.where(StripeEvent.type == kind)
    if before:  # keyset paging: the id of the last row shown
        last = db.session.get(StripeEvent, before)
        if last is not None:
            query = query.where(
                (StripeEvent.received_at < last.received_at)
                | ((StripeEvent.received_at == last.received_at) & (StripeEvent.id < last.id))
            )
    rows = list(db.session.scalars(query.limit(PAGE)))
    failed = db.session.scalar(
        select(func.count()).select_from(StripeEvent).where(StripeEvent.status == "failed")
    )
    return render_template("admin/events.html", rows=rows, status=status, kind=kind,
                           failed=failed, statuses=EVENT_STATUSES, page=PAGE,
                           notice=request.args.get("notice"))  # fmt: skip


@bp.get("/events/<event_id>")
def event(event_id: str) -> str:
    stored = db.session.get(StripeEvent, event_id) or abort(404)
    return render_template(
        "admin/event.html", stored=stored, payload=json.dumps(stored.payload, indent=2)
    )


@bp.post("/events/<event_id>/replay")
def replay(event_id: str) -> Response:
    if db.session.get(StripeEvent, event_id) is None:
        abort(404)
    [(_, outcome)] = webhooks.replay(event_id=event_id)  # commits per event, as the CLI does
    audit.record(current_user, "stripe.event_replayed", event_id, outcome=outcome)
    db.session.commit()
    notice = "replay-failed" if outcome.startswith("failed") else "replayed"
    return redirect(url_for("admin_logs.event", event_id=event_id, notice=notice), code=303)


@bp.post("/events/replay-failed")
def replay_failed() -> Response:
    """There may be many: the worker replays them (webhooks.replay_failed)."""
    jobs.enqueue("billing.replay_failed")
    audit.record(current_user, "stripe.failed_events_replay_queued")
    db.session.commit()
    return redirect(url_for("admin_logs.events", status="failed", notice="queued"), code=303)


@bp.get("/audit")
def audit_log() -> str:
    entry = audit.AuditEntry
    filters = {name: request.args.get(name, "").strip()[:254] for name in
               ("action", "actor", "target", "team")}  # fmt: skip
    query = select(entry).order_by(entry.id.desc())
    if filters["action"]:  # "team." finds every team action
        query = query.where(entry.action.startswith(filters["action"], autoescape=True))
    if filters["actor"]:
        query = query.where(entry.actor_email == filters["actor"].lower())
    if filters["target"]:
        query = query.where(entry.target == filters["target"])
    if filters["team"]:  # a value that is not a team id matches no entry
        team_id = parse_id(filters["team"])
        query = query.where(false() if team_id is None else entry.team_id == team_id)
    before = parse_id(request.args.get("before"))  # keyset paging; a bad cursor starts over
    if before is not None:
        query = query.where(entry.id < before)
    rows = list(db.session.scalars(query.limit(PAGE)))
    return render_template("admin/audit.html", rows=rows, filters=filters, page=PAGE)
