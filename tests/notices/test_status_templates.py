"""Status notices from the per-language text templates: every event in Korean and English, the fallback to
Korean, and through the real application and engagement operations each recipient gets its own language
(a portal user who chose English reads English; a contact reads Korean)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.applications.models import Application, ApplicationStatus
from crm.applications.operations import TransitionOptions, start_application, transition
from crm.auth.models import Role
from crm.core.time import today_kst
from crm.engagements import operations as engagement_ops
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.notices.models import Delivery, Notice
from crm.notices.templates import STATUS_EVENTS, render_status
from crm.programmes.models import Track
from tests.factories import (
    make_call,
    make_consortium,
    make_contact,
    make_document,
    make_engagement,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)
from tests.mail import deliver_queued

S = ApplicationStatus
E = EngagementStatus
CALL = "AI 도입 지원 2026-1차"
HANGUL = re.compile(r"[가-힣]")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "notices" / "status"

# ASCII data, so any Hangul in an English rendering comes from the template itself.
CONTEXT = {
    "firm": "Ulsan Precision",
    "call": "AI Adoption 2026-1",
    "programme": "AI Adoption",
    "portal_path": "/portal/applications/7",
    "recipient_name": "Kim",
    "resubmitted": False,
    "due": date(2026, 5, 15),
    "reason": "Attach the business registration certificate.",
    "passed": True,
    "next_stage": "document_review",
    "outcome": "selected",
    "agreed_on": date(2026, 3, 31),
    "starts_on": date(2026, 4, 1),
    "ends_on": date(2026, 11, 30),
    "has_settlement": True,
}


# --- the templates ------------------------------------------------------------------------------------------


def test_every_event_has_a_korean_and_an_english_template():
    for event in STATUS_EVENTS:
        for locale in ("ko", "en"):
            assert (TEMPLATES / f"{event}.{locale}.txt").is_file(), f"{event}.{locale}.txt"


@pytest.mark.parametrize("event", STATUS_EVENTS)
def test_each_event_renders_in_korean(app_ctx, event):
    subject, body = render_status(event, "ko", CONTEXT)
    assert subject.startswith("[AX CRM] ") and HANGUL.search(subject)
    assert "Ulsan Precision" in body and "Kim 님, 안녕하세요." in body
    assert "{{" not in body and "{%" not in body and "Subject:" not in body
    assert "\n\n\n" not in body and body == body.strip()


@pytest.mark.parametrize("event", STATUS_EVENTS)
def test_each_event_renders_in_english(app_ctx, event):
    subject, body = render_status(event, "en", CONTEXT)
    assert subject.startswith("[AX CRM] ")
    assert not HANGUL.search(subject) and not HANGUL.search(body), (subject, body)
    assert "Ulsan Precision" in body and body.startswith("Dear Kim,")
    assert "{{" not in body and "\n\n\n" not in body


def test_subjects_name_the_event(app_ctx):
    subjects = {event: render_status(event, "en", CONTEXT)[0] for event in STATUS_EVENTS}
    assert subjects == {
        "application_received": "[AX CRM] Application received: AI Adoption 2026-1",
        "supplement_requested": "[AX CRM] Supplement requested: AI Adoption 2026-1",
        "eligibility_result": "[AX CRM] Eligibility check result: AI Adoption 2026-1",
        "selection_result": "[AX CRM] Selected: AI Adoption 2026-1",
        "agreement_guide": "[AX CRM] Agreement signed: AI Adoption",
        "selection_cancelled": "[AX CRM] Selection cancelled: AI Adoption",
        "termination": "[AX CRM] Agreement terminated: AI Adoption",
    }
    korean = {event: render_status(event, "ko", CONTEXT)[0] for event in STATUS_EVENTS}
    assert korean["application_received"] == "[AX CRM] 신청 접수 완료: AI Adoption 2026-1"
    assert korean["supplement_requested"] == "[AX CRM] 보완 요청: AI Adoption 2026-1"
    assert korean["selection_cancelled"] == "[AX CRM] 선정취소 안내: AI Adoption"


def test_the_supplement_due_date_and_reason_are_in_the_body(app_ctx):
    _, korean = render_status("supplement_requested", "ko", CONTEXT)
    _, english = render_status("supplement_requested", "en", CONTEXT)
    assert "2026-05-15 (금)까지" in korean and "by 2026-05-15 (Fri)" in english
    assert CONTEXT["reason"] in korean and CONTEXT["reason"] in english


def test_eligibility_result_passed_names_the_next_stage_and_failed_gives_the_reason(app_ctx):
    _, passed = render_status("eligibility_result", "en", {**CONTEXT, "next_stage": "presentation"})
    assert "passed the eligibility check" in passed and "presentation review" in passed
    assert CONTEXT["reason"] not in passed
    _, failed = render_status("eligibility_result", "ko", {**CONTEXT, "passed": False})
    assert "충족하지 않아" in failed and CONTEXT["reason"] in failed


@pytest.mark.parametrize(
    ("outcome", "subject", "sentence", "shows_reason"),
    [
        ("selected", "Selected", "was selected", False),
        ("reserve", "Result of your application", "reserve list", True),
        ("rejected", "Result of your application", "was not selected", True),
    ],
)
def test_selection_result_per_outcome(app_ctx, outcome, subject, sentence, shows_reason):
    got_subject, body = render_status("selection_result", "en", {**CONTEXT, "outcome": outcome})
    assert got_subject == f"[AX CRM] {subject}: AI Adoption 2026-1"
    assert sentence in body
    assert (CONTEXT["reason"] in body) is shows_reason


def test_agreement_guide_gives_the_dates_and_the_portal_path(app_ctx):
    _, body = render_status("agreement_guide", "ko", {**CONTEXT, "portal_path": "/portal/engagements/3"})
    assert "2026-04-01 (수) ~ 2026-11-30 (월)" in body and "/portal/engagements/3" in body
    assert "정산" in body
    _, no_money = render_status("agreement_guide", "en", {**CONTEXT, "has_settlement": False})
    assert "2026-04-01 (Wed) to 2026-11-30 (Mon)" in no_money and "settlement" not in no_money


@pytest.mark.parametrize("locale", ["ja", None, "", "ko_KR"])
def test_a_language_without_templates_falls_back_to_korean(app_ctx, locale):
    assert render_status("termination", locale, CONTEXT) == render_status("termination", "ko", CONTEXT)


def test_a_regional_english_locale_reads_english(app_ctx):
    assert render_status("termination", "en_US", CONTEXT) == render_status("termination", "en", CONTEXT)


def test_an_unknown_event_is_refused(app_ctx):
    with pytest.raises(ValueError):
        render_status("birthday", "ko", CONTEXT)


# --- through the operations ---------------------------------------------------------------------------------


@pytest.fixture
def world(app_ctx):
    """A call with document review, its coordinator, and a firm with an English-reading portal user and a
    Korean-reading primary contact."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(
        make_programme_year(consortium), institution, review_stages=["document_review"]
    )
    call = make_call(programme, title="AI 도입 지원 2026-1차")
    firm = make_firm(name="(주)울산정밀", sme_certificate_expires_on=date(2030, 1, 1))
    contact = make_contact(firm, name="김담당", email="ceo@status-notice.example")
    user = make_user(
        Role.firm_user, firm=firm, locale="en", name="Jane Park", email="jane@status-notice.example"
    )
    coordinator = make_user(Role.coordinator, institution=institution)
    return {"call": call, "firm": firm, "contact": contact, "user": user, "coordinator": coordinator}


def _submitted(world) -> Application:
    application = start_application(world["call"], world["firm"], world["user"], {"goal": "불량 검출"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    return transition(application, S.submitted, world["user"])


def _deliveries(notice: Notice) -> dict[str, Delivery]:
    return {d.recipient: d for d in notice.deliveries}


def _last_notice(about_id: int, subject_type: str) -> Notice:
    return db.session.scalar(
        sa.select(Notice)
        .where(Notice.subject_type == subject_type, Notice.subject_id == about_id)
        .order_by(Notice.id.desc())
        .limit(1)
    )


def test_submitting_sends_english_to_the_english_user_and_korean_to_the_contact(world):
    application = _submitted(world)
    notice = _last_notice(application.id, "applications")
    by_address = _deliveries(notice)
    english, korean = by_address["jane@status-notice.example"], by_address["ceo@status-notice.example"]

    assert english.locale == "en" and korean.locale == "ko"
    assert english.subject == "[AX CRM] Application received: AI 도입 지원 2026-1차"
    assert english.body.startswith("Dear Jane Park,")
    assert "(주)울산정밀's application to “AI 도입 지원 2026-1차” was received." in english.body
    assert korean.subject == "[AX CRM] 신청 접수 완료: AI 도입 지원 2026-1차"
    assert korean.body.startswith("김담당 님, 안녕하세요.")
    path = f"/portal/applications/{application.id}"
    assert path in english.body and path in korean.body
    # The notice itself keeps the Korean text, without anybody's name.
    assert notice.subject == korean.subject and "김담당" not in notice.body


def test_the_mail_goes_out_in_each_recipients_language(app, world):
    _submitted(world)
    db.session.commit()
    deliver_queued()
    sent: set[tuple[str, str]] = set()
    for path in Path(app.config["OUTBOX_DIR"]).glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        sent.add((str(message["To"]), str(message["Subject"])))
    english = ("Jane Park <jane@status-notice.example>", f"[AX CRM] Application received: {CALL}")
    korean = ("김담당 <ceo@status-notice.example>", f"[AX CRM] 신청 접수 완료: {CALL}")
    assert {english, korean} <= sent
    assert ("Jane Park <jane@status-notice.example>", korean[1]) not in sent


def test_the_supplement_request_carries_the_due_date_and_resubmission_is_acknowledged(world):
    application = _submitted(world)
    transition(application, S.eligibility, world["coordinator"])
    due = today_kst() + timedelta(days=7)
    transition(
        application,
        S.supplement_requested,
        world["coordinator"],
        TransitionOptions(reason="사업자등록증 사본을 첨부해 주세요.", supplement_due_on=due),
    )
    by_address = _deliveries(_last_notice(application.id, "applications"))
    assert f"by {due.isoformat()}" in by_address["jane@status-notice.example"].body
    assert f"{due.isoformat()} (" in by_address["ceo@status-notice.example"].body
    assert "사업자등록증 사본을 첨부해 주세요." in by_address["ceo@status-notice.example"].body

    transition(application, S.submitted, world["user"])
    again = _deliveries(_last_notice(application.id, "applications"))
    assert "The supplement to" in again["jane@status-notice.example"].body
    assert "보완 내용이 접수되었습니다" in again["ceo@status-notice.example"].body


def test_passing_the_eligibility_check_is_announced_with_the_next_stage(world):
    application = _submitted(world)
    transition(application, S.eligibility, world["coordinator"])
    before = db.session.scalar(sa.select(sa.func.count(Notice.id)))
    transition(application, S.document_review, world["coordinator"])

    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == before + 1
    by_address = _deliveries(_last_notice(application.id, "applications"))
    assert by_address["jane@status-notice.example"].subject.startswith("[AX CRM] Eligibility check result:")
    assert "moves on to the document review" in by_address["jane@status-notice.example"].body
    assert "다음 단계인 서류평가" in by_address["ceo@status-notice.example"].body


def test_taking_an_application_into_the_eligibility_check_sends_nothing(world):
    application = _submitted(world)
    before = db.session.scalar(sa.select(sa.func.count(Notice.id)))
    transition(application, S.eligibility, world["coordinator"])
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == before


def test_an_ineligible_application_is_told_why(world):
    application = _submitted(world)
    transition(application, S.eligibility, world["coordinator"])
    transition(application, S.ineligible, world["coordinator"], TransitionOptions(reason="휴업 중인 기업"))
    by_address = _deliveries(_last_notice(application.id, "applications"))
    english = by_address["jane@status-notice.example"]
    assert english.subject.startswith("[AX CRM] Eligibility check result:")
    assert "does not meet the requirements" in english.body and "휴업 중인 기업" in english.body
    assert "휴업 중인 기업" in by_address["ceo@status-notice.example"].body


def test_a_rejection_gives_the_reason_in_both_languages(world):
    application = _submitted(world)
    transition(application, S.eligibility, world["coordinator"])
    transition(application, S.document_review, world["coordinator"])
    transition(application, S.rejected, world["coordinator"], TransitionOptions(reason="평가 점수 미달"))
    by_address = _deliveries(_last_notice(application.id, "applications"))
    assert by_address["jane@status-notice.example"].subject.startswith("[AX CRM] Result of your application:")
    assert "was not selected" in by_address["jane@status-notice.example"].body
    assert by_address["ceo@status-notice.example"].subject.startswith("[AX CRM] 신청 결과 안내:")
    assert "평가 점수 미달" in by_address["ceo@status-notice.example"].body


@pytest.fixture
def engagement_world(world) -> tuple[Engagement, object]:
    today = today_kst()
    year = make_programme_year(starts_on=today - timedelta(days=100), ends_on=today + timedelta(days=200))
    institution = make_institution(year.consortium)
    programme = make_programme(year, institution, track=Track.consulting, name="AI 컨설팅 지원")
    coordinator = make_user(Role.coordinator, institution=institution)
    engagement = make_engagement(
        programme,
        world["firm"],
        agreed_on=today - timedelta(days=1),
        starts_on=today,
        ends_on=today + timedelta(days=90),
    )
    return engagement, coordinator


def test_signing_the_agreement_sends_the_guide_with_dates_per_language(world, engagement_world):
    engagement, coordinator = engagement_world
    engagement_ops.transition(engagement, E.agreed, coordinator)
    by_address = _deliveries(_last_notice(engagement.id, "engagements"))
    english, korean = by_address["jane@status-notice.example"], by_address["ceo@status-notice.example"]
    assert english.subject == "[AX CRM] Agreement signed: AI 컨설팅 지원"
    assert korean.subject == "[AX CRM] 협약 체결 안내: AI 컨설팅 지원"
    assert engagement.ends_on.isoformat() in english.body and engagement.starts_on.isoformat() in korean.body
    path = f"/portal/engagements/{engagement.id}"
    assert path in english.body and path in korean.body
    assert "settlement" not in english.body  # consulting has no settlement


def test_cancelling_and_terminating_are_announced_with_the_reason(world, engagement_world):
    engagement, coordinator = engagement_world
    engagement_ops.transition(engagement, E.cancelled, coordinator, reason="기업 사정으로 포기")
    by_address = _deliveries(_last_notice(engagement.id, "engagements"))
    assert by_address["jane@status-notice.example"].subject == "[AX CRM] Selection cancelled: AI 컨설팅 지원"
    assert "기업 사정으로 포기" in by_address["ceo@status-notice.example"].body

    other = make_engagement(
        engagement.programme,
        make_firm(),
        status=E.in_progress,
        starts_on=engagement.starts_on,
        ends_on=engagement.ends_on,
    )
    make_contact(other.firm, email="owner@other.example")
    engagement_ops.transition(other, E.terminated, coordinator, reason="중도포기")
    (delivery,) = _last_notice(other.id, "engagements").deliveries
    assert delivery.subject == "[AX CRM] 협약해지 안내: AI 컨설팅 지원" and "중도포기" in delivery.body
