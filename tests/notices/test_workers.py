"""The outbox with real processes: a Celery worker (with beat) on a Redis of the test's own, an aiosmtpd sink,
PostgreSQL with real commits. Exactly once per recipient, through a SIGKILLed worker and a Redis outage, in
batches of deliveries that each go over one SMTP connection."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Heartbeat, NoticeKind
from crm.notices.outbox import Recipient, queue_notice
from tests.smtp_sink import smtp_sink
from tests.worker_harness import RedisServer, Worker, wait_for

pytestmark = pytest.mark.slow

BATCH = 20


@pytest.fixture
def sink():
    with smtp_sink() as running:
        yield running


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_worker(tmp_path, sink, redis_server):
    workers: list[Worker] = []

    def start() -> Worker:
        worker = Worker(
            tmp_path,
            {
                "REDIS_URL": redis_server.url,
                "SMTP_URL": sink.url,
                "CRM_INSTANCE_DIR": str(tmp_path / "instance"),
                "OUTBOX_RELAY_SECONDS": "0.5",
                "DELIVERY_LEASE_SECONDS": "5",
                "DELIVERY_REENQUEUE_SECONDS": "8",
                "DELIVERY_RETRY_BASE_SECONDS": "1",
                "DELIVERY_BATCH_SIZE": str(BATCH),
            },
        )
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _queue(count: int, prefix: str) -> list[str]:
    addresses = [f"{prefix}{n:04d}@example.com" for n in range(count)]
    queue_notice(
        kind=NoticeKind.cohort,
        subject="[AX CRM] 2026년 2차 모집 안내",
        body="신청 마감은 12월 15일(화) 18:00입니다.",
        recipients=[Recipient(address, f"담당자{n}") for n, address in enumerate(addresses)],
    )
    db.session.commit()
    return addresses


def _sent() -> int:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(sa.func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.sent)
    )


def _assert_exactly_once(sink, addresses: list[str]) -> None:
    expected = set(
        db.session.scalars(sa.select(Delivery.message_id).where(Delivery.recipient.in_(addresses)))
    )
    received = sink.message_ids()
    assert set(received) == expected, "every delivery's Message-ID arrived, and no other"
    by_address: dict[str, set[str]] = {}
    for message in sink.messages:
        address = str(message["To"]).split("<")[-1].rstrip(">")
        by_address.setdefault(address, set()).add(str(message["Message-ID"]))
    assert set(by_address) == set(addresses)
    assert all(len(ids) == 1 for ids in by_address.values()), "one message per recipient"


def test_a_500_recipient_notice_arrives_exactly_once_each(committed, start_worker, sink):
    addresses = _queue(500, "cohort")
    worker = start_worker()
    wait_for(lambda: _sent() == 500, 180, f"500 sent; worker log:\n{worker.output()}", interval=1)
    time.sleep(2)  # anything sent twice would arrive now
    _assert_exactly_once(sink, addresses)
    assert len(sink.messages) == 500
    # About one connection per batch (batches re-enqueued late under load may add a few), not one per message.
    assert 500 // BATCH <= sink.connections <= 2 * 500 // BATCH
    names = set(db.session.scalars(sa.select(Heartbeat.name)))
    assert "relay" in names and any(name.startswith("worker@test") for name in names)


def test_a_killed_worker_mid_send_loses_nothing_and_sends_nothing_twice(committed, start_worker, sink):
    sink.delay = 0.02  # a batch takes 0.4 s: the kill lands mid-batch
    addresses = _queue(200, "killed")
    first = start_worker()
    wait_for(
        lambda: len(sink.messages) >= 20, 120, f"sending to start; log:\n{first.output()}", interval=0.05
    )
    first.kill()
    assert _sent() < 200, "the worker was killed before it finished"
    second = start_worker()
    wait_for(lambda: _sent() == 200, 180, f"all sent after the restart; log:\n{second.output()}", interval=1)
    time.sleep(2)
    _assert_exactly_once(sink, addresses)


def test_with_redis_down_a_notice_is_created_quickly_and_sent_when_it_is_back(
    committed, start_worker, sink, redis_server
):
    worker = start_worker()
    redis_server.stop()
    started = time.monotonic()
    addresses = _queue(3, "outage")
    assert time.monotonic() - started < 2
    time.sleep(2)
    assert sink.messages == []
    redis_server.start()  # the same port: the worker reconnects
    wait_for(lambda: _sent() == 3, 120, f"sent after Redis came back; log:\n{worker.output()}", interval=1)
    _assert_exactly_once(sink, addresses)


def test_an_smtp_4xx_is_retried_by_the_worker_and_a_5xx_fails_with_its_error(committed, start_worker, sink):
    sink.refusals["busy@example.com"] = ["451 4.3.0 Mailbox busy"]
    sink.refusals["nobody@example.com"] = ["550 5.1.1 No such user"]
    queue_notice(
        kind=NoticeKind.status_change,
        subject="[AX CRM] 접수 완료",
        body="신청이 접수되었습니다.",
        recipients=[Recipient("busy@example.com"), Recipient("nobody@example.com")],
    )
    db.session.commit()
    worker = start_worker()

    def settled() -> bool:
        db.session.expire_all()
        statuses = dict(db.session.execute(sa.select(Delivery.recipient, Delivery.status)).all())
        return (
            statuses.get("busy@example.com") is DeliveryStatus.sent
            and statuses.get("nobody@example.com") is DeliveryStatus.failed
        )

    wait_for(settled, 60, f"4xx retried and 5xx failed; log:\n{worker.output()}", interval=0.5)
    failed = db.session.scalar(sa.select(Delivery).where(Delivery.recipient == "nobody@example.com"))
    busy = db.session.scalar(sa.select(Delivery).where(Delivery.recipient == "busy@example.com"))
    assert "550" in failed.last_error and busy.attempts == 2
    assert len(sink.to("busy@example.com")) == 1 and sink.to("nobody@example.com") == []
