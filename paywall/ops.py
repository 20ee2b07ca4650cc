"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from paywall import clock
from paywall.admin.dashboard import premium_by_source
from paywall.billing.models import StripeEvent, Subscription
from paywall.extensions import db
from paywall.jobs import Job
from paywall.mail.models import OutboxMail

log = logging.getLogger(__name__)
bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("health check: database unreachable: %s", error)
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    offered = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return Response("metrics need the bearer token\n", 401, {"WWW-Authenticate": "Bearer"})
    registry: CollectorRegistry = current_app.extensions["paywall_metrics"].registry
    # Business figures, and new at every scrape: no cache may keep them.
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4",
                    headers={"Cache-Control": "private, no-store"})  # fmt: skip


class QueueCollector(Collector):
    """Queue depth and the age of the oldest queued mail, read when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        with self.app.app_context():
            mails = db.session.execute(
                select(func.count(OutboxMail.id), func.min(OutboxMail.created_at)).where(
                    OutboxMail.status == "queued"
                )
            ).one()
            jobs = db.session.scalar(select(func.count(Job.id)).where(Job.status == "queued"))
            failed = db.session.scalar(
                select(func.count(OutboxMail.id)).where(OutboxMail.status == "failed")
            )
        depth = GaugeMetricFamily("paywall_outbox_queued", "Mails waiting to be sent")
        depth.add_metric([], mails[0])
        yield depth
        oldest = mails[1]
        age = GaugeMetricFamily(
            "paywall_outbox_oldest_age_seconds", "Age of the oldest queued mail"
        )
        age.add_metric([], (clock.now() - oldest).total_seconds() if oldest else 0.0)
        yield age
        queued_jobs = GaugeMetricFamily("paywall_jobs_queued", "Jobs waiting to run")
        queued_jobs.add_metric([], jobs or 0)
        yield queued_jobs
        dead = GaugeMetricFamily("paywall_outbox_failed", "Mails given up after every retry")
        dead.add_metric([], failed or 0)
        yield dead


EVENT_STATUSES = ("received", "processed", "ignored", "failed")


class BillingCollector(Collector):
    """Webhook outcomes, trials and conversions, and premium members, read when Prometheus
    scrapes: from the database, so every gunicorn worker reports the same figures."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        # Read everything before yielding, so the app context is not held open by a paused
        # generator.
        with self.app.app_context():
            families = [*self._stripe_events(), *self._subscriptions(), *self._premium_members()]
        yield from families

    def _stripe_events(self) -> Iterator[Metric]:
        # One pass over ix_stripe_events_status_received gives each status's count and its
        # oldest event; only the oldest failed one is reported.
        rows = db.session.execute(
            select(StripeEvent.status, func.count(), func.min(StripeEvent.received_at)).group_by(
                StripeEvent.status
            )
        ).all()
        counts = dict.fromkeys(EVENT_STATUSES, 0)
        oldest_failed = None
        for status, count, oldest in rows:
            counts[status] = count
            if status == "failed":
                oldest_failed = oldest
        events = GaugeMetricFamily(
            "paywall_stripe_events", "Stored Stripe webhook events by outcome", labels=["status"]
        )
        for status, count in counts.items():
            events.add_metric([status], count)
        yield events
        age = GaugeMetricFamily(
            "paywall_stripe_events_failed_oldest_age_seconds",
            "Age of the oldest webhook event whose processing failed (0 when none has)",
        )
        age.add_metric([], _age_seconds(oldest_failed))
        yield age

    def _subscriptions(self) -> Iterator[Metric]:
        # Subscription rows are kept after they end, so these only grow: counters, not gauges.
        # One scan with three filtered counts is one round trip per scrape.
        has_trial = Subscription.trial_start.is_not(None)
        has_paid = Subscription.paid_since.is_not(None)
        started, converted, canceled = db.session.execute(
            select(
                func.count().filter(has_trial),
                func.count().filter(has_trial, has_paid),
                func.count().filter(has_paid, Subscription.ended_at.is_not(None)),
            ).select_from(Subscription)
        ).one()
        for name, documentation, value in (
            ("paywall_trials_started", "Subscriptions that began with a trial", started),
            ("paywall_trials_converted", "Trials that went on to pay", converted),
            ("paywall_subscriptions_canceled", "Paying subscriptions that ended", canceled),
        ):
            counter = CounterMetricFamily(name, documentation)
            counter.add_metric([], value or 0)
            yield counter

    def _premium_members(self) -> Iterator[Metric]:
        members = GaugeMetricFamily(
            "paywall_premium_members", "Users with premium access now, by source", labels=["source"]
        )
        for source, count in premium_by_source(clock.now()).items():
            members.add_metric([source], count)
        yield members


def _age_seconds(since: datetime | None) -> float:
    return (clock.now() - since).total_seconds() if since else 0.0


class Metrics:
    """One registry per app, so tests can build many apps in one process."""

    def __init__(self, app: Flask) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "paywall_http_requests",
            "HTTP requests",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "paywall_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["endpoint"],
            registry=self.registry,
        )
        self.registry.register(QueueCollector(app))
        self.registry.register(BillingCollector(app))
        app.before_request(self._start)
        app.after_request(self._finish)

    def _start(self) -> None:
        g.request_started = time.perf_counter()

    def _finish(self, response: Response) -> Response:
        started = g.get("request_started")
        endpoint = request.endpoint or "unknown"
        self.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        if started is not None:
            self.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response


def init_metrics(app: Flask) -> None:
    app.extensions["paywall_metrics"] = Metrics(app)
