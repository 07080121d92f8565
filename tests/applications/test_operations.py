"""The application lifecycle through its operations: every move, every refusal, and what each one writes."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.applications.models import Application, ApplicationHistory, ApplicationStatus, DeclaredSupport
from crm.applications.operations import (
    IllegalMove,
    SupportData,
    TransitionOptions,
    available_moves,
    decide_many,
    start_application,
    transition,
    update_answers,
)
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import Conflict, NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import BusinessStatus, FirmLink, LinkKind
from crm.notices.models import Delivery, Notice
from crm.programmes.models import Track
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_document,
    make_engagement,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_sanction,
    make_user,
)
from tests.mail import deliver_queued

S = ApplicationStatus


@pytest.fixture
def setup(app_ctx):
    """A call of a programme with document review only, a coordinator of its institution, a manager of its
    consortium, and a firm with a portal user and a primary contact."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(
        make_programme_year(consortium), institution, review_stages=["document_review"], exclusivity_years=3
    )
    call = make_call(programme, capacity=2)
    firm = make_firm(sme_certificate_expires_on=date(2030, 1, 1))
    make_contact(firm, email="ceo@firm.example")
    firm_user = make_user(Role.firm_user, firm=firm)
    coordinator = make_user(Role.coordinator, institution=institution)
    manager = make_user(Role.consortium_manager, consortium=consortium)
    return {
        "consortium": consortium,
        "institution": institution,
        "programme": programme,
        "call": call,
        "firm": firm,
        "firm_user": firm_user,
        "coordinator": coordinator,
        "manager": manager,
    }


def _history(application: Application) -> list[tuple]:
    rows = db.session.scalars(
        sa.select(ApplicationHistory)
        .where(ApplicationHistory.application_id == application.id)
        .order_by(ApplicationHistory.id)
    )
    return [(r.from_status, r.to_status) for r in rows]


def _submitted(setup) -> Application:
    application = start_application(setup["call"], setup["firm"], setup["firm_user"], {"goal": "불량 검출"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    return transition(application, S.submitted, setup["firm_user"])


def _in_review(setup) -> Application:
    application = _submitted(setup)
    transition(application, S.eligibility, setup["coordinator"])
    return transition(application, S.document_review, setup["coordinator"])


def test_happy_path_from_draft_to_selection_writes_history_audit_notices_and_the_engagement(setup, app):
    application = _in_review(setup)
    transition(application, S.selected, setup["coordinator"], TransitionOptions(reason="우수"))

    assert application.status is S.selected and application.decided_at is not None
    assert _history(application) == [
        (None, S.draft),
        (S.draft, S.submitted),
        (S.submitted, S.eligibility),
        (S.eligibility, S.document_review),
        (S.document_review, S.selected),
    ]
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    assert engagement.status is EngagementStatus.pending_agreement
    assert engagement.coordinator_id == setup["coordinator"].id
    kinds = set(db.session.scalars(sa.select(FirmLink.kind).where(FirmLink.firm_id == setup["firm"].id)))
    assert {LinkKind.applied, LinkKind.engaged} <= kinds
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_id == application.id)
    ).all()
    assert actions.count("application.transition") == 4
    subjects = db.session.scalars(
        sa.select(Notice.subject).where(Notice.subject_id == application.id).order_by(Notice.id)
    ).all()
    call = setup["call"].title
    assert subjects == [  # received, passed the eligibility check, selected
        f"[AX CRM] 신청 접수 완료: {call}",
        f"[AX CRM] 요건검토 결과 안내: {call}",
        f"[AX CRM] 선정 안내: {call}",
    ]
    recipients = set(db.session.scalars(sa.select(Delivery.recipient)))
    assert {"ceo@firm.example", setup["firm_user"].email} <= recipients


def test_notice_mail_is_written_after_commit(setup, app):
    _submitted(setup)
    db.session.commit()
    deliver_queued()
    mails = list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert any("ceo@firm.example" in m.read_text(errors="replace") for m in mails)


def test_a_second_application_to_the_same_call_is_refused_and_names_the_first(setup):
    first = start_application(setup["call"], setup["firm"], setup["firm_user"])
    with pytest.raises(Conflict) as refused:
        start_application(setup["call"], setup["firm"], setup["firm_user"])
    assert refused.value.existing_id == first.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 1


def test_a_closed_call_refuses_new_applications_and_submissions(setup):
    closed = make_call(setup["programme"], open_now=False)
    with pytest.raises(RuleViolation) as refused:
        start_application(closed, setup["firm"], setup["firm_user"])
    assert refused.value.code == "call_closed"
    draft = make_application(closed, setup["firm"])
    with pytest.raises(RuleViolation):
        transition(draft, S.submitted, setup["firm_user"])
    assert draft.status is S.draft


def test_submitting_checks_required_answers_and_documents_per_field(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"])
    with pytest.raises(ValidationFailed) as refused:
        transition(application, S.submitted, setup["firm_user"])
    assert set(refused.value.fields) == {"answer_goal", "document_business_plan"}
    assert application.status is S.draft
    assert _history(application) == [(None, S.draft)]


def test_answers_to_unknown_questions_and_overlong_answers_are_refused(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"])
    with pytest.raises(ValidationFailed) as refused:
        update_answers(application, {"nope": "x", "goal": "가" * 5001}, setup["firm_user"])
    assert set(refused.value.fields) == {"answer_nope", "answer_goal"}


def test_a_stale_version_is_refused_and_changes_nothing(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"], {"goal": "처음"})
    loaded_version = application.version
    update_answers(application, {"goal": "두번째"}, setup["firm_user"], expected_version=loaded_version)
    with pytest.raises(Conflict):
        update_answers(
            application, {"goal": "늦은 편집"}, setup["firm_user"], expected_version=loaded_version
        )
    assert application.answers["goal"] == "두번째"
    with pytest.raises(Conflict):
        transition(
            application, S.withdrawn, setup["firm_user"], TransitionOptions(expected_version=loaded_version)
        )
    assert application.status is S.draft


def test_a_concurrent_write_from_another_transaction_is_detected(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"], {"goal": "처음"})
    db.session.flush()
    # Another request bumps the row behind this session's back.
    db.session.execute(
        sa.update(Application.__table__)
        .where(Application.__table__.c.id == application.id)
        .values(version=Application.__table__.c.version + 1)
    )
    with pytest.raises(Conflict):
        update_answers(application, {"goal": "덮어쓰기"}, setup["firm_user"])


def test_illegal_moves_are_errors_that_change_nothing(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"])
    with pytest.raises(IllegalMove):
        transition(application, S.selected, setup["coordinator"])
    submitted = _submitted_other(setup)
    transition(submitted, S.eligibility, setup["coordinator"])
    # The programme uses document review, so a decision straight from the eligibility check is not its path.
    with pytest.raises(IllegalMove):
        transition(submitted, S.selected, setup["coordinator"])
    with pytest.raises(IllegalMove):
        transition(submitted, S.presentation, setup["coordinator"])
    assert application.status is S.draft and submitted.status is S.eligibility


def _submitted_other(setup) -> Application:
    other = make_firm()
    user = make_user(Role.firm_user, firm=other)
    application = start_application(setup["call"], other, user, {"goal": "x"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    return transition(application, S.submitted, user)


def test_firm_moves_belong_to_the_firm_and_the_rest_to_staff(setup):
    application = start_application(setup["call"], setup["firm"], setup["firm_user"], {"goal": "x"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    with pytest.raises(NotPermitted):
        transition(application, S.submitted, setup["coordinator"])
    transition(application, S.submitted, setup["firm_user"])
    with pytest.raises(NotPermitted):
        transition(application, S.eligibility, setup["firm_user"])
    outsider = make_user(Role.coordinator)  # another consortium
    with pytest.raises(NotPermitted):
        transition(application, S.eligibility, outsider)
    same_consortium_other_institution = make_user(
        Role.coordinator, institution=make_institution(setup["consortium"])
    )
    with pytest.raises(NotPermitted):
        transition(application, S.eligibility, same_consortium_other_institution)
    assert available_moves(application, setup["firm_user"]) == [S.withdrawn]
    assert available_moves(application, setup["coordinator"]) == [S.eligibility]


def test_supplement_request_needs_message_and_due_date_and_the_firm_resubmits(setup):
    application = _submitted(setup)
    transition(application, S.eligibility, setup["coordinator"])
    with pytest.raises(ValidationFailed) as refused:
        transition(application, S.supplement_requested, setup["coordinator"])
    assert set(refused.value.fields) == {"reason", "supplement_due_on"}
    due = today_kst() + timedelta(days=7)
    transition(
        application,
        S.supplement_requested,
        setup["coordinator"],
        TransitionOptions(reason="재무제표를 보완해 주세요", supplement_due_on=due),
    )
    assert application.supplement_message == "재무제표를 보완해 주세요"
    update_answers(application, {"goal": "보완한 목표"}, setup["firm_user"])
    transition(application, S.submitted, setup["firm_user"])
    assert application.status is S.submitted and application.supplement_due_on is None


def test_the_eligibility_check_lists_every_reason(setup):
    programme = setup["programme"]
    programme.requires_sme_certificate = True
    programme.excluded_ksic_prefixes = ["261"]
    firm = setup["firm"]
    firm.business_status = BusinessStatus.closed
    firm.sme_certificate_expires_on = today_kst() - timedelta(days=1)
    make_sanction(firm, starts_on=today_kst() - timedelta(days=30), ends_on=today_kst() + timedelta(days=30))
    application = start_application(setup["call"], firm, setup["firm_user"], {"goal": "x"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    transition(application, S.submitted, setup["firm_user"])
    transition(application, S.eligibility, setup["coordinator"])
    codes = {p["code"] for p in application.eligibility_result["problems"]}
    assert codes == {"business_status", "sanction", "sme_certificate", "ksic_excluded"}
    with pytest.raises(RuleViolation) as refused:
        transition(application, S.document_review, setup["coordinator"])
    assert refused.value.code == "ineligible"
    with pytest.raises(ValidationFailed):
        transition(application, S.ineligible, setup["coordinator"])  # a reason is required
    transition(application, S.ineligible, setup["coordinator"], TransitionOptions(reason="폐업"))
    assert application.status is S.ineligible


def test_an_expired_or_overturned_sanction_does_not_block(setup):
    make_sanction(setup["firm"], starts_on=date(2020, 1, 1), ends_on=date(2021, 1, 1))
    from crm.sanctions.models import AppealStatus

    make_sanction(
        setup["firm"], appeal_status=AppealStatus.overturned, starts_on=date(2026, 1, 1), ends_on=None
    )
    application = _in_review(setup)
    assert application.status is S.document_review


def test_selecting_runs_the_eligibility_check_again(setup):
    application = _in_review(setup)
    make_sanction(setup["firm"], starts_on=today_kst(), ends_on=None)
    with pytest.raises(RuleViolation) as refused:
        transition(application, S.selected, setup["coordinator"])
    assert refused.value.code == "ineligible"
    assert application.status is S.document_review


def test_duplicate_support_guard_across_consortia_and_its_override(setup):
    other_consortium = make_consortium(name="부산 AI 사업단")
    other_programme = make_programme(
        make_programme_year(other_consortium), track=Track.adoption, name="부산 AI 솔루션 도입"
    )
    running = make_engagement(other_programme, setup["firm"], status=EngagementStatus.in_progress)
    application = _in_review(setup)

    with pytest.raises(RuleViolation) as refused:
        transition(application, S.selected, setup["coordinator"])
    assert refused.value.code == "duplicate_support"
    assert refused.value.extra["conflicts"][0]["id"] == running.id
    assert "부산 AI 솔루션 도입" in str(refused.value.message)

    # Coordinators may not override, even with a reason.
    with pytest.raises(RuleViolation):
        transition(
            application, S.selected, setup["coordinator"], TransitionOptions(override_reason="다른 과제")
        )
    assert application.status is S.document_review

    transition(
        application,
        S.selected,
        setup["manager"],
        TransitionOptions(override_reason="부산 과제는 다른 공정 대상으로 중복 아님"),
    )
    assert application.status is S.selected
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    assert engagement.duplicate_override_reason.startswith("부산 과제")
    override = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "application.duplicate_override")
    )
    assert override.actor_id == setup["manager"].id and override.object_id == application.id


def test_the_guard_respects_track_window_and_cancelled_engagements(setup):
    year = setup["programme"].programme_year  # starts 2026-01-01, window 3 years
    other = make_programme(make_programme_year(make_consortium()), track=Track.adoption)
    make_engagement(other, setup["firm"], status=EngagementStatus.closed, ends_on=date(2022, 12, 31))
    make_engagement(other, setup["firm"], status=EngagementStatus.cancelled)
    make_engagement(
        make_programme(make_programme_year(make_consortium()), track=Track.diagnosis),
        setup["firm"],
        status=EngagementStatus.in_progress,
    )
    assert year.starts_on == date(2026, 1, 1)
    application = _in_review(setup)
    transition(application, S.selected, setup["coordinator"])  # nothing in the window of the same track
    assert application.status is S.selected


def test_a_closed_engagement_inside_the_window_blocks(setup):
    other = make_programme(make_programme_year(make_consortium()), track=Track.adoption)
    make_engagement(other, setup["firm"], status=EngagementStatus.closed, ends_on=date(2023, 6, 30))
    application = _in_review(setup)
    with pytest.raises(RuleViolation) as refused:
        transition(application, S.selected, setup["coordinator"])
    assert refused.value.code == "duplicate_support"


def test_declared_support_of_the_same_track_counts(setup):
    from crm.applications.operations import add_declared_support

    application = start_application(setup["call"], setup["firm"], setup["firm_user"], {"goal": "x"})
    add_declared_support(
        application,
        SupportData("중소벤처기업진흥공단", "AI 바우처", Track.adoption, date(2025, 3, 1), None),
        setup["firm_user"],
    )
    with pytest.raises(ValidationFailed) as refused:
        add_declared_support(
            application, SupportData("", "", None, date(2025, 3, 1), date(2024, 1, 1)), setup["firm_user"]
        )
    assert set(refused.value.fields) == {"agency", "programme_name", "ended_on"}
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    transition(application, S.submitted, setup["firm_user"])
    transition(application, S.eligibility, setup["coordinator"])
    transition(application, S.document_review, setup["coordinator"])
    with pytest.raises(RuleViolation) as blocked:
        transition(application, S.selected, setup["coordinator"])
    assert blocked.value.extra["conflicts"][0]["kind"] == "declared"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeclaredSupport)) == 1


def test_selecting_beyond_capacity_needs_confirmation(setup):
    call = setup["call"]  # capacity 2
    for _ in range(2):
        make_application(call, status=S.selected)
    application = _in_review(setup)
    with pytest.raises(RuleViolation) as refused:
        transition(application, S.selected, setup["coordinator"])
    assert refused.value.code == "over_capacity"
    transition(application, S.selected, setup["coordinator"], TransitionOptions(confirm_over_capacity=True))
    assert application.status is S.selected


def test_reserve_then_selected_and_rejection_needs_a_reason(setup):
    application = _in_review(setup)
    transition(application, S.reserve, setup["coordinator"], TransitionOptions(reason="예비 1순위"))
    with pytest.raises(ValidationFailed):
        transition(application, S.rejected, setup["coordinator"])
    transition(application, S.selected, setup["coordinator"])
    assert application.status is S.selected
    with pytest.raises(IllegalMove):
        transition(application, S.rejected, setup["coordinator"], TransitionOptions(reason="번복"))


def test_withdrawal_by_the_firm_is_final(setup):
    application = _submitted(setup)
    transition(application, S.withdrawn, setup["firm_user"], TransitionOptions(reason="내부 사정"))
    with pytest.raises(IllegalMove):
        transition(application, S.submitted, setup["firm_user"])
    with pytest.raises(RuleViolation):
        update_answers(application, {"goal": "변경"}, setup["firm_user"])


def test_programme_without_review_stages_decides_after_eligibility(setup):
    programme = make_programme(
        make_programme_year(setup["consortium"]), setup["institution"], review_stages=[]
    )
    call = make_call(programme)
    application = start_application(call, setup["firm"], setup["firm_user"], {"goal": "x"})
    make_document(application, kind="business_plan")
    db.session.refresh(application)
    transition(application, S.submitted, setup["firm_user"])
    transition(application, S.eligibility, setup["coordinator"])
    assert S.document_review not in available_moves(application, setup["coordinator"])
    transition(application, S.selected, setup["coordinator"])
    assert application.status is S.selected


def test_bulk_decisions_decide_each_on_its_own(setup):
    good = _in_review(setup)
    banned = _submitted_other(setup)
    transition(banned, S.eligibility, setup["coordinator"])
    transition(banned, S.document_review, setup["coordinator"])
    make_sanction(banned.firm, starts_on=today_kst(), ends_on=None)
    outcome = decide_many([good, banned], S.selected, setup["coordinator"], reason="")
    assert [a.id for a in outcome.done] == [good.id]
    assert outcome.refused[0][0].id == banned.id and outcome.refused[0][1].code == "ineligible"
    assert good.status is S.selected and banned.status is S.document_review
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Engagement)) == 1


def test_bulk_selection_beyond_capacity_is_refused_as_a_whole_without_confirmation(setup):
    call = setup["call"]
    make_application(call, status=S.selected)
    first = _in_review(setup)
    second = _submitted_other(setup)
    transition(second, S.eligibility, setup["coordinator"])
    transition(second, S.document_review, setup["coordinator"])
    with pytest.raises(RuleViolation):
        decide_many([first, second], S.selected, setup["coordinator"], reason="")
    assert first.status is S.document_review and second.status is S.document_review
