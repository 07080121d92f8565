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


# --- batches ----------------------------------------------------------------------------------------------


def _statuses(notice: Notice) -> dict[str, Delivery]:
    db.session.expire_all()
    return {d.recipient: d for d in db.session.get(Notice, notice.id).deliveries}


def test_a_batch_is_sent_over_one_smtp_connection(app_ctx, smtp):
    addresses = [f"batch{n:02d}@example.com" for n in range(25)]
    notice = _queue(*addresses)
    db.session.commit()
    outcomes: dict[int, str] = {}
    assert outbox.relay_batches(lambda ids: outcomes.update(outbox.send_batch(ids)), batch_size=25) == 25
    assert set(outcomes.values()) == {"sent"} and len(outcomes) == 25
    assert smtp.connections == 1
    deliveries = _statuses(notice)
    assert sorted(smtp.message_ids()) == sorted(d.message_id for d in deliveries.values())
    assert all(d.status is DeliveryStatus.sent and d.attempts == 1 for d in deliveries.values())
    assert db.session.get(Notice, notice.id).status is NoticeStatus.done


def test_the_relay_hands_over_batches_in_id_order(app_ctx):
    notice = _queue(*(f"order{n}@example.com" for n in range(5)))
    db.session.commit()
    handed: list[list[int]] = []
    assert outbox.relay_batches(handed.append, batch_size=2) == 5
    assert handed == [[d.id for d in notice.deliveries][i : i + 2] for i in (0, 2, 4)]


def test_a_broker_failing_mid_relay_leaves_the_refused_batches_for_the_next_run(app_ctx):
    notice = _queue(*(f"flaky{n}@example.com" for n in range(5)))
    db.session.commit()
    ids = [d.id for d in notice.deliveries]
    accepted: list[list[int]] = []

    def broker(batch: list[int]) -> None:
        if accepted:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        accepted.append(batch)

    assert outbox.relay_batches(broker, batch_size=2) == 2
    again: list[list[int]] = []
    outbox.relay_batches(again.append, batch_size=2)
    assert accepted == [ids[:2]] and again == [ids[2:4], ids[4:]]


def test_a_4xx_in_a_batch_retries_only_that_delivery(app_ctx, smtp):
    smtp.refusals["busy@example.com"] = ["451 4.3.0 Mailbox busy, try again later"]
    notice = _queue("first@example.com", "busy@example.com", "last@example.com")
    db.session.commit()
    first, busy, last = (d.id for d in notice.deliveries)
    assert outbox.send_batch([first, busy, last]) == {first: "sent", busy: "retry", last: "sent"}
    assert smtp.connections == 1  # the refusal did not cost the batch its connection
    deliveries = _statuses(notice)
    assert deliveries["busy@example.com"].status is DeliveryStatus.queued
    assert "451" in deliveries["busy@example.com"].last_error
    assert (
        deliveries["first@example.com"].status is deliveries["last@example.com"].status is DeliveryStatus.sent
    )

    handed: list[list[int]] = []
    outbox.relay_batches(handed.append, now=utcnow() + timedelta(seconds=1))
    assert handed == [[busy]]
    assert outbox.send_batch(handed[0]) == {busy: "sent"}
    deliveries = _statuses(notice)
    assert {a: d.attempts for a, d in deliveries.items()} == {
        "first@example.com": 1,
        "busy@example.com": 2,
        "last@example.com": 1,
    }
    assert all(len(smtp.to(address)) == 1 for address in deliveries)


def test_a_5xx_in_a_batch_fails_only_that_delivery(app_ctx, smtp):
    smtp.refusals["nobody@example.com"] = ["550 5.1.1 No such user here"]
    notice = _queue("someone@example.com", "nobody@example.com")
    db.session.commit()
    outbox.send_batch([d.id for d in notice.deliveries])
    deliveries = _statuses(notice)
    assert deliveries["nobody@example.com"].status is DeliveryStatus.failed
    assert "550" in deliveries["nobody@example.com"].last_error
    assert deliveries["someone@example.com"].status is DeliveryStatus.sent
    assert db.session.get(Notice, notice.id).status is NoticeStatus.done


def test_a_server_closing_the_connection_costs_one_retry_and_the_batch_reconnects(app_ctx, smtp):
    smtp.refusals["closing@example.com"] = ["421 4.7.0 Too many messages, closing connection"]
    notice = _queue("before@example.com", "closing@example.com", "after@example.com")
    db.session.commit()
    before, closing, after = (d.id for d in notice.deliveries)
    assert outbox.send_batch([before, closing, after]) == {before: "sent", closing: "retry", after: "sent"}
    assert smtp.connections == 2
    assert len(smtp.to("after@example.com")) == 1


def test_an_unexpected_error_with_one_message_does_not_strand_the_batch(app_ctx, smtp, monkeypatch):
    notice = _queue("ok@example.com", "odd@example.com", "fine@example.com")
    db.session.commit()
    real_send = outbox.send

    def send(delivery, mailer=None):
        if delivery.recipient == "odd@example.com":
            raise UnicodeEncodeError("ascii", "x", 0, 1, "a surprise")
        real_send(delivery, mailer)

    monkeypatch.setattr(outbox, "send", send)
    outbox.send_batch([d.id for d in notice.deliveries])
    deliveries = _statuses(notice)
    assert deliveries["odd@example.com"].status is DeliveryStatus.queued
    assert "UnicodeEncodeError" in deliveries["odd@example.com"].last_error
    assert {deliveries[a].status for a in ("ok@example.com", "fine@example.com")} == {DeliveryStatus.sent}


def test_a_batch_claims_only_what_nobody_holds_with_a_lease_sized_to_the_batch(app_ctx, app):
    notice = _queue(*(f"lease{n}@example.com" for n in range(4)))
    db.session.commit()
    ids = [d.id for d in notice.deliveries]
    now = utcnow()
    with outbox._sender_session() as first, outbox._sender_session() as second:
        assert outbox.claim_batch(first, ids[:1], now) == ids[:1]
        assert outbox.claim_batch(second, ids, now) == ids[1:]  # the held one is left to its sender
    leases = {d.id: d.lease_expires_at for d in _statuses(notice).values()}
    base = now + timedelta(seconds=app.config["DELIVERY_LEASE_SECONDS"])
    assert leases[ids[0]] == base + outbox.LEASE_PER_MESSAGE
    assert all(leases[i] == base + 4 * outbox.LEASE_PER_MESSAGE for i in ids[1:])


def test_a_sender_whose_lease_was_taken_over_records_nothing_over_the_new_claim(app_ctx):
    notice = _queue("slow@example.com")
    db.session.commit()
    [delivery_id] = [d.id for d in notice.deliveries]
    long_ago = utcnow() - timedelta(hours=1)
    with outbox._sender_session() as slow, outbox._sender_session() as other:
        assert outbox.claim_batch(slow, [delivery_id], long_ago) == [delivery_id]
        assert outbox.claim_batch(other, [delivery_id]) == [delivery_id]  # the lease had expired
        ledger = outbox._Ledger(slow, long_ago, [delivery_id])
        ledger.record(delivery_id, {"status": DeliveryStatus.failed, "last_error": "too late"})
        ledger.commit()
    delivery = _statuses(notice)["slow@example.com"]
    assert delivery.status is DeliveryStatus.sending and delivery.last_error == ""


def test_rendered_headers_are_folded_encoded_and_cannot_be_injected(app_ctx):
    subject = "[AX CRM] 보완 요청: " + "울산 AI 솔루션 도입 지원사업 " * 4 + "\r\nBcc: spy@example.com"
    raw = outbox.render_message(
        "to@example.com", "김담당, 팀장", subject, KOREAN_BODY, "<axcrm.1.2@axcrm.local>"
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    assert raw.isascii()  # every header and the body are 7-bit on the wire
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Bcc"] is None and message["Subject"] == subject.replace("\r\n", " ")
    assert message["To"].addresses[0].display_name == "김담당, 팀장"
    assert message.get_content() == KOREAN_BODY and message["Message-ID"] == "<axcrm.1.2@axcrm.local>"
