"""The engagement lifecycle, the agreement's money rules, agreement changes, termination, direct creation."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.core.exceptions import Conflict, NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import one_month_before, today_kst
from crm.engagements import operations as ops
from crm.engagements.models import ChangeStatus, EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneStatus
from crm.notices.models import Notice
from crm.programmes.models import Track
from crm.sanctions.models import Sanction, SanctionKind
from tests.factories import (
    make_contact,
    make_engagement,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_sanction,
    make_user,
)

pytestmark = pytest.mark.usefixtures("english")

E = EngagementStatus
TODAY = today_kst()
TEMPLATES = [
    {"kind": "kickoff", "title": "착수보고", "anchor": "start", "offset_days": 14, "owner": "firm"},
    {"kind": "interim_check", "title": "중간점검", "anchor": "mid", "offset_days": 0, "owner": "staff"},
    {"kind": "final_report", "title": "완료보고", "anchor": "end", "offset_days": 0, "owner": "firm"},
    {"kind": "survey", "title": "만족도 조사", "anchor": "closed", "offset_days": 14, "owner": "firm"},
]


def _setting(track: Track = Track.adoption, **programme_kw):
    """A programme year around today, a programme of `track`, its coordinator and manager."""
    year = make_programme_year(starts_on=TODAY - timedelta(days=200), ends_on=TODAY + timedelta(days=300))
    institution = make_institution(year.consortium)
    values = {"milestone_templates": TEMPLATES, "per_firm_cap_krw": 200_000_000, **programme_kw}
    programme = make_programme(year, institution, track=track, **values)
    coordinator = make_user(Role.coordinator, institution=institution)
    manager = make_user(Role.consortium_manager, consortium=year.consortium)
    return programme, coordinator, manager


def _terms(**kw) -> ops.AgreementData:
    supplier = kw.pop("supplier", None) or make_firm(is_supplier=True)
    values = {
        "agreed_on": TODAY - timedelta(days=1),
        "starts_on": TODAY,
        "ends_on": TODAY + timedelta(days=180),
        "gov_krw": 60_000_000,
        "local_krw": 20_000_000,
        "self_cash_krw": 15_000_000,
        "self_inkind_krw": 5_000_000,
        "supplier_firm_id": supplier.id,
        "solution": "비전 검사 AI",
        **kw,
    }
    return ops.AgreementData(**values)


def _agreed(**kw):
    programme, coordinator, manager = _setting(**kw)
    engagement = make_engagement(programme)
    ops.update_agreement(engagement, _terms(), coordinator)
    ops.transition(engagement, E.agreed, coordinator)
    return engagement, coordinator, manager


# --- money rules ------------------------------------------------------------------------------------------


def test_national_funds_over_sixty_percent_is_refused_with_the_share(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    with pytest.raises(ValidationFailed) as error:
        ops.update_agreement(engagement, _terms(gov_krw=61_000_000, local_krw=19_000_000), coordinator)
    message = str(error.value.fields["gov_krw"][0])
    assert "60%" in message and "61.0%" in message
    assert engagement.gov_krw == 0  # nothing written


def test_exactly_sixty_percent_is_accepted(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    ops.update_agreement(engagement, _terms(), coordinator)
    assert engagement.gov_krw == 60_000_000 and engagement.total_krw == 100_000_000


def test_per_firm_cap_limits_public_money(app_ctx):
    programme, coordinator, _ = _setting(per_firm_cap_krw=70_000_000)
    engagement = make_engagement(programme)
    with pytest.raises(ValidationFailed) as error:
        ops.update_agreement(engagement, _terms(), coordinator)
    assert "cap per firm" in str(error.value.fields["local_krw"][0])


def test_adoption_needs_a_supplier_that_is_a_supplier(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    not_supplier = make_firm(is_supplier=False)
    with pytest.raises(ValidationFailed) as error:
        ops.update_agreement(engagement, _terms(supplier=not_supplier, solution=""), coordinator)
    assert set(error.value.fields) == {"supplier_firm_id", "solution"}


def test_dates_must_be_in_order_and_inside_the_programme_year(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    with pytest.raises(ValidationFailed) as error:
        ops.update_agreement(
            engagement, _terms(starts_on=TODAY, ends_on=TODAY + timedelta(days=400)), coordinator
        )
    assert "programme year" in str(error.value.fields["ends_on"][0])
    with pytest.raises(ValidationFailed) as error:
        ops.update_agreement(
            engagement, _terms(starts_on=TODAY, ends_on=TODAY - timedelta(days=1)), coordinator
        )
    assert "before it starts" in str(error.value.fields["ends_on"][0])


def test_programme_budget_is_never_over_committed(app_ctx):
    programme, coordinator, _ = _setting(budget_gov_krw=100_000_000, budget_local_krw=500_000_000)
    first, second = make_engagement(programme), make_engagement(programme)
    for engagement in (first, second):
        ops.update_agreement(engagement, _terms(), coordinator)
    ops.transition(first, E.agreed, coordinator)
    with pytest.raises(RuleViolation) as error:
        ops.transition(second, E.agreed, coordinator)
    assert error.value.code == "over_budget"
    assert "40,000,000" in str(error.value.fields["gov_krw"][0])  # what is left
    assert second.status is E.pending_agreement


def test_local_budget_is_checked_too(app_ctx):
    programme, coordinator, _ = _setting(budget_gov_krw=900_000_000, budget_local_krw=30_000_000)
    first, second = make_engagement(programme), make_engagement(programme)
    for engagement in (first, second):
        ops.update_agreement(engagement, _terms(), coordinator)
    ops.transition(first, E.agreed, coordinator)
    with pytest.raises(RuleViolation) as error:
        ops.transition(second, E.agreed, coordinator)
    assert "local_krw" in error.value.fields


def test_a_cancelled_engagement_commits_nothing(app_ctx):
    programme, coordinator, _ = _setting(budget_gov_krw=60_000_000)
    first = make_engagement(programme, status=E.cancelled, gov_krw=60_000_000)
    second = make_engagement(programme)
    ops.update_agreement(second, _terms(), coordinator)
    ops.transition(second, E.agreed, coordinator)
    assert first.status is E.cancelled and second.status is E.agreed


# --- lifecycle ----------------------------------------------------------------------------------------------


def test_agreeing_plans_milestones_from_templates_and_deadlines(app_ctx):
    engagement, _, _ = _agreed()
    milestones = {
        m.kind: m
        for m in db.session.scalars(sa.select(Milestone).where(Milestone.engagement_id == engagement.id))
    }
    starts, ends = engagement.starts_on, engagement.ends_on
    assert milestones["kickoff"].due_on == starts + timedelta(days=14)
    assert milestones["interim_check"].due_on == starts + (ends - starts) // 2
    assert milestones["final_report"].due_on == ends
    assert milestones["settlement"].due_on == ends + timedelta(days=30)
    assert milestones["change_deadline"].due_on == one_month_before(ends)
    assert "survey" not in milestones  # planned on closing
    assert milestones["kickoff"].owner.value == "firm"


def test_agreeing_without_dates_is_refused_with_every_missing_field(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    with pytest.raises(RuleViolation) as error:
        ops.transition(engagement, E.agreed, coordinator)
    assert error.value.code == "agreement_incomplete"
    assert {"agreed_on", "starts_on", "ends_on"} <= set(error.value.fields)


def test_full_lifecycle_with_settlement_then_closing_plans_closing_milestones(app_ctx):
    engagement, coordinator, _ = _agreed(survey_rounds=2)
    for target in (E.in_progress, E.final_report, E.final_check, E.settlement):
        ops.transition(engagement, target, coordinator)
    with pytest.raises(RuleViolation) as error:
        ops.transition(engagement, E.closed, coordinator)
    assert error.value.code == "settlement_missing"
    ops.record_settlement(engagement, 70_000_000, coordinator)
    assert engagement.settlement_returned_krw == 10_000_000
    ops.transition(engagement, E.closed, coordinator)
    assert engagement.closed_on == TODAY
    kinds = set(db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id)))
    assert "survey" in kinds
    ops.transition(engagement, E.follow_up, coordinator)
    assert [h.to_status for h in engagement.history][-3:] == [E.settlement, E.closed, E.follow_up]


@pytest.mark.parametrize("track", [Track.diagnosis, Track.consulting, Track.training])
def test_tracks_without_money_skip_settlement(app_ctx, track):
    programme, coordinator, _ = _setting(track=track)
    engagement = make_engagement(programme, status=E.final_check)
    assert E.settlement not in ops.available_moves(engagement, coordinator)
    with pytest.raises(ops.IllegalMove):
        ops.transition(engagement, E.settlement, coordinator)
    ops.transition(engagement, E.closed, coordinator)
    assert engagement.status is E.closed


def test_money_tracks_cannot_skip_settlement(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme, status=E.final_check)
    assert ops.available_moves(engagement, coordinator) == [E.settlement]
    with pytest.raises(ops.IllegalMove):
        ops.transition(engagement, E.closed, coordinator)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (E.pending_agreement, E.in_progress),
        (E.agreed, E.closed),
        (E.closed, E.in_progress),
        (E.cancelled, E.agreed),
        (E.final_check, E.terminated),
        (E.terminated, E.in_progress),
    ],
)
def test_illegal_moves_change_nothing(app_ctx, start, target):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme, status=start)
    with pytest.raises(ops.IllegalMove):
        ops.transition(engagement, target, coordinator, reason="x")
    assert engagement.status is start
    assert engagement.history == []


def test_cancel_needs_a_reason_and_waives_nothing_open(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    make_contact(engagement.firm, email="ceo@example.com")
    with pytest.raises(ValidationFailed):
        ops.transition(engagement, E.cancelled, coordinator)
    ops.transition(engagement, E.cancelled, coordinator, reason="기업 사정으로 포기")
    assert engagement.status is E.cancelled
    notice = db.session.scalar(sa.select(Notice).where(Notice.subject_id == engagement.id))
    assert notice is not None and "선정" in notice.subject


def test_other_institutions_coordinator_may_not_move_it(app_ctx):
    programme, _, _ = _setting()
    engagement = make_engagement(programme)
    stranger = make_user(Role.coordinator, institution=make_institution(programme.programme_year.consortium))
    with pytest.raises(NotPermitted):
        ops.transition(engagement, E.cancelled, stranger, reason="x")
    assert ops.available_moves(engagement, stranger) == []


def test_stale_version_is_a_conflict(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(programme)
    with pytest.raises(Conflict):
        ops.transition(
            engagement, E.cancelled, coordinator, reason="x", expected_version=engagement.version + 1
        )


# --- termination -------------------------------------------------------------------------------------------


def test_termination_waives_open_milestones_and_can_sanction(app_ctx):
    engagement, coordinator, manager = _agreed()
    ops.transition(engagement, E.in_progress, coordinator)
    data = ops.TerminationData(
        reason="협약 위반(제12조)", ban_until=TODAY + timedelta(days=365), clawback_krw=12_000_000
    )
    with pytest.raises(NotPermitted):
        ops.terminate(engagement, data, coordinator)  # sanctions are a manager's call
    assert engagement.status is E.in_progress
    sanctions = ops.terminate(engagement, data, manager)
    assert engagement.status is E.terminated
    assert {s.kind for s in sanctions} == {SanctionKind.participation_ban, SanctionKind.clawback}
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Sanction.id)).where(Sanction.engagement_id == engagement.id)
        )
        == 2
    )
    statuses = {
        m.status
        for m in db.session.scalars(sa.select(Milestone).where(Milestone.engagement_id == engagement.id))
    }
    assert statuses == {MilestoneStatus.waived}


def test_termination_without_sanction_by_the_coordinator(app_ctx):
    engagement, coordinator, _ = _agreed()
    ops.terminate(engagement, ops.TerminationData(reason="중도포기"), coordinator)
    assert engagement.status is E.terminated
    assert engagement.history[-1].reason == "중도포기"


# --- agreement changes -------------------------------------------------------------------------------------


def test_change_is_applied_on_approval_and_replans_open_milestones(app_ctx):
    engagement, coordinator, manager = _agreed()
    kickoff = db.session.scalar(
        sa.select(Milestone).where(Milestone.engagement_id == engagement.id, Milestone.kind == "kickoff")
    )
    kickoff.done_at = kickoff.created_at  # done milestones keep their day
    kept_due = kickoff.due_on
    new_end = engagement.ends_on + timedelta(days=60)
    proposed = ops.AgreementData.of(engagement)
    proposed.ends_on = new_end
    change = ops.request_change(engagement, proposed, "공급기업 일정 지연", coordinator)
    assert change.proposed == {"ends_on": new_end.isoformat()}
    assert engagement.ends_on != new_end  # not before approval
    with pytest.raises(NotPermitted):
        ops.decide_change(change, True, "", coordinator)
    ops.decide_change(change, True, "", manager)
    assert change.status is ChangeStatus.approved and engagement.ends_on == new_end
    milestones = {
        m.kind: m
        for m in db.session.scalars(sa.select(Milestone).where(Milestone.engagement_id == engagement.id))
    }
    assert milestones["final_report"].due_on == new_end
    assert milestones["settlement"].due_on == new_end + timedelta(days=30)
    assert milestones["change_deadline"].due_on == one_month_before(new_end)
    assert milestones["kickoff"].due_on == kept_due


def test_change_is_refused_later_than_one_month_before_the_end(app_ctx):
    programme, coordinator, _ = _setting()
    engagement = make_engagement(
        programme,
        status=E.in_progress,
        starts_on=TODAY - timedelta(days=100),
        ends_on=TODAY + timedelta(days=20),
    )
    proposed = ops.AgreementData.of(engagement)
    proposed.ends_on = TODAY + timedelta(days=60)
    with pytest.raises(RuleViolation) as error:
        ops.request_change(engagement, proposed, "연장", coordinator)
    assert error.value.code == "change_too_late"


def test_change_needs_a_reason_a_difference_and_valid_terms(app_ctx):
    engagement, coordinator, _ = _agreed()
    with pytest.raises(ValidationFailed) as error:
        ops.request_change(engagement, ops.AgreementData.of(engagement), "", coordinator)
    assert {"reason", "ends_on"} <= set(error.value.fields)
    proposed = ops.AgreementData.of(engagement)
    proposed.gov_krw = 90_000_000
    with pytest.raises(ValidationFailed) as error:
        ops.request_change(engagement, proposed, "증액", coordinator)
    assert "gov_krw" in error.value.fields


def test_one_open_change_at_a_time_and_refusal_needs_a_note(app_ctx):
    engagement, coordinator, manager = _agreed()
    proposed = ops.AgreementData.of(engagement)
    proposed.solution = "비전 검사 AI v2"
    change = ops.request_change(engagement, proposed, "솔루션 변경", coordinator)
    with pytest.raises(Conflict):
        ops.request_change(engagement, proposed, "again", coordinator)
    with pytest.raises(ValidationFailed):
        ops.decide_change(change, False, "", manager)
    ops.decide_change(change, False, "근거 부족", manager)
    assert change.status is ChangeStatus.refused and engagement.solution == "비전 검사 AI"
    with pytest.raises(ops.IllegalMove):
        ops.decide_change(change, True, "", manager)


# --- direct creation ---------------------------------------------------------------------------------------


def test_coordinator_creates_a_diagnosis_engagement_directly(app_ctx):
    programme, coordinator, _ = _setting(track=Track.diagnosis)
    firm = make_firm()
    engagement = ops.create_direct(programme, firm, coordinator)
    assert engagement.status is E.pending_agreement and engagement.application_id is None
    assert engagement.coordinator_id == coordinator.id
    assert engagement.history[0].to_status is E.pending_agreement


def test_direct_creation_is_only_for_tracks_without_calls(app_ctx):
    programme, coordinator, _ = _setting(track=Track.adoption)
    with pytest.raises(RuleViolation) as error:
        ops.create_direct(programme, make_firm(), coordinator)
    assert error.value.code == "needs_call"


def test_direct_creation_runs_the_ban_and_duplicate_guards(app_ctx):
    programme, coordinator, manager = _setting(track=Track.consulting)
    banned = make_firm()
    make_sanction(banned, starts_on=TODAY - timedelta(days=1), ends_on=TODAY + timedelta(days=30))
    with pytest.raises(RuleViolation) as error:
        ops.create_direct(programme, banned, coordinator)
    assert error.value.code == "ineligible"
    firm = make_firm()
    make_engagement(make_programme(track=Track.consulting), firm, status=E.in_progress)
    with pytest.raises(RuleViolation) as error:
        ops.create_direct(programme, firm, coordinator, override_reason="타 지역 과제 종료 예정")
    assert error.value.code == "duplicate_support"
    engagement = ops.create_direct(programme, firm, manager, override_reason="타 지역 과제 종료 예정")
    assert engagement.duplicate_override_reason == "타 지역 과제 종료 예정"


# --- the race for the last of a budget (PostgreSQL) ---------------------------------------------------------


def test_two_agreements_racing_for_the_last_of_a_budget(app, committed):
    """Two requests agree two engagements at once against a budget with room for one: exactly one wins."""
    from crm.auth.models import User
    from crm.engagements.models import Engagement

    programme, coordinator, _ = _setting(budget_gov_krw=60_000_000, budget_local_krw=900_000_000)
    ids = []
    for _ in range(2):
        engagement = make_engagement(programme)
        ops.update_agreement(engagement, _terms(), coordinator)
        ids.append(engagement.id)
    coordinator_id = coordinator.id
    db.session.commit()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def agree(engagement_id: int) -> None:
        with app.app_context():
            engagement = db.session.get(Engagement, engagement_id)
            actor = db.session.get(User, coordinator_id)
            barrier.wait()
            try:
                ops.transition(engagement, E.agreed, actor)
                db.session.commit()
                results.append("agreed")
            except RuleViolation as error:
                db.session.rollback()
                results.append(error.code)

    threads = [threading.Thread(target=agree, args=(engagement_id,)) for engagement_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["agreed", "over_budget"]
    statuses = db.session.scalars(sa.select(Engagement.status).where(Engagement.id.in_(ids))).all()
    assert sorted(statuses) == [E.agreed, E.pending_agreement]
