"""Prometheus metrics at /metrics: request latency by endpoint and status, and outbox/sweep gauges computed
from the database at scrape time (so every web process reports the same figures without shared state).

The endpoint is public to the access layer but answers only to the local machine or to a scraper that
carries `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets a 404, as if it did not exist.

Several gunicorn workers: with `PROMETHEUS_MULTIPROC_DIR` set (before the process starts, since
prometheus_client picks its value store at import), each worker writes its histogram to files there and a
scrape of any worker adds up every worker's; gunicorn.conf.py empties the folder at start and marks exited
workers dead. The gauges are still computed from the database by the worker that answers.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from crm.core.access import public
from crm.core.db import utcnow
from crm.extensions import db

LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})
SWEEP = "sweep"

# One registry for the process: the default one would also collect interpreter metrics of every test app.
REGISTRY = CollectorRegistry()

REQUEST_LATENCY = Histogram(
    "axcrm_request_latency_seconds",
    "Time to answer an HTTP request, by endpoint and status code.",
    ("endpoint", "status"),
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("metrics", __name__)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands UTC timestamps back without a zone.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class DatabaseGauges(Collector):
    """Queue depth, age of the oldest pending delivery and time since the last reminder sweep."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from crm.notices.models import Delivery, DeliveryStatus, Heartbeat, Notice

        now = utcnow()
        pending = (DeliveryStatus.queued, DeliveryStatus.sending)
        depth = db.session.scalar(sa.select(sa.func.count(Delivery.id)).where(Delivery.status.in_(pending)))
        yield GaugeMetricFamily(
            "axcrm_delivery_queue_depth", "Deliveries queued or being sent.", value=float(depth or 0)
        )

        # A notice scheduled for later is not late yet, so age counts from the notice's send time.
        oldest = _aware(
            db.session.scalar(
                sa.select(sa.func.min(Notice.send_at))
                .join(Delivery, Delivery.notice_id == Notice.id)
                .where(Delivery.status.in_(pending), Notice.cancelled_at.is_(None), Notice.send_at <= now)
            )
        )
        yield GaugeMetricFamily(
            "axcrm_oldest_pending_delivery_seconds",
            "Age of the oldest pending delivery whose notice is due (0 when none).",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )

        last_sweep = _aware(db.session.scalar(sa.select(Heartbeat.seen_at).where(Heartbeat.name == SWEEP)))
        # NaN rather than 0 when the sweep never ran: 0 would read as "just ran" on a dashboard.
        yield GaugeMetricFamily(
            "axcrm_seconds_since_last_sweep",
            "Seconds since the daily reminder sweep last recorded its heartbeat (NaN if never).",
            value=(now - last_sweep).total_seconds() if last_sweep else float("nan"),
        )


DATABASE_GAUGES = DatabaseGauges()
REGISTRY.register(DATABASE_GAUGES)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_multiprocess_registries: dict[str, CollectorRegistry] = {}


def scrape_registry() -> CollectorRegistry:
    """The process's own registry, or in multiprocess mode one that reads every worker's files."""
    directory = os.environ.get(MULTIPROCESS_ENV)
    if not directory:
        return REGISTRY
    registry = _multiprocess_registries.get(directory)
    if registry is None:
        registry = CollectorRegistry()
        # Reads every worker's files at each scrape (this process's among them), so REGISTRY is not added.
        MultiProcessCollector(registry, path=directory)
        registry.register(DATABASE_GAUGES)
        _multiprocess_registries[directory] = registry
    return registry


def _metrics_token() -> str:
    return current_app.config.get("METRICS_TOKEN") or os.environ.get("METRICS_TOKEN") or ""


def scrape_allowed() -> bool:
    """Local scrapes, or a bearer token equal to METRICS_TOKEN (compared in constant time)."""
    if request.remote_addr in LOCAL_ADDRESSES:
        return True
    token = _metrics_token()
    header = request.headers.get("Authorization", "")
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), token.encode())


@bp.get("/metrics")
@public
def metrics() -> Response:
    if not scrape_allowed():
        abort(404)
    return Response(generate_latest(scrape_registry()), mimetype=CONTENT_TYPE_LATEST)


def _start_timer() -> None:
    g._metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("_metrics_started", None)
    if started is not None:
        REQUEST_LATENCY.labels(request.endpoint or "unmatched", str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def register_metrics(app: Flask) -> None:
    """Call before other request hooks, so the timer starts even when a later hook answers early."""
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)
