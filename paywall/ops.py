"""Operations endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from paywall import clock
from paywall.extensions import db
from paywall.mail.models import Job, OutboxMail

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
    from flask import current_app

    registry: CollectorRegistry = current_app.extensions["paywall_metrics"].registry
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


class QueueCollector(Collector):
    """Queue depth and the age of the oldest queued mail, read when Prometheus scrapes."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
