"""/metrics: who may scrape it, the latency histogram and the gauges computed from the database."""

from __future__ import annotations

import math
import re
from datetime import timedelta

import pytest

from crm.core.db import utcnow
from crm.notices.models import DeliveryStatus
from tests.factories import make_delivery, make_heartbeat, make_notice

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from:\n{text}"
    return float(match.group(1))


def test_local_scrape_answers_with_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "axcrm_delivery_queue_depth" in response.get_data(as_text=True)


def test_ipv6_loopback_may_scrape(client):
    assert client.get("/metrics", environ_overrides={"REMOTE_ADDR": "::1"}).status_code == 200


def test_remote_scrape_without_token_is_404(client):
    assert client.get("/metrics", environ_overrides=REMOTE).status_code == 404


def test_remote_scrape_with_token(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-metrics-token")
    ok = client.get(
        "/metrics", environ_overrides=REMOTE, headers={"Authorization": "Bearer s3cret-metrics-token"}
    )
    assert ok.status_code == 200
    wrong = client.get("/metrics", environ_overrides=REMOTE, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 404
    basic = client.get(
        "/metrics", environ_overrides=REMOTE, headers={"Authorization": "Basic s3cret-metrics-token"}
    )
    assert basic.status_code == 404


def test_empty_token_never_matches(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "")
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    response = client.get("/metrics", environ_overrides=REMOTE, headers={"Authorization": "Bearer "})
    assert response.status_code == 404


def test_latency_histogram_counts_requests_by_endpoint_and_status(client):
    def count() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        match = re.search(
            r'^axcrm_request_latency_seconds_count\{endpoint="health.healthz",status="200"\} (\S+)$',
            text,
            re.MULTILINE,
        )
        return float(match.group(1)) if match else 0.0

    before = count()
    client.get("/healthz")
    client.get("/healthz")
    assert count() == before + 2
    client.get("/no-such-page")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="unmatched",status="404"' in text


def test_gauges_from_the_database(app_ctx, client):
    now = utcnow()
    due = make_notice(send_at=now - timedelta(minutes=10))
    later = make_notice(send_at=now + timedelta(hours=1))
    make_delivery(due, status=DeliveryStatus.queued)
    make_delivery(due, status=DeliveryStatus.sending)
    make_delivery(due, status=DeliveryStatus.sent)
    make_delivery(later, status=DeliveryStatus.queued)
    make_heartbeat(name="sweep", seen_at=now - timedelta(hours=3))

    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, "axcrm_delivery_queue_depth") == 3
    assert 590 <= _value(text, "axcrm_oldest_pending_delivery_seconds") <= 700
    assert 3 * 3600 - 5 <= _value(text, "axcrm_seconds_since_last_sweep") <= 3 * 3600 + 60


def test_gauges_when_nothing_is_pending_and_no_sweep_ran(client):
    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, "axcrm_delivery_queue_depth") == 0
    assert _value(text, "axcrm_oldest_pending_delivery_seconds") == 0
    assert math.isnan(_value(text, "axcrm_seconds_since_last_sweep"))


@pytest.mark.parametrize("path", ["/metrics"])
def test_metrics_needs_no_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers or "axcrm_session" not in response.headers["Set-Cookie"]
