"""The staff's application pages: queue per call, the application page with one form per status move, the
eligibility check, the duplicate-support guard, capacity, bulk decisions; and the whole journey through the
portal and the review pages."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from crm.applications.models import Application, ApplicationStatus
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.evaluations.models import AssignmentStatus
from crm.extensions import db
from crm.firms.models import BusinessStatus
from crm.programmes.models import Track
from tests.conftest import login, post_form
from tests.factories import (
    make_application,
    make_application_history,
    make_call,
    make_declared_support,
    make_document,
    make_engagement,
    make_evaluator_assignment,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_sanction,
    make_user,
)

S = ApplicationStatus


@pytest.fixture
def world(app_ctx):
    year = make_programme_year()
    institution = make_institution(year.consortium)
    programme = make_programme(year, institution, review_stages=["document_review"], track=Track.adoption)
    call = make_call(programme, title="2026 AI 도입 1차 모집", capacity=5)
    return {
        "consortium": year.consortium,
        "year": year,
        "institution": institution,
        "programme": programme,
        "call": call,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=year.consortium),
    }


def browser(app, email: str) -> FlaskClient:
    client = app.test_client()
    client.set_cookie("lang", "en")
    login(client, email)
    return client


def fresh(application_id: int) -> Application:
    db.session.expire_all()
    return db.session.get(Application, application_id)


def move(client: FlaskClient, application: Application, to: str, **fields):
    """Posts one move the way the page's form does, with the version the page showed."""
    data = {"to": to, "version": fresh(application.id).version, **fields}
    return post_form(client, f"/applications/{application.id}/transitions", data, page="/account")


def ready(world, status: ApplicationStatus = S.eligibility, **kw) -> Application:
    application = make_application(world["call"], kw.pop("firm", None) or make_firm(), status=status, **kw)
    make_document(application, kind="business_plan")
    return application


# --- The whole journey --------------------------------------------------------------------------------------


def test_the_whole_journey_through_the_pages(app, world):
    call = world["call"]
    firm = make_firm(name="(주)여정테스트")
    firm_user = make_user(Role.firm_user, firm=firm, email_verified_at=utcnow())
    portal = browser(app, firm_user.email)
    staff = browser(app, world["coordinator"].email)

    # The firm finds the call and applies.
    assert call.title in portal.get("/portal/calls").get_data(as_text=True)
    assert post_form(portal, f"/portal/calls/{call.id}/apply", {}, page="/portal/calls").status_code == 302
    application = db.session.scalar(sa.select(Application).where(Application.firm_id == firm.id))
    url = f"/portal/applications/{application.id}"
    saved = post_form(
        portal, url, {"answer_goal": "검사 공정 자동화", "version": application.version, "action": "save"}
    )
    assert saved.status_code == 302
    make_document(application, kind="business_plan")  # uploads are the documents part's own tests
    submitted = post_form(
        portal,
        url,
        {"answer_goal": "검사 공정 자동화", "version": fresh(application.id).version, "action": "submit"},
    )
    assert submitted.status_code == 302 and fresh(application.id).status is S.submitted

    # Staff see it in the call's queue and start the check.
    queue = staff.get(f"/calls/{call.id}/applications").get_data(as_text=True)
    assert "(주)여정테스트" in queue and firm.brn_display in queue
    assert move(staff, application, "eligibility").status_code == 302
    assert fresh(application.id).eligibility_result["problems"] == []

    # A supplement needs a message and a due date.
    refused = move(staff, application, "supplement_requested", reason="")
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Tell the firm what to supplement." in page and "Set the date the supplement is due." in page
    assert fresh(application.id).status is S.eligibility
    due = today_kst() + timedelta(days=7)
    requested = move(
        staff,
        application,
        "supplement_requested",
        reason="견적서를 추가해 주세요.",
        supplement_due_on=due.isoformat(),
    )
    assert requested.status_code == 302
    assert fresh(application.id).status is S.supplement_requested

    # The firm reads the message, edits and resubmits.
    page = portal.get(url).get_data(as_text=True)
    assert "견적서를 추가해 주세요." in page and "D-7" in page
    resubmitted = post_form(
        portal,
        url,
        {
            "answer_goal": "검사 공정 자동화 (견적 포함)",
            "version": fresh(application.id).version,
            "action": "submit",
        },
    )
    assert resubmitted.status_code == 302
    again = fresh(application.id)
    assert again.status is S.submitted and again.answers["goal"] == "검사 공정 자동화 (견적 포함)"

    # Review, document review, selection: an engagement awaits its agreement.
    for step in ("eligibility", "document_review"):
        assert move(staff, application, step).status_code == 302, step
    assert move(staff, application, "selected").status_code == 302
    selected = fresh(application.id)
    assert selected.status is S.selected
    assert [h.to_status for h in selected.history] == [
        S.draft, S.submitted, S.eligibility, S.supplement_requested, S.submitted, S.eligibility,
        S.document_review, S.selected,
    ]  # fmt: skip
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    assert engagement.status is EngagementStatus.pending_agreement
    assert "Selected" in portal.get(url).get_data(as_text=True)

    # Another application is rejected with a reason the firm is told.
    other = ready(world, S.document_review, firm=make_firm(name="(주)탈락테스트"))
    unreasoned = move(staff, other, "rejected", confirm="y")
    assert unreasoned.status_code == 422 and "Give the reason for the decision" in unreasoned.get_data(
        as_text=True
    )
    assert move(staff, other, "rejected", reason="평가 점수 미달", confirm="y").status_code == 302
    rejected = fresh(other.id)
    assert rejected.status is S.rejected and rejected.decision_reason == "평가 점수 미달"


# --- Lists --------------------------------------------------------------------------------------------------


def test_the_queue_filters_by_status_text_and_eligibility_problems(app, world):
    call = world["call"]
    alpha = make_application(call, make_firm(name="(주)알파정밀"), status=S.submitted)
    beta = make_application(
        call,
        make_firm(name="(주)베타전자"),
        status=S.eligibility,
        eligibility_result={
            "checked_at": utcnow().isoformat(),
            "problems": [{"code": "sanction", "message": "x"}],
        },
    )
    gamma = make_application(
        call,
        make_firm(name="(주)감마"),
        status=S.eligibility,
        eligibility_result={"checked_at": "", "problems": []},
    )
    elsewhere = make_application(make_call(world["programme"]), make_firm(name="(주)다른공고"))
    staff = browser(app, world["coordinator"].email)
    base = f"/calls/{call.id}/applications"

    page = staff.get(base).get_data(as_text=True)
    assert all(name in page for name in ("(주)알파정밀", "(주)베타전자", "(주)감마"))
    assert "(주)다른공고" not in page and "1 problem(s)" in page and "✓" in page

    page = staff.get(f"{base}?status=eligibility").get_data(as_text=True)
    assert "(주)베타전자" in page and "(주)감마" in page and "(주)알파정밀" not in page
    page = staff.get(f"{base}?status=eligibility&status=submitted").get_data(as_text=True)
    assert "(주)알파정밀" in page and "(주)베타전자" in page

    page = staff.get(f"{base}?problems=y").get_data(as_text=True)
    assert "(주)베타전자" in page and "(주)감마" not in page and "(주)알파정밀" not in page

    page = staff.get(f"{base}?q=알파").get_data(as_text=True)
    assert "(주)알파정밀" in page and "(주)베타전자" not in page
    page = staff.get(f"{base}?q={beta.firm.brn_display}").get_data(as_text=True)
    assert "(주)베타전자" in page and "(주)알파정밀" not in page

    index = staff.get("/applications").get_data(as_text=True)
    assert "(주)다른공고" in index and "(주)알파정밀" in index
    index = staff.get(f"/applications?call={elsewhere.call_id}").get_data(as_text=True)
    assert "(주)다른공고" in index and "(주)알파정밀" not in index
    assert alpha.id and gamma.id


def test_lists_paginate(app, world):
    app.config["PAGE_SIZE"] = 2
    try:
        for n in range(3):
            make_application(world["call"], make_firm(name=f"(주)페이지{n}"), status=S.submitted)
        staff = browser(app, world["coordinator"].email)
        first = staff.get(f"/calls/{world['call'].id}/applications").get_data(as_text=True)
        assert "Page 1 of 2" in first and "page=2" in first
        second = staff.get(f"/calls/{world['call'].id}/applications?page=2").get_data(as_text=True)
        assert second.count("(주)페이지") == 1
    finally:
        app.config["PAGE_SIZE"] = 25


# --- Who may see what ---------------------------------------------------------------------------------------


def test_staff_outside_the_programme_get_not_found(app, world):
    application = ready(world)
    other_consortium_manager = make_user(Role.consortium_manager)
    same_consortium_coordinator = make_user(
        Role.coordinator, institution=make_institution(world["consortium"])
    )
    for user in (other_consortium_manager, same_consortium_coordinator):
        client = browser(app, user.email)
        assert client.get(f"/applications/{application.id}").status_code == 404
        assert move(client, application, "document_review").status_code == 404
        assert application.firm.name not in client.get("/applications").get_data(as_text=True)
    manager_client = browser(app, other_consortium_manager.email)
    assert manager_client.get(f"/calls/{world['call'].id}/applications").status_code == 404
    assert fresh(application.id).status is S.eligibility

    for user in (world["manager"], world["coordinator"], make_user(Role.admin)):
        page = browser(app, user.email).get(f"/applications/{application.id}")
        assert page.status_code == 200 and application.firm.name in page.get_data(as_text=True)


def test_a_firm_user_may_not_use_the_staff_pages(app, world):
    application = ready(world)
    client = browser(app, make_user(Role.firm_user, firm=application.firm).email)
    assert client.get(f"/applications/{application.id}").status_code == 403
    assert client.get(f"/calls/{world['call'].id}/applications").status_code == 403


def test_an_evaluator_is_sent_to_its_assignment_or_not_found(app, world):
    application = ready(world, S.document_review)
    evaluator = make_user(Role.evaluator)
    client = browser(app, evaluator.email)
    assignment = make_evaluator_assignment(
        application, evaluator, status=AssignmentStatus.awaiting_declaration
    )
    assert client.get(f"/applications/{application.id}").status_code == 404  # not declared yet
    assignment.status = AssignmentStatus.scoring
    db.session.flush()
    response = client.get(f"/applications/{application.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/evaluations/{assignment.id}"
    other = ready(world, S.document_review)
    assert client.get(f"/applications/{other.id}").status_code == 404


# --- The page and its moves ---------------------------------------------------------------------------------


def test_the_page_shows_answers_history_and_one_form_per_move(app, world):
    application = ready(world, S.eligibility, answers={"goal": "비전 검사 도입"})
    make_application_history(
        application, from_status=S.submitted, to_status=S.eligibility, reason="내부 메모"
    )
    make_declared_support(application, programme_name="스마트공장 고도화")
    staff = browser(app, world["coordinator"].email)
    page = staff.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "비전 검사 도입" in page and f"/firms/{application.firm_id}" in page
    assert "내부 메모" in page  # staff read every reason in the history
    assert "스마트공장 고도화" in page and "Evaluation results" in page
    targets = re.findall(r'name="to"[^>]*value="([a-z_]+)"', page)
    assert targets == ["supplement_requested", "ineligible", "document_review"]
    assert page.count('name="version"') == len(targets)


def test_eligibility_problems_are_listed_and_checked_again(app, world):
    firm = make_firm(name="(주)제재기업")
    make_sanction(firm, starts_on=date(2020, 1, 1), ends_on=today_kst() + timedelta(days=365))
    application = ready(world, S.submitted, firm=firm)
    staff = browser(app, world["coordinator"].email)
    assert move(staff, application, "eligibility").status_code == 302
    page = staff.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Participation ban in force until" in page and "1 problem(s)" in page

    refused = move(staff, application, "document_review")
    assert refused.status_code == 422 and "The eligibility check found problems" in refused.get_data(
        as_text=True
    )
    assert fresh(application.id).status is S.eligibility

    firm.business_status = BusinessStatus.closed
    db.session.flush()
    rechecked = post_form(staff, f"/applications/{application.id}/eligibility", {}, page="/account")
    assert rechecked.status_code == 302
    assert len(fresh(application.id).eligibility_result["problems"]) == 2
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "application.eligibility_check", AuditEvent.object_id == application.id
        )
    )
    assert "2 problem(s)" in staff.get(f"/applications/{application.id}").get_data(as_text=True)


def test_ineligible_needs_a_reason_and_a_confirmation(app, world):
    application = ready(world)
    staff = browser(app, world["coordinator"].email)
    unconfirmed = move(staff, application, "ineligible", reason="소재지 요건 미충족")
    assert unconfirmed.status_code == 422
    page = unconfirmed.get_data(as_text=True)
    assert "Tick the box to confirm" in page and "소재지 요건 미충족" in page
    unreasoned = move(staff, application, "ineligible", confirm="y")
    assert (
        unreasoned.status_code == 422
        and "Give the reason the application is ineligible" in unreasoned.get_data(as_text=True)
    )
    assert fresh(application.id).status is S.eligibility
    assert move(staff, application, "ineligible", reason="소재지 요건 미충족", confirm="y").status_code == 302
    assert fresh(application.id).status is S.ineligible


def test_a_stale_version_changes_nothing(app, world):
    application = ready(world)
    staff = browser(app, world["coordinator"].email)
    response = post_form(
        staff,
        f"/applications/{application.id}/transitions",
        {"to": "document_review", "version": application.version - 1, "reason": "메모"},
        page="/account",
    )
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "changed by someone else" in page and "메모" in page
    saved = fresh(application.id)
    assert saved.status is S.eligibility and saved.version == application.version
    assert saved.history == []


def test_an_illegal_move_changes_nothing(app, world):
    application = make_application(world["call"], make_firm(), status=S.draft)
    staff = browser(app, world["manager"].email)
    response = move(staff, application, "selected")
    assert response.status_code == 409
    assert "cannot become" in response.get_data(as_text=True)
    assert fresh(application.id).status is S.draft
    assert not db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    # A made-up target is a bad request, not a move.
    assert move(staff, application, "approved").status_code == 400


def test_duplicate_support_in_another_consortium_blocks_selection_until_a_manager_overrides(app, world):
    firm = make_firm(name="(주)중복지원")
    elsewhere = make_programme(make_programme_year(), track=Track.adoption, name="타 사업단 도입 지원")
    running = make_engagement(elsewhere, firm, status=EngagementStatus.in_progress)
    application = ready(world, S.document_review, firm=firm)
    url = f"/applications/{application.id}"

    coordinator = browser(app, world["coordinator"].email)
    page = coordinator.get(url).get_data(as_text=True)
    assert f"Engagement #{running.id}" in page and "타 사업단 도입 지원" in page
    assert "A consortium manager may override" in page and 'name="override_reason"' not in page
    refused = move(coordinator, application, "selected")
    assert refused.status_code == 422 and "Duplicate support" in refused.get_data(as_text=True)
    insisted = move(coordinator, application, "selected", override_reason="예외 승인")
    assert insisted.status_code == 422
    assert "Only a consortium manager may override" in insisted.get_data(as_text=True)
    assert fresh(application.id).status is S.document_review

    manager = browser(app, world["manager"].email)
    assert 'name="override_reason"' in manager.get(url).get_data(as_text=True)
    assert move(manager, application, "selected").status_code == 422
    assert (
        move(manager, application, "selected", override_reason="기존 과제와 범위가 다름").status_code == 302
    )
    assert fresh(application.id).status is S.selected
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    assert engagement.duplicate_override_reason == "기존 과제와 범위가 다름"
    audit = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "application.duplicate_override", AuditEvent.object_id == application.id
        )
    )
    assert audit is not None and audit.changes["duplicate_override"] == "기존 과제와 범위가 다름"


def test_selecting_beyond_capacity_needs_the_confirmation(app, world):
    call = make_call(world["programme"], capacity=1)
    make_application(call, make_firm(), status=S.selected)
    application = make_application(call, make_firm(), status=S.document_review)
    make_document(application, kind="business_plan")
    staff = browser(app, world["coordinator"].email)
    assert 'name="confirm_over_capacity"' in staff.get(f"/applications/{application.id}").get_data(
        as_text=True
    )
    refused = move(staff, application, "selected")
    assert refused.status_code == 422
    assert "Tick to confirm selecting beyond the capacity." in refused.get_data(as_text=True)
    assert fresh(application.id).status is S.document_review
    assert move(staff, application, "selected", confirm_over_capacity="y").status_code == 302
    assert fresh(application.id).status is S.selected


# --- Bulk decisions -----------------------------------------------------------------------------------------


def bulk(client: FlaskClient, call_id: int, ids: list[int], decision: str, **fields):
    data = {"application_ids": [str(i) for i in ids], "decision": decision, **fields}
    return post_form(client, f"/calls/{call_id}/decisions", data, page="/account")


def test_bulk_decisions_decide_each_and_report_refusals(app, world):
    call = world["call"]
    good = [ready(world, S.document_review, firm=make_firm(name=f"(주)일괄{n}")) for n in range(2)]
    banned_firm = make_firm(name="(주)제재일괄")
    make_sanction(banned_firm, starts_on=date(2020, 1, 1), ends_on=today_kst() + timedelta(days=365))
    banned = ready(world, S.document_review, firm=banned_firm)
    foreign = ready({"call": make_call(world["programme"])}, S.document_review)
    staff = browser(app, world["coordinator"].email)

    response = bulk(staff, call.id, [a.id for a in good] + [banned.id, foreign.id], "selected")
    assert response.status_code == 302
    assert response.headers["Location"] in (f"/calls/{call.id}/ranking", f"/calls/{call.id}/applications")
    assert [fresh(a.id).status for a in good] == [S.selected, S.selected]
    assert fresh(banned.id).status is S.document_review
    assert fresh(foreign.id).status is S.document_review  # not in this call: ignored
    page = staff.get(f"/calls/{call.id}/applications").get_data(as_text=True)
    assert "2 decided" in page and "1 refused" in page and "(주)제재일괄" in page


def test_bulk_decisions_over_capacity_change_nothing_without_confirmation(app, world):
    call = make_call(world["programme"], capacity=1)
    applications = [make_application(call, make_firm(), status=S.document_review) for _ in range(2)]
    for application in applications:
        make_document(application, kind="business_plan")
    staff = browser(app, world["coordinator"].email)
    response = bulk(staff, call.id, [a.id for a in applications], "selected")
    assert response.status_code == 302
    assert [fresh(a.id).status for a in applications] == [S.document_review, S.document_review]
    assert "would exceed the call" in staff.get(f"/calls/{call.id}/applications").get_data(as_text=True)
    confirmed = bulk(staff, call.id, [a.id for a in applications], "selected", confirm_over_capacity="y")
    assert confirmed.status_code == 302
    assert [fresh(a.id).status for a in applications] == [S.selected, S.selected]


def test_bulk_rejection_needs_a_reason_and_unknown_ids_are_not_found(app, world):
    application = ready(world, S.document_review)
    staff = browser(app, world["coordinator"].email)
    bulk(staff, world["call"].id, [application.id], "rejected", confirm="y")
    assert fresh(application.id).status is S.document_review
    assert "Give the reason for the decision" in staff.get(
        f"/calls/{world['call'].id}/applications"
    ).get_data(as_text=True)
    bulk(staff, world["call"].id, [application.id], "rejected", reason="예산 소진")  # not confirmed
    assert fresh(application.id).status is S.document_review
    assert (
        bulk(
            staff, world["call"].id, [application.id], "rejected", reason="예산 소진", confirm="y"
        ).status_code
        == 302
    )
    assert fresh(application.id).status is S.rejected
    assert bulk(staff, world["call"].id, [999_999], "rejected", reason="x").status_code == 404
    outsider = browser(
        app, make_user(Role.coordinator, institution=make_institution(world["consortium"])).email
    )
    other = ready(world, S.document_review)
    assert bulk(outsider, world["call"].id, [other.id], "rejected", reason="x").status_code == 404
    assert fresh(other.id).status is S.document_review
