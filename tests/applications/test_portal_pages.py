"""The firm portal's application pages: open calls, applying, answers, declared support, submit, withdraw."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.applications.models import Application, ApplicationStatus, DeclaredSupport
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import d_day_label
from crm.extensions import db
from crm.firms.models import FirmLink, LinkKind
from crm.notices.models import Delivery, Notice
from tests.conftest import login, post_form
from tests.factories import (
    make_application,
    make_application_history,
    make_call,
    make_declared_support,
    make_document,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

S = ApplicationStatus
QUESTIONS = [
    {"key": "goal", "label": "도입 목표", "required": True},
    {"key": "plan", "label": "추진 계획", "required": False},
]


@pytest.fixture
def world(app_ctx):
    year = make_programme_year()
    institution = make_institution(year.consortium)
    programme = make_programme(year, institution, name="AI 솔루션 도입 지원")
    call = make_call(programme, title="2026 AI 도입 1차 모집", questions=QUESTIONS)
    firm = make_firm(name="(주)울산정밀")
    user = make_user(Role.firm_user, firm=firm, email_verified_at=utcnow())
    return {"programme": programme, "call": call, "firm": firm, "user": user, "institution": institution}


@pytest.fixture
def firm_client(client_en, world):
    login(client_en, world["user"].email)
    return client_en


def fresh(application_id: int) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application_id)


def detail_url(application: Application) -> str:
    return f"/portal/applications/{application.id}"


def test_open_calls_show_deadline_and_whether_the_firm_applied(firm_client, world):
    closed = make_call(world["programme"], open_now=False, title="지난 공고")
    page = firm_client.get("/portal/calls").get_data(as_text=True)
    call = world["call"]
    assert call.title in page and "AI 솔루션 도입 지원" in page
    assert d_day_label(call.closes_on_kst) in page
    assert "울산 소재 중소기업" in page and "사업계획서" in page  # eligibility text, required documents
    assert closed.title not in page
    assert "Details and apply" in page

    application = make_application(call, world["firm"])
    page = firm_client.get("/portal/calls").get_data(as_text=True)
    assert f"/portal/applications/{application.id}" in page and "Applied" in page


def test_a_closed_call_is_viewable_without_an_apply_button(firm_client, world):
    closed = make_call(world["programme"], open_now=False)
    page = firm_client.get(f"/portal/calls/{closed.id}").get_data(as_text=True)
    assert "no longer accepts applications" in page
    assert f"/portal/calls/{closed.id}/apply" not in page
    assert firm_client.get("/portal/calls/999999").status_code == 404


def test_applying_creates_a_draft_and_relates_the_firm(firm_client, world):
    call = world["call"]
    response = post_form(firm_client, f"/portal/calls/{call.id}/apply", {}, page=f"/portal/calls/{call.id}")
    application = db.session.scalar(sa.select(Application).where(Application.call_id == call.id))
    assert application is not None and application.status is S.draft
    assert response.status_code == 302 and response.headers["Location"] == detail_url(application)
    assert [h.to_status for h in application.history] == [S.draft]
    link = db.session.scalar(
        sa.select(FirmLink).where(FirmLink.firm_id == world["firm"].id, FirmLink.kind == LinkKind.applied)
    )
    assert link.institution_id == world["institution"].id
    page = firm_client.get(detail_url(application)).get_data(as_text=True)
    assert "도입 목표" in page and "Save draft" in page and "Submit the application" in page


def test_a_second_application_is_refused_and_leads_to_the_first(firm_client, world):
    first = make_application(world["call"], world["firm"])
    call_page = firm_client.get(f"/portal/calls/{world['call'].id}").get_data(as_text=True)
    assert "already applied" in call_page and detail_url(first) in call_page
    response = post_form(
        firm_client, f"/portal/calls/{world['call'].id}/apply", {}, page=f"/portal/calls/{world['call'].id}"
    )
    assert response.status_code == 302 and response.headers["Location"] == detail_url(first)
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Application).where(Application.call_id == world["call"].id)
    )
    assert count == 1
    page = firm_client.get(detail_url(first)).get_data(as_text=True)
    assert "has already applied to this call" in page


@pytest.mark.parametrize("open_now", [False, None], ids=["closed", "upcoming"])
def test_applying_outside_the_call_period_is_refused_with_the_reason(firm_client, world, open_now):
    if open_now is None:
        call = make_call(
            world["programme"], opens_at=utcnow() + timedelta(days=3), closes_at=utcnow() + timedelta(days=20)
        )
    else:
        call = make_call(world["programme"], open_now=False)
    response = post_form(firm_client, f"/portal/calls/{call.id}/apply", {}, page=f"/portal/calls/{call.id}")
    assert response.status_code == 422
    assert "This call is not accepting applications" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(Application).where(Application.call_id == call.id)) is None


def test_a_draft_of_a_closed_call_can_be_read_but_not_submitted(firm_client, world):
    application = make_application(make_call(world["programme"], open_now=False), world["firm"])
    page = firm_client.get(detail_url(application)).get_data(as_text=True)
    assert "can no longer be submitted" in page and "Submit the application" not in page
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "늦은 답변", "version": application.version, "action": "submit"},
    )
    assert response.status_code == 422 and "This call is not accepting applications" in response.get_data(
        as_text=True
    )
    assert fresh(application.id).status is S.draft


def test_saving_answers_keeps_a_draft(firm_client, world):
    application = make_application(world["call"], world["firm"], answers={})
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "불량 검출", "answer_plan": "", "version": application.version, "action": "save"},
    )
    assert response.status_code == 302
    saved = fresh(application.id)
    assert saved.answers == {"goal": "불량 검출", "plan": ""} and saved.status is S.draft
    assert saved.version == application.version


def test_submitting_with_a_missing_answer_keeps_and_saves_what_was_typed(firm_client, world):
    application = make_application(world["call"], world["firm"], answers={})
    make_document(application, kind="business_plan")
    version = application.version
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "  ", "answer_plan": "3개월 안에 PoC", "version": version, "action": "submit"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "3개월 안에 PoC" in page  # typed text is still in the form
    assert "it is required" in page and "was not submitted" in page
    saved = fresh(application.id)
    assert saved.status is S.draft and saved.answers["plan"] == "3개월 안에 PoC"
    # The re-rendered form carries the saved version, so the next submit is not "stale".
    assert f'value="{saved.version}"' in page


def test_submitting_without_a_required_document_names_it(firm_client, world):
    application = make_application(world["call"], world["firm"], answers={})
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "불량 검출", "version": application.version, "action": "submit"},
    )
    assert response.status_code == 422
    assert "Attach “사업계획서”" in response.get_data(as_text=True)
    saved = fresh(application.id)
    assert saved.status is S.draft and saved.answers["goal"] == "불량 검출"


def test_submitting_a_complete_application(firm_client, world, app):
    application = make_application(world["call"], world["firm"], answers={})
    make_document(application, kind="business_plan")
    response = post_form(
        firm_client,
        detail_url(application),
        {
            "answer_goal": "불량 검출 자동화",
            "answer_plan": "",
            "version": application.version,
            "action": "submit",
        },
    )
    assert response.status_code == 302
    saved = fresh(application.id)
    assert saved.status is S.submitted and saved.submitted_at is not None
    assert saved.history[-1].to_status is S.submitted and saved.history[-1].actor_id == world["user"].id
    delivery = db.session.scalar(
        sa.select(Delivery)
        .join(Notice)
        .where(Delivery.recipient == world["user"].email, Notice.firm_id == world["firm"].id)
    )
    assert delivery is not None and world["call"].title in delivery.notice.subject
    page = firm_client.get(detail_url(application)).get_data(as_text=True)
    assert "Received" in page and "Save draft" not in page  # public stage name; no longer editable
    assert "불량 검출 자동화" in page


def test_a_stale_form_changes_nothing(firm_client, world):
    application = make_application(world["call"], world["firm"], answers={"goal": "처음"})
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "덮어쓰기", "version": application.version - 1, "action": "save"},
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "changed by someone else" in page and "덮어쓰기" in page
    assert fresh(application.id).answers == {"goal": "처음"}


def test_answers_cannot_change_after_submission(firm_client, world):
    application = make_application(world["call"], world["firm"], status=S.submitted)
    response = post_form(
        firm_client,
        detail_url(application),
        {"answer_goal": "변경", "version": application.version, "action": "save"},
    )
    assert response.status_code == 422
    assert "can no longer be changed" in response.get_data(as_text=True)
    assert fresh(application.id).answers == {"goal": "불량 검출 자동화"}


def test_another_firms_application_is_not_found(firm_client, world):
    other = make_application(world["call"], make_firm())
    support = make_declared_support(other)
    assert firm_client.get(detail_url(other)).status_code == 404
    assert firm_client.get(f"{detail_url(other)}/withdraw").status_code == 404
    assert firm_client.get(f"{detail_url(other)}/supports/{support.id}/delete").status_code == 404
    response = post_form(
        firm_client, detail_url(other), {"answer_goal": "x", "version": other.version}, page="/portal/calls"
    )
    assert response.status_code == 404
    assert fresh(other.id).answers == {"goal": "불량 검출 자동화"}


def test_a_portal_account_without_a_firm_is_sent_to_the_portal_home(client_en, app_ctx):
    user = make_user(Role.firm_user, firm=None)
    login(client_en, user.email)
    for url in ("/portal/calls", "/portal/applications"):
        response = client_en.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/portal"


def test_declaring_and_removing_other_support(firm_client, world):
    application = make_application(world["call"], world["firm"])
    url = f"{detail_url(application)}/supports"
    bad = post_form(
        firm_client,
        url,
        {
            "agency": "",
            "programme_name": "스마트공장",
            "track": "adoption",
            "started_on": "2025-05-01",
            "ended_on": "2025-01-01",
        },
        page=detail_url(application),
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Name the agency that gave the support." in page and "The end cannot be before the start." in page
    assert "스마트공장" in page  # what was typed stays
    assert application.declared_supports == []

    good = post_form(
        firm_client,
        url,
        {
            "agency": "중진공",
            "programme_name": "스마트공장",
            "track": "",
            "started_on": "2025-05-01",
            "amount_krw": "30,000,000",
        },
        page=detail_url(application),
    )
    assert good.status_code == 302
    support = db.session.scalar(
        sa.select(DeclaredSupport).where(DeclaredSupport.application_id == application.id)
    )
    assert support.track is None and support.amount_krw == 30_000_000 and support.ended_on is None
    assert "Other or unknown" in firm_client.get(detail_url(application)).get_data(as_text=True)

    support_id = support.id
    delete_url = f"{detail_url(application)}/supports/{support_id}/delete"
    assert "Remove declared support" in firm_client.get(delete_url).get_data(as_text=True)
    unconfirmed = post_form(firm_client, delete_url, {})
    assert unconfirmed.status_code == 422 and "Tick the box" in unconfirmed.get_data(as_text=True)
    confirmed = post_form(firm_client, delete_url, {"confirm": "y"})
    assert confirmed.status_code == 302
    db.session.expire_all()
    assert db.session.get(DeclaredSupport, support_id) is None
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "application.remove_support", AuditEvent.object_id == application.id
        )
    )


def test_withdrawing_asks_for_confirmation(firm_client, world):
    application = make_application(world["call"], world["firm"], status=S.submitted)
    url = f"{detail_url(application)}/withdraw"
    assert firm_client.get(url).status_code == 200
    unconfirmed = post_form(firm_client, url, {"version": application.version, "reason": "내부 사정"})
    assert unconfirmed.status_code == 422 and "내부 사정" in unconfirmed.get_data(as_text=True)
    assert fresh(application.id).status is S.submitted
    confirmed = post_form(
        firm_client, url, {"version": application.version, "reason": "내부 사정", "confirm": "y"}
    )
    assert confirmed.status_code == 302
    saved = fresh(application.id)
    assert saved.status is S.withdrawn and saved.history[-1].reason == "내부 사정"
    # Nothing left to withdraw: the confirmation page sends the user back.
    assert firm_client.get(url).status_code == 302


def test_the_timeline_shows_public_stages_and_only_what_the_firm_is_told(firm_client, world):
    application = make_application(
        world["call"],
        world["firm"],
        status=S.supplement_requested,
        supplement_message="사업자등록증 사본을 다시 올려 주세요.",
        supplement_due_on=date.today() + timedelta(days=5),
    )
    make_application_history(application, from_status=None, to_status=S.draft)
    make_application_history(application, from_status=S.draft, to_status=S.submitted)
    make_application_history(
        application, from_status=S.submitted, to_status=S.eligibility, reason="내부 메모: 점수 낮음"
    )
    make_application_history(
        application,
        from_status=S.eligibility,
        to_status=S.supplement_requested,
        reason="사업자등록증 사본을 다시 올려 주세요.",
    )
    page = firm_client.get(detail_url(application)).get_data(as_text=True)
    assert "Received" in page and "Eligibility check" in page and "Supplement requested" in page
    assert "내부 메모" not in page
    assert "사업자등록증 사본을 다시 올려 주세요." in page
    assert d_day_label(application.supplement_due_on) in page
    assert "Submit the application" in page  # a supplement is resubmitted from the same page


def test_the_list_shows_public_status_and_whats_next(firm_client, world):
    supplement = make_application(
        world["call"],
        world["firm"],
        status=S.supplement_requested,
        supplement_due_on=date.today() + timedelta(days=3),
    )
    rejected = make_application(make_call(world["programme"]), world["firm"], status=S.ineligible)
    other_firm = make_application(make_call(world["programme"]), make_firm(name="(주)다른회사"))
    page = firm_client.get("/portal/applications").get_data(as_text=True)
    assert detail_url(supplement) in page and detail_url(rejected) in page
    assert detail_url(other_firm) not in page
    assert "Supplement due" in page and d_day_label(supplement.supplement_due_on) in page
    assert "Not selected" in page and "Ineligible" not in page
