"""Scheduler health: the figures behind /admin/health, the rule of the staff banner at fixed times, the page
for admins only, and the banner for staff only."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.admin.health import (
    UNKNOWN,
    broker_queue_length,
    last_sweep_due,
    scheduler_health,
    sweep_banner,
    sweep_overdue,
)
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import KST
from crm.extensions import db
from crm.notices.models import DeliveryStatus, Heartbeat
from tests.conftest import login
from tests.factories import make_delivery, make_heartbeat, make_milestone, make_notice, make_user
from tests.services import free_port, port_open, require_service


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in May 2026, given on the Korean clock, as UTC."""
    return datetime(2026, 5, day, hour, minute, tzinfo=KST).astimezone(UTC)


# --- the banner rule at fixed times -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (kst(12, 11, 0), kst(12, 9)),  # two hours after today's run: today's run counts
        (kst(12, 10, 59), kst(11, 9)),  # still within today's grace: yesterday's run counts
        (kst(12, 8, 0), kst(11, 9)),
        (kst(12, 23, 30), kst(12, 9)),
        (kst(13, 0, 30), kst(12, 9)),  # after midnight KST (still the 12th in UTC)
    ],
)
def test_the_run_that_should_have_happened(now, due):
    assert last_sweep_due(now) == due


@pytest.mark.parametrize(
    ("last_run", "now", "overdue"),
    [
        (kst(12, 9, 0), kst(12, 15), False),  # ran today
        (kst(11, 9, 1), kst(12, 10, 30), False),  # today's run is due but not two hours late yet
        (kst(11, 9, 1), kst(12, 11, 1), True),  # today's run is over two hours late
        (kst(11, 9, 1), kst(12, 8, 0), False),  # before today's run: yesterday's counts, and happened
        (kst(10, 9, 1), kst(12, 8, 0), True),  # yesterday's run never happened
        (kst(12, 10, 30), kst(12, 12, 0), False),  # ran late (a worker was down), but ran
    ],
)
def test_the_banner_shows_when_a_due_sweep_is_more_than_two_hours_late(last_run, now, overdue):
    assert sweep_overdue(last_run, now) is overdue


def test_a_sweep_that_never_ran_matters_only_with_something_to_remind():
    assert sweep_overdue(None, kst(12, 12), anything_to_remind=True) is True
    assert sweep_overdue(None, kst(12, 12), anything_to_remind=False) is False


def test_sweep_banner_reads_the_heartbeat_and_the_open_milestones(app_ctx):
    now = kst(12, 12)
    assert sweep_banner(now) is None  # a fresh installation: nothing to miss
    make_milestone()
    assert sweep_banner(now) == {"last_seen": None, "due_at": kst(12, 9)}
    beat = make_heartbeat(name="sweep", seen_at=kst(11, 9, 0))
    assert sweep_banner(now) == {"last_seen": kst(11, 9), "due_at": kst(12, 9)}
    beat.seen_at = kst(12, 9, 0)
    db.session.flush()
    assert sweep_banner(now) is None


# --- the figures --------------------------------------------------------------------------------------------


@pytest.fixture
def embedded_broker(app):
    """As on a bare machine: no REDIS_URL (CI sets one for the whole run)."""
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = None
    yield
    app.config["REDIS_URL"] = saved


def test_health_of_a_running_system(app_ctx, embedded_broker):
    now = kst(12, 15)
    make_heartbeat(name="relay", seen_at=now - timedelta(seconds=20))
    make_heartbeat(name="sweep", seen_at=kst(12, 9, 0))
    make_heartbeat(name="worker@web-1", seen_at=now - timedelta(seconds=50))
    make_heartbeat(name="worker@web-2", seen_at=now - timedelta(minutes=10))  # gone
    with_due = make_notice(send_at=now - timedelta(minutes=3))
    make_delivery(with_due, status=DeliveryStatus.queued)
    make_delivery(with_due, status=DeliveryStatus.sending)
    make_delivery(with_due, status=DeliveryStatus.sent)
    make_delivery(make_notice(send_at=now + timedelta(days=1)), status=DeliveryStatus.queued)  # for later
    make_delivery(with_due, status=DeliveryStatus.failed, claimed_at=now - timedelta(days=2))  # old failure

    health = scheduler_health(now)

    assert health["beat"]["ok"] and health["beat"]["age"] == timedelta(seconds=20)
    assert health["sweep"]["ok"] and not health["sweep"]["overdue"]
    assert [(w["name"], w["ok"]) for w in health["workers"]] == [("web-1", True), ("web-2", False)]
    assert health["workers_alive"] == 1 and health["workers_ok"]
    assert health["queue"]["deliveries"] == 3  # queued and sending, the scheduled one included
    assert health["queue"]["broker"] is None  # no REDIS_URL in tests: the embedded broker
    assert health["oldest_pending"]["age"] == timedelta(minutes=3) and health["oldest_pending"]["ok"]
    assert health["failed_24h"] == 0
    assert health["ok"] is True


def test_health_of_a_stopped_system(app_ctx):
    now = kst(12, 15)
    make_heartbeat(name="relay", seen_at=now - timedelta(minutes=5))
    make_heartbeat(name="sweep", seen_at=now - timedelta(hours=30))
    make_heartbeat(name="worker@web-1", seen_at=now - timedelta(minutes=4))
    late = make_notice(send_at=now - timedelta(hours=1))
    make_delivery(late, status=DeliveryStatus.queued)
    make_delivery(late, status=DeliveryStatus.failed, claimed_at=now - timedelta(hours=2))
    make_delivery(
        make_notice(send_at=now - timedelta(days=2), cancelled_at=now), status=DeliveryStatus.queued
    )

    health = scheduler_health(now)

    assert not health["beat"]["ok"]
    assert not health["sweep"]["ok"] and health["sweep"]["overdue"]
    assert not health["workers_ok"] and health["workers_alive"] == 0
    assert health["oldest_pending"]["age"] == timedelta(hours=1) and not health["oldest_pending"]["ok"]
    assert health["failed_24h"] == 1
    assert health["ok"] is False


def test_nothing_seen_yet(app_ctx):
    health = scheduler_health()
    assert health["beat"] == {"seen_at": None, "age": None, "ok": False}
    assert health["sweep"]["seen_at"] is None and health["workers"] == []
    assert health["oldest_pending"] is None and health["queue"]["deliveries"] == 0


def test_an_unreachable_redis_makes_the_broker_queue_unknown(app, app_ctx):
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    try:
        assert broker_queue_length() == UNKNOWN
        assert scheduler_health()["queue"]["broker_ok"] is False
    finally:
        app.config["REDIS_URL"] = saved


def test_the_broker_queue_length_comes_from_redis(app, app_ctx):
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    client = redis.Redis.from_url(url, socket_timeout=1)
    require_service("Redis", port_open(client.connection_pool.connection_kwargs["host"], 6379))
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = url
    client.delete("celery")
    client.rpush("celery", "one", "two", "three")
    try:
        assert broker_queue_length() == 3
    finally:
        client.delete("celery")
        client.close()
        app.config["REDIS_URL"] = saved


# --- the page and the banner -------------------------------------------------------------------------------


def _browser(app: Flask, role: Role) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, make_user(role).email)
    return browser


def test_the_page_shows_each_state_in_words(app, embedded_broker):
    now = utcnow()
    make_heartbeat(name="relay", seen_at=now - timedelta(seconds=10))
    make_heartbeat(name="worker@worker-a", seen_at=now - timedelta(seconds=30))
    make_delivery(make_notice(send_at=now - timedelta(hours=2)), status=DeliveryStatus.queued)

    page = _browser(app, Role.admin).get("/admin/health")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Scheduler health" in html
    assert "The relay ran within the last 2 minutes." in html
    assert "The sweep has never run." in html
    assert "worker-a" in html and "Alive" in html
    assert "Not counted (embedded broker, no Redis)" in html
    assert "over 15 minutes" in html  # the delivery waiting for two hours
    assert "Something needs attention" in html


@pytest.mark.parametrize("role", [Role.consortium_manager, Role.coordinator, Role.firm_user, Role.evaluator])
def test_the_page_is_for_admins_only(app, role):
    assert _browser(app, role).get("/admin/health").status_code == 403


@pytest.mark.parametrize("role", [Role.admin, Role.consortium_manager, Role.coordinator])
def test_staff_see_the_banner_when_the_sweep_is_late(app, role):
    make_heartbeat(name="sweep", seen_at=utcnow() - timedelta(hours=30))  # late at any time of day
    html = _browser(app, role).get("/account").get_data(as_text=True)
    assert "The daily reminder sweep has not run since" in html
    assert ('href="/admin/health"' in html) is (role is Role.admin)


@pytest.mark.parametrize("role", [Role.firm_user, Role.evaluator, Role.national_viewer])
def test_others_never_see_the_banner(app, role):
    make_heartbeat(name="sweep", seen_at=utcnow() - timedelta(hours=30))
    html = _browser(app, role).get("/account").get_data(as_text=True)
    assert "reminder sweep" not in html


def test_no_banner_when_the_sweep_ran(app):
    make_heartbeat(name="sweep", seen_at=utcnow())
    make_milestone()
    html = _browser(app, Role.coordinator).get("/account").get_data(as_text=True)
    assert "reminder sweep" not in html
    assert db.session.scalar(sa.select(sa.func.count(Heartbeat.id))) == 1
