"""The outbox engine in one process: queueing, the relay, claims and leases, SMTP outcomes, encoding."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.core.db import utcnow
from crm.extensions import db
from crm.notices import outbox
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus
from crm.notices.outbox import Recipient, queue_notice
from tests.factories import make_user
from tests.smtp_sink import smtp_sink

KOREAN_SUBJECT = "[AX CRM] 보완 요청: 2026년 울산 AI 솔루션 도입 지원사업"
KOREAN_BODY = "(주)울산스마트팩토리의 신청서를 12월 1일(화)까지 보완해 주세요.\n감사합니다."


@pytest.fixture
def smtp(app):
    with smtp_sink() as sink:
        previous = app.config.get("SMTP_URL")
        app.config["SMTP_URL"] = sink.url
        app.config["DELIVERY_RETRY_BASE_SECONDS"] = 0
        try:
            yield sink
        finally:
            app.config["SMTP_URL"] = previous
            app.config["DELIVERY_RETRY_BASE_SECONDS"] = 30


def _queue(*addresses: str, **kw) -> Notice:
    recipients = [Recipient(address, f"담당자{i}") for i, address in enumerate(addresses)]
    values = {"kind": NoticeKind.status_change, "subject": KOREAN_SUBJECT, "body": KOREAN_BODY, **kw}
    return queue_notice(recipients=recipients, **values)


def _deliver(now=None) -> int:
    return outbox.relay(outbox.send_delivery, now=now)


def test_queueing_writes_one_queued_delivery_per_address_with_a_stable_message_id(app_ctx):
    notice = _queue("a@example.com", "A@example.com", "b@example.com")
    assert [d.recipient for d in notice.deliveries] == ["a@example.com", "b@example.com"]
    assert {d.status for d in notice.deliveries} == {DeliveryStatus.queued}
    ids = [d.message_id for d in notice.deliveries]
    assert len(set(ids)) == 2 and all(i.startswith("<axcrm.") and i.endswith("@axcrm.local>") for i in ids)


def test_a_rolled_back_transaction_sends_nothing(app_ctx, smtp):
    nested = db.session.begin_nested()
    _queue("rollback@example.com")
    nested.rollback()
    assert _deliver() == 0
    assert smtp.to("rollback@example.com") == []
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0


def test_relay_sends_korean_mail_correctly_encoded_with_its_message_id(app_ctx, smtp):
    notice = _queue("ko@example.com")
    db.session.commit()
    assert _deliver() == 1
    [message] = smtp.to("ko@example.com")
    assert message["Subject"] == KOREAN_SUBJECT
    assert message.get_content().strip() == KOREAN_BODY
    assert message["Message-ID"] == notice.deliveries[0].message_id
    raw = message.as_bytes()
    assert "보완".encode() not in raw.split(b"\n\n", 1)[0]  # headers are RFC 2047 encoded, not raw UTF-8
    db.session.expire_all()
    assert notice.deliveries[0].status is DeliveryStatus.sent and notice.status is NoticeStatus.done
    assert _deliver() == 0  # nothing left to send


def test_smtp_4xx_is_retried_then_sent(app_ctx, smtp):
    smtp.refusals["busy@example.com"] = ["451 4.3.0 Mailbox busy, try again later"]
    notice = _queue("busy@example.com")
    db.session.commit()
    _deliver()
    delivery = notice.deliveries[0]
    db.session.refresh(delivery)
    assert (
        delivery.status is DeliveryStatus.queued and "451" in delivery.last_error and delivery.attempts == 1
    )
    _deliver(now=utcnow() + timedelta(seconds=1))
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.sent and delivery.attempts == 2
    assert len(smtp.to("busy@example.com")) == 1


def test_smtp_5xx_fails_with_its_error_and_staff_can_retry(app_ctx, smtp):
    smtp.refusals["nobody@example.com"] = ["550 5.1.1 No such user here"]
    notice = _queue("nobody@example.com")
    db.session.commit()
    _deliver()
    delivery = notice.deliveries[0]
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.failed and "550" in delivery.last_error
    assert smtp.to("nobody@example.com") == []
    outbox.requeue_failed(delivery, make_user())
    db.session.commit()
    _deliver()
    db.session.refresh(delivery)
    assert delivery.status is DeliveryStatus.sent and len(smtp.to("nobody@example.com")) == 1


def test_retries_end_in_failure_after_the_last_attempt(app_ctx, smtp, app):
    app.config["DELIVERY_MAX_ATTEMPTS"] = 2
    try:
        smtp.refusals["flaky@example.com"] = ["421 4.7.0 Service not available"] * 5
        notice = _queue("flaky@example.com")
        db.session.commit()
        _deliver()
        _deliver(now=utcnow() + timedelta(seconds=1))
        delivery = notice.deliveries[0]
        db.session.refresh(delivery)
        assert delivery.status is DeliveryStatus.failed and delivery.attempts == 2
    finally:
        app.config["DELIVERY_MAX_ATTEMPTS"] = 8


def test_an_unreachable_smtp_server_is_a_temporary_failure(app_ctx, app):
    from tests.services import free_port

    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    try:
        notice = _queue("down@example.com")
        db.session.commit()
        _deliver()
        delivery = notice.deliveries[0]
        db.session.refresh(delivery)
        assert delivery.status is DeliveryStatus.queued and delivery.next_attempt_at > utcnow()
    finally:
        app.config["SMTP_URL"] = None


def test_only_one_claim_wins_and_a_live_lease_is_not_taken_over(app_ctx):
    notice = _queue("claim@example.com")
    db.session.commit()
    delivery_id = notice.deliveries[0].id
    with outbox._sender_session() as first, outbox._sender_session() as second:
        assert outbox.claim(first, delivery_id) is True
        assert outbox.claim(second, delivery_id) is False
        later = utcnow() + timedelta(seconds=121)
        assert outbox.claim(second, delivery_id, now=later) is True  # the first sender's lease expired


def test_relay_takes_up_expired_leases_and_lost_messages_but_not_fresh_ones(app_ctx):
    notice = _queue("lease@example.com", "lost@example.com", "fresh@example.com")
    db.session.commit()
    lease, lost, fresh = notice.deliveries
    now = utcnow()
    lease.status, lease.lease_expires_at = DeliveryStatus.sending, now - timedelta(seconds=1)
    lost.enqueued_at = now - timedelta(seconds=301)
    fresh.enqueued_at = now - timedelta(seconds=10)
    db.session.commit()
    handed: list[int] = []
    outbox.relay(handed.append, now=now)
    assert sorted(handed) == sorted([lease.id, lost.id])


def test_a_broker_that_is_down_leaves_deliveries_for_the_next_relay(app_ctx):
    notice = _queue("later@example.com")
    db.session.commit()

    def broker_down(_delivery_id: int) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    assert outbox.relay(broker_down) == 0
    handed: list[int] = []
    outbox.relay(handed.append)
    assert handed == [notice.deliveries[0].id]


def test_scheduled_cancelled_and_quiet_hour_notices_wait(app_ctx):
    now = utcnow()
    later = _queue("later@example.com", send_at=now + timedelta(hours=1))
    cancelled = _queue("cancelled@example.com")
    cancelled.cancelled_at = now
    night = (now - timedelta(days=1)).replace(hour=13, minute=0)  # 22:00 KST, in the past
    marketing = _queue("promo@example.com", marketing=True, send_at=night - timedelta(minutes=5))
    db.session.commit()
    at_night: list[int] = []
    outbox.relay(at_night.append, now=night)
    assert marketing.deliveries[0].id not in at_night
    in_the_morning: list[int] = []
    outbox.relay(in_the_morning.append, now=night + timedelta(hours=10))  # 08:00 KST
    assert marketing.deliveries[0].id in in_the_morning
    right_now: list[int] = []
    outbox.relay(right_now.append, now=now)
    assert later.deliveries[0].id not in right_now and cancelled.deliveries[0].id not in right_now


def test_without_smtp_url_mail_lands_in_the_outbox_folder_once_per_message_id(app_ctx, app, tmp_path):
    previous = app.config["OUTBOX_DIR"]
    app.config["OUTBOX_DIR"] = str(tmp_path)
    try:
        notice = _queue("eml@example.com")
        db.session.commit()
        _deliver()
        delivery = notice.deliveries[0]
        outbox.send(delivery)  # a resend after a lost acknowledgement overwrites, never duplicates
        files = list(Path(tmp_path).glob("*.eml"))
        assert len(files) == 1
        message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
        assert message["Subject"] == KOREAN_SUBJECT and message["Message-ID"] == delivery.message_id
    finally:
        app.config["OUTBOX_DIR"] = previous
