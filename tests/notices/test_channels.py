"""SMS and 카카오 알림톡 against a real HTTP server standing in for the provider: 알림톡 first, SMS when it
fails, outcomes mapped to temporary and permanent failures, the key sent, marketing consent checked at
send time, and the whole way from queue_notice through the relay."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.core.db import utcnow
from crm.extensions import db
from crm.notices.channels import normalise_phone, send_text
from crm.notices.errors import PermanentFailure, TemporaryFailure
from crm.notices.models import Delivery, DeliveryStatus, NoticeKind
from crm.notices.outbox import Recipient, queue_notice, relay, send_delivery
from tests.factories import make_contact, make_delivery, make_notice
from tests.services import free_port

API_KEY = "test-provider-key"
SENDER = "0521234567"


class _Provider(ThreadingHTTPServer):
    received: list[dict[str, Any]]
    answers: dict[str, int]


class _Handler(BaseHTTPRequestHandler):
    server: _Provider

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length).decode("utf-8"))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "json": payload})
        status = self.server.answers.get(payload.get("type"), 200)
        body = json.dumps({"result": "ok" if status < 300 else "error"}).encode()
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        return None


@pytest.fixture
def provider(app: Flask) -> Iterator[_Provider]:
    port = free_port()
    server = _Provider(("127.0.0.1", port), _Handler)
    server.received, server.answers = [], {}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    keys = ("TEXT_API_URL", "TEXT_API_KEY", "TEXT_SENDER")
    saved = {key: app.config.get(key) for key in keys}
    app.config.update(
        TEXT_API_URL=f"http://127.0.0.1:{port}/v1/messages", TEXT_API_KEY=API_KEY, TEXT_SENDER=SENDER
    )
    try:
        yield server
    finally:
        app.config.update(saved)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _delivery(channel: str = "alimtalk", phone: str = "010-1234-5678", **notice_kw: Any) -> Delivery:
    notice = make_notice(channel=channel, **notice_kw)
    n = notice.id
    return make_delivery(
        notice, recipient=phone, channel=channel, message_id=f"<axcrm.{n}.1@axcrm.local>", subject="제목"
    )


def _types(provider: _Provider) -> list[str]:
    return [request["json"]["type"] for request in provider.received]


# --- phone numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010-1234-5678", "01012345678"),
        ("010 1234 5678", "01012345678"),
        ("(010) 1234.5678", "01012345678"),
        ("+82 10-1234-5678", "01012345678"),
        ("011-123-4567", "0111234567"),
        ("02-123-4567", None),  # a landline takes neither SMS nor 알림톡
        ("010-12-34", None),
        ("010-1234-5678 내선 2", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_numbers_are_normalised_or_refused(raw, expected):
    assert normalise_phone(raw) == expected


# --- one message ------------------------------------------------------------------------------------------


def test_alimtalk_goes_first_with_the_key_the_sender_and_the_normalised_number(app_ctx, provider):
    delivery = _delivery()
    send_text(delivery, "[AX CRM] 신청 접수 완료", "신청이 접수되었습니다.")

    assert len(provider.received) == 1
    request = provider.received[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert request["json"] == {
        "type": "alimtalk",
        "from": SENDER,
        "to": "01012345678",
        "ref": delivery.message_id,
        "template": "axcrm_status_change",
        "text": "신청이 접수되었습니다.",
    }


def test_a_failed_alimtalk_falls_back_to_sms_with_subject_and_body(app_ctx, provider):
    provider.answers["alimtalk"] = 400  # e.g. the number does not use KakaoTalk
    delivery = _delivery()
    send_text(delivery, "[AX CRM] 보완 요청", "5월 15일까지 보완해 주세요.")

    assert _types(provider) == ["alimtalk", "sms"]
    sms = provider.received[1]["json"]
    assert sms["to"] == "01012345678" and sms["from"] == SENDER
    assert sms["text"] == "[AX CRM] 보완 요청\n\n5월 15일까지 보완해 주세요."
    assert "template" not in sms
    assert provider.received[1]["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_alimtalk_server_errors_fall_back_to_sms_too(app_ctx, provider):
    provider.answers["alimtalk"] = 503
    send_text(_delivery(), "제목", "본문")
    assert _types(provider) == ["alimtalk", "sms"]


def test_both_failing_with_5xx_is_temporary(app_ctx, provider):
    provider.answers.update(alimtalk=500, sms=502)
    with pytest.raises(TemporaryFailure) as failure:
        send_text(_delivery(), "제목", "본문")
    assert "alimtalk: HTTP 500" in failure.value.message and "sms: HTTP 502" in failure.value.message
    assert _types(provider) == ["alimtalk", "sms"]


def test_rate_limited_is_temporary(app_ctx, provider):
    provider.answers["sms"] = 429
    with pytest.raises(TemporaryFailure):
        send_text(_delivery(channel="sms"), "제목", "본문")


def test_a_4xx_is_permanent(app_ctx, provider):
    provider.answers.update(alimtalk=400, sms=400)
    with pytest.raises(PermanentFailure) as failure:
        send_text(_delivery(), "제목", "본문")
    assert "HTTP 400" in failure.value.message
    assert _types(provider) == ["alimtalk", "sms"]


def test_the_sms_channel_sends_sms_only(app_ctx, provider):
    provider.answers["sms"] = 400
    with pytest.raises(PermanentFailure):
        send_text(_delivery(channel="sms"), "제목", "본문")
    assert _types(provider) == ["sms"]


def test_a_redirect_is_not_followed_and_is_permanent(app_ctx, provider):
    provider.answers.update(alimtalk=302, sms=302)
    with pytest.raises(PermanentFailure) as failure:
        send_text(_delivery(), "제목", "본문")
    assert "HTTP 302" in failure.value.message
    assert [r["path"] for r in provider.received] == ["/v1/messages", "/v1/messages"]


def test_no_server_listening_is_temporary(app, app_ctx):
    saved = app.config.get("TEXT_API_URL")
    app.config["TEXT_API_URL"] = f"http://127.0.0.1:{free_port()}/v1/messages"
    try:
        with pytest.raises(TemporaryFailure):
            send_text(_delivery(), "제목", "본문")
    finally:
        app.config["TEXT_API_URL"] = saved


def test_an_invalid_number_is_permanent_and_sends_nothing(app_ctx, provider):
    with pytest.raises(PermanentFailure):
        send_text(_delivery(phone="02-123-4567"), "제목", "본문")
    assert provider.received == []


def test_the_sms_text_is_trimmed_to_2000_characters(app_ctx, provider):
    send_text(_delivery(channel="sms"), "제목", "가" * 3000)
    assert len(provider.received[0]["json"]["text"]) == 2000


def test_marketing_needs_the_contacts_consent_at_send_time(app_ctx, provider):
    contact = make_contact(phone="010-2222-3333", consent_marketing_at=None)
    refused = _delivery(phone=contact.phone, marketing=True)
    refused.contact_id = contact.id
    with pytest.raises(PermanentFailure) as failure:
        send_text(refused, "행사 안내", "AI 세미나에 초대합니다.")
    assert "consent" in failure.value.message
    assert provider.received == []

    contact.consent_marketing_at = utcnow()
    db.session.flush()
    send_text(refused, "행사 안내", "AI 세미나에 초대합니다.")
    assert _types(provider) == ["alimtalk"]


def test_marketing_to_someone_who_is_not_a_contact_is_refused(app_ctx, provider):
    with pytest.raises(PermanentFailure):
        send_text(_delivery(marketing=True), "행사 안내", "본문")
    assert provider.received == []


def test_without_a_provider_url_the_message_is_written_to_the_outbox_folder(app, app_ctx):
    assert app.config.get("TEXT_API_URL") is None
    delivery = _delivery()
    send_text(delivery, "제목", "본문")
    name = delivery.message_id.strip("<>").replace("@", "_")
    written = Path(app.config["OUTBOX_DIR"]) / f"{name}.alimtalk.json"
    assert json.loads(written.read_text(encoding="utf-8"))["to"] == "01012345678"


# --- through the outbox ------------------------------------------------------------------------------------


def _queue_alimtalk(contact_phone: str = "010-9876-5432") -> Delivery:
    contact = make_contact(phone=contact_phone)
    notice = queue_notice(
        kind=NoticeKind.status_change,
        subject="[AX CRM] 신청 접수 완료: 모집공고",
        body="신청이 접수되었습니다.",
        recipients=[Recipient("", contact.name, contact_id=contact.id, phone=contact.phone)],
        firm_id=contact.firm_id,
        channel="alimtalk",
    )
    db.session.commit()
    (delivery,) = notice.deliveries
    return delivery


def _fresh(delivery_id: int) -> Delivery:
    db.session.expire_all()
    return db.session.scalar(sa.select(Delivery).where(Delivery.id == delivery_id))


def test_end_to_end_a_queued_alimtalk_is_sent_once(app_ctx, provider):
    delivery = _queue_alimtalk()
    assert delivery.recipient == "010-9876-5432"

    assert relay(send_delivery) == 1
    assert relay(send_delivery) == 0  # sent: nothing is handed over again

    assert len(provider.received) == 1
    request = provider.received[0]["json"]
    assert request["type"] == "alimtalk" and request["to"] == "01098765432"
    assert request["text"] == "신청이 접수되었습니다." and request["ref"] == delivery.message_id
    sent = _fresh(delivery.id)
    assert sent.status is DeliveryStatus.sent and sent.sent_at is not None and sent.attempts == 1


def test_end_to_end_a_provider_outage_is_retried_later(app_ctx, provider):
    provider.answers.update(alimtalk=503, sms=503)
    delivery = _queue_alimtalk()

    assert relay(send_delivery) == 1
    waiting = _fresh(delivery.id)
    assert waiting.status is DeliveryStatus.queued and waiting.attempts == 1
    assert "HTTP 503" in waiting.last_error and waiting.next_attempt_at > utcnow()
    assert _types(provider) == ["alimtalk", "sms"]


def test_end_to_end_a_refused_number_fails_for_good(app_ctx, provider):
    provider.answers.update(alimtalk=400, sms=400)
    delivery = _queue_alimtalk()
    relay(send_delivery)
    failed = _fresh(delivery.id)
    assert failed.status is DeliveryStatus.failed and "HTTP 400" in failed.last_error
