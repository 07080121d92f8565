"""The notice pages: compose with preview and send, the list and detail per role (404 outside the
composer's scope), progress and refresh, cancel with confirmation, retry, and the portal's notices."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.applications.models import ApplicationStatus
from crm.audit.models import AccessLog
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import to_kst
from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus
from tests.conftest import login, post_form
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_delivery,
    make_firm,
    make_institution,
    make_notice,
    make_programme,
    make_user,
)


@pytest.fixture
def world(app):
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(institution=institution, name="2026 울산 AI 솔루션 도입")
    call = make_call(programme, title="AI 솔루션 도입 기업 모집")
    other_call = make_call(make_programme(institution=make_institution(consortium)), title="다른 기관 공고")
    firm1 = make_firm(name="(주)울산스마트팩토리")
    firm2 = make_firm(name="(주)서울비전")
    make_contact(firm1, name="김민지", email="minji@firm1.example")
    make_contact(firm2, name="이준호", email="junho@firm2.example")
    make_application(call, firm1, status=ApplicationStatus.submitted)
    make_application(call, firm2, status=ApplicationStatus.submitted)
    return {
        "call": call,
        "other_call": other_call,
        "firms": (firm1, firm2),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "colleague": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "foreign_manager": make_user(Role.consortium_manager, consortium=make_consortium()),
        "admin": make_user(Role.admin),
    }


def _form(call_id: int, **changes: str) -> dict[str, str]:
    values = {
        "source": "call",
        "call_id": str(call_id),
        "application_statuses": "submitted",
        "milestone_state": "open",
        "subject": "[{programme}] 협약 안내",
        "body": "{contact_name}님, {firm_name}의 협약 서류를 준비해 주세요.",
        "send_mode": "now",
        "send": "Send",
    }
    values.update(changes)
    return values


def _notices() -> list[Notice]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notice).order_by(Notice.id)))


def _compose(client, world) -> Notice:
    login(client, world["coordinator"].email)
    response = post_form(client, "/notices/new", _form(world["call"].id))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    [notice] = _notices()
    assert response.headers["Location"] == f"/notices/{notice.id}"
    return notice


def test_compose_page_renders_with_the_coordinators_calls_only(client_en, world):
    login(client_en, world["coordinator"].email)
    page = client_en.get("/notices/new").get_data(as_text=True)
    assert "AI 솔루션 도입 기업 모집" in page and "다른 기관 공고" not in page
    assert "{firm_name}" in page  # the variables are explained
    prefilled = client_en.get(f"/notices/new?call_id={world['call'].id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{world["call"].id}">', prefilled)


def test_preview_shows_a_real_recipient_and_the_count_without_saving(client_en, world):
    login(client_en, world["coordinator"].email)
    data = _form(world["call"].id, preview="Preview")
    del data["send"]
    response = post_form(client_en, "/notices/new", data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "2 recipient(s) at 2 firm(s)." in page
    assert "이준호님, (주)서울비전의 협약 서류를 준비해 주세요." in page  # first firm by name
    assert "[2026 울산 AI 솔루션 도입] 협약 안내" in page
    assert 'value="[{programme}] 협약 안내"' in page  # the form keeps what was typed
    assert _notices() == []


def test_send_queues_the_notice_and_the_detail_shows_progress_and_refreshes(client_en, world):
    notice = _compose(client_en, world)
    assert notice.kind is NoticeKind.cohort and len(notice.deliveries) == 2
    page = client_en.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert 'value="0" max="2"' in page and "0 of 2 sent" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "minji@firm1.example" in page and "junho@firm2.example" in page
    # one sent, one failed: progress moves, refresh stops, the failed one has a retry button
    first, second = notice.deliveries
    first.status, first.sent_at = DeliveryStatus.sent, utcnow()
    second.status, second.attempts, second.last_error = (
        DeliveryStatus.failed,
        1,
        "SMTP 550: mailbox unavailable",
    )
    notice.status = NoticeStatus.done
    db.session.commit()
    page = client_en.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert 'value="1" max="2"' in page and "1 of 2 sent" in page
    assert "http-equiv" not in page
    assert "SMTP 550: mailbox unavailable" in page
    assert f'action="/deliveries/{second.id}/retry"' in page and f"/deliveries/{first.id}/retry" not in page
    failed_only = client_en.get(f"/notices/{notice.id}?status=failed").get_data(as_text=True)
    assert second.recipient in failed_only and first.recipient not in failed_only


def test_errors_stay_on_the_form(client_en, world):
    login(client_en, world["coordinator"].email)
    response = post_form(
        client_en,
        "/notices/new",
        _form(world["other_call"].id, body="{company}님 안녕하세요", send_mode="later", send_at=""),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Unknown variable(s): {company}." in page
    assert "Enter the date and time to send at." in page
    assert "Choose one of your calls from the list." in page
    assert "{company}님 안녕하세요</textarea>" in page
    assert _notices() == []


def test_a_send_time_in_the_past_is_refused(client_en, world):
    login(client_en, world["coordinator"].email)
    past = to_kst(utcnow() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = post_form(client_en, "/notices/new", _form(world["call"].id, send_mode="later", send_at=past))
    assert response.status_code == 422
    assert "This time has passed." in response.get_data(as_text=True)
    assert _notices() == []


def test_a_coordinator_cannot_target_another_institutions_call(client_en, world):
    login(client_en, world["coordinator"].email)
    response = post_form(client_en, "/notices/new", _form(world["other_call"].id))
    assert response.status_code == 422
    assert "Choose one of your calls from the list." in response.get_data(as_text=True)
    assert _notices() == []


def test_send_at_a_time_then_cancel_with_confirmation(client_en, world):
    login(client_en, world["coordinator"].email)
    later = to_kst(utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = post_form(client_en, "/notices/new", _form(world["call"].id, send_mode="later", send_at=later))
    assert response.status_code == 302
    [notice] = _notices()
    assert to_kst(notice.send_at).strftime("%Y-%m-%dT%H:%M") == later
    detail = client_en.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "http-equiv" not in detail  # scheduled for later: nothing to watch yet
    assert f"/notices/{notice.id}/cancel" in detail
    url = f"/notices/{notice.id}/cancel"
    unconfirmed = post_form(client_en, url, {})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the cancellation." in unconfirmed.get_data(as_text=True)
    assert _notices()[0].status is NoticeStatus.scheduled
    confirmed = post_form(client_en, url, {"confirm": "y"})
    assert confirmed.status_code == 302
    [notice] = _notices()
    assert notice.status is NoticeStatus.cancelled and notice.cancelled_at is not None


def test_cancel_after_sending_started_says_why(client_en, world):
    notice = _compose(client_en, world)
    notice.status = NoticeStatus.sending
    notice.deliveries[0].status = DeliveryStatus.sent
    db.session.commit()
    page = client_en.get(f"/notices/{notice.id}/cancel").get_data(as_text=True)
    assert "Sending has already started" in page
    response = post_form(client_en, f"/notices/{notice.id}/cancel", {"confirm": "y"}, page="/notices")
    assert response.status_code == 422
    assert _notices()[0].status is NoticeStatus.sending


def test_retry_button_queues_a_failed_delivery_again(client_en, world):
    notice = _compose(client_en, world)
    delivery = notice.deliveries[0]
    delivery.status, delivery.attempts, delivery.last_error = DeliveryStatus.failed, 8, "SMTP 421"
    db.session.commit()
    response = post_form(client_en, f"/deliveries/{delivery.id}/retry", {}, page=f"/notices/{notice.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/notices/{notice.id}"
    db.session.expire_all()
    assert delivery.status is DeliveryStatus.queued and delivery.attempts == 0


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("coordinator", True),
        ("colleague", True),
        ("manager", True),
        ("admin", True),
        ("other_coordinator", False),
        ("foreign_manager", False),
    ],
)
def test_who_sees_a_notice(client_en, app, world, who, sees):
    notice = _compose(client_en, world)
    delivery_id = notice.deliveries[0].id
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, world[who].email)
    listing = browser.get("/notices").get_data(as_text=True)
    assert ("협약 안내" in listing) is sees
    assert browser.get(f"/notices/{notice.id}").status_code == (200 if sees else 404)
    assert browser.get(f"/notices/{notice.id}/cancel").status_code == (200 if sees else 404)
    if not sees:
        retry = post_form(browser, f"/deliveries/{delivery_id}/retry", {}, page="/notices")
        assert retry.status_code == 404


def test_list_shows_audience_counts_and_progress(client_en, world):
    notice = _compose(client_en, world)
    notice.deliveries[0].status = DeliveryStatus.sent
    db.session.commit()
    page = client_en.get("/notices").get_data(as_text=True)
    assert "Applicants of AI 솔루션 도입 기업 모집" in page and "Submitted" in page
    assert "1 of 2 sent" in page and "Queued 1" in page and "Cohort notice" in page
    assert client_en.get("/notices?kind=reminder").get_data(as_text=True).count("협약 안내") == 0


def test_the_delivery_list_is_access_logged(client, world):
    notice = _compose(client, world)
    response = client.get(f"/notices/{notice.id}")
    assert response.status_code == 200
    assert "김민지" in response.get_data(as_text=True)
    logged = db.session.scalars(
        sa.select(AccessLog).where(AccessLog.action == "view_notice_deliveries")
    ).all()
    assert [(row.subject_id, row.actor_id) for row in logged] == [(notice.id, world["coordinator"].id)]


def test_portal_lists_what_the_firm_received(client_en, world):
    firm1, firm2 = world["firms"]
    user = make_user(Role.firm_user, firm=firm1)
    contact = firm1.contacts[0]
    sent = utcnow()
    to_user = make_delivery(
        make_notice(kind=NoticeKind.cohort, subject="원본 제목"),
        recipient=user.email,
        user_id=user.id,
        status=DeliveryStatus.sent,
        sent_at=sent - timedelta(days=1),
        subject="[안내] 개인화된 제목",
        body="첫 줄\n둘째 줄",
    )
    make_delivery(
        make_notice(subject="담당자에게 보낸 안내"),
        recipient=contact.email,
        contact_id=contact.id,
        status=DeliveryStatus.sent,
        sent_at=sent,
    )
    make_delivery(make_notice(subject="아직 대기 중"), recipient=user.email, user_id=user.id)
    other = firm2.contacts[0]
    make_delivery(
        make_notice(subject="다른 기업 안내"),
        recipient=other.email,
        contact_id=other.id,
        status=DeliveryStatus.sent,
        sent_at=sent,
    )
    login(client_en, user.email)
    response = client_en.get("/portal/notices")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "[안내] 개인화된 제목" in page and "첫 줄<br>둘째 줄" in page and "원본 제목" not in page
    assert "담당자에게 보낸 안내" in page
    assert page.index("담당자에게 보낸 안내") < page.index("[안내] 개인화된 제목")  # newest first
    assert "아직 대기 중" not in page and "다른 기업 안내" not in page
    assert to_user.notice.status is NoticeStatus.scheduled  # untouched by reading
    assert client_en.get("/notices").status_code == 403


def test_menu_has_notices_for_staff(client_en, world):
    login(client_en, world["coordinator"].email)
    assert 'href="/notices"' in client_en.get("/notices").get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Delivery.id))) == 0
