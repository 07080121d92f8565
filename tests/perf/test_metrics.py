"""/metrics: who may scrape it, the latency histogram and the gauges computed from the database."""

from __future__ import annotations

import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
import types
import urllib.request
from datetime import timedelta
from pathlib import Path

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


# Several processes (gunicorn workers): prometheus_client's multiprocess mode.

ROOT = Path(__file__).resolve().parents[2]
HEALTHZ_COUNT = re.compile(
    r'^axcrm_request_latency_seconds_count\{endpoint="health.healthz",status="200"\} (\S+)$', re.MULTILINE
)

# A web process of its own: prometheus_client reads PROMETHEUS_MULTIPROC_DIR when it is imported.
WORKER_PROCESS = """
import sys
from config import TestConfig
from crm import create_app

client = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://").test_client()
for _ in range(int(sys.argv[1])):
    assert client.get("/healthz").status_code == 200
"""


def _serve_healthz_in_a_process(directory: Path, requests: int) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", WORKER_PROCESS, str(requests)], cwd=ROOT, env=env, check=True)


def _healthz_count(text: str) -> float:
    match = HEALTHZ_COUNT.search(text)
    return float(match.group(1)) if match else 0.0


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multiprocess_scrape_adds_up_every_process(app_ctx, client, tmp_path, monkeypatch):
    _serve_healthz_in_a_process(tmp_path, 2)
    _serve_healthz_in_a_process(tmp_path, 3)
    assert len(list(tmp_path.glob("histogram_*.db"))) == 2

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    make_delivery(make_notice(send_at=utcnow() - timedelta(minutes=1)), status=DeliveryStatus.queued)
    text = client.get("/metrics").get_data(as_text=True)
    assert _healthz_count(text) == 5
    # The gauges are still computed from the database by the process that answers.
    assert _value(text, "axcrm_delivery_queue_depth") == 1
    assert text.count("# TYPE axcrm_request_latency_seconds histogram") == 1


def test_gunicorn_hooks_clear_stale_files_and_keep_the_dead_workers_counts(client, tmp_path, monkeypatch):
    conf = _gunicorn_conf()
    _serve_healthz_in_a_process(tmp_path, 4)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (stale,) = tmp_path.glob("histogram_*.db")
    pid = int(stale.stem.split("_")[1])

    # A worker that exited: its requests still count (a counter must not go backwards).
    conf.child_exit(None, types.SimpleNamespace(pid=pid))
    assert _healthz_count(client.get("/metrics").get_data(as_text=True)) == 4

    # A new gunicorn start begins from nothing.
    conf.on_starting(None)
    assert list(tmp_path.glob("*.db")) == []
    assert _healthz_count(client.get("/metrics").get_data(as_text=True)) == 0


def test_two_gunicorn_workers_report_the_same_totals(app, tmp_path):
    """The real thing: gunicorn with two workers and the hooks of gunicorn.conf.py. Workers are replaced
    every 4 requests, so the 12 requests are served by several processes, some gone by the scrape; whichever
    worker answers the scrape reports all 12."""
    from tests.services import free_port, port_open
    from tests.worker_harness import wait_for

    port = free_port()
    metrics_dir = tmp_path / "metrics"
    env = {
        **os.environ,
        "CRM_CONFIG": "test",
        "TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    # --preload: a replacement worker is a fork of the loaded app, which keeps the test quick.
    command = [sys.executable, "-m", "gunicorn", "-w", "2", "--max-requests", "4", "--preload"]
    command += ["-b", f"127.0.0.1:{port}", "wsgi:app"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, **quiet)
    try:
        wait_for(lambda: port_open("127.0.0.1", port), 30, "gunicorn to listen")
        base = f"http://127.0.0.1:{port}"
        for _ in range(12):
            with urllib.request.urlopen(f"{base}/healthz") as response:
                assert response.status == 200
        counts = set()
        for _ in range(6):
            with urllib.request.urlopen(f"{base}/metrics") as response:
                counts.add(_healthz_count(response.read().decode()))
        assert counts == {12.0}
        assert len(list(metrics_dir.glob("histogram_*.db"))) >= 3
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
