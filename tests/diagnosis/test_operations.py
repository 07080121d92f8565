"""The diagnosis verbs: start or resume (one per firm per year), save, submit, reopen, and who may."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.diagnosis import operations
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus, ReadinessLevel
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.programmes.models import Track
from tests.diagnosis.helpers import answers_by_dimension, make_world
from tests.factories import (
    make_consortium,
    make_diagnosis_result,
    make_engagement,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)


@pytest.fixture
def world(app):
    return make_world()


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def _rows(firm_id: int) -> list[DiagnosisResult]:
    return list(db.session.scalars(sa.select(DiagnosisResult).where(DiagnosisResult.firm_id == firm_id)))


# --- one per firm per year -------------------------------------------------------------------------------


def test_starting_twice_gives_the_same_row(world):
    first = operations.start_or_resume(world.firm, 2026, world.coordinator)
    again = operations.start_or_resume(world.firm, 2026, world.firm_user)
    assert again.id == first.id
    assert [r.id for r in _rows(world.firm.id)] == [first.id]
    assert first.status is DiagnosisStatus.draft and first.questionnaire_version == "2026.1"
    assert first.filled_by_id == world.coordinator.id
    [event] = _events("diagnosis.start")
    assert event.object_id == first.id and event.changes["year"] == 2026


def test_the_database_refuses_a_second_row_for_the_same_year(world):
    make_diagnosis_result(world.firm, year=2025)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        make_diagnosis_result(world.firm, year=2025)


def test_another_year_is_another_row(world):
    a = operations.start_or_resume(world.firm, 2025, world.manager)
    b = operations.start_or_resume(world.firm, 2026, world.manager)
    assert a.id != b.id and {r.year for r in _rows(world.firm.id)} == {2025, 2026}


def test_a_submitted_one_is_returned_not_started_again(world):
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    operations.submit(result, world.coordinator, answers_by_dimension())
    again = operations.start_or_resume(world.firm, 2026, world.firm_user)
    assert again.id == result.id and again.status is DiagnosisStatus.submitted
    assert len(_events("diagnosis.start")) == 1


def test_the_year_is_the_korean_calendar_year(world, monkeypatch):
    # 2026-12-31 16:00 UTC is already 2027-01-01 in Seoul.
    monkeypatch.setattr("crm.core.time.utcnow", lambda: datetime(2026, 12, 31, 16, 0, tzinfo=UTC))
    assert operations.start_or_resume(world.firm, None, world.coordinator).year == 2027


def test_a_future_or_silly_year_is_refused(world, monkeypatch):
    monkeypatch.setattr("crm.core.time.utcnow", lambda: datetime(2026, 6, 1, tzinfo=UTC))
    for year in (2027, 1999):
        with pytest.raises(ValidationFailed) as refused:
            operations.start_or_resume(world.firm, year, world.coordinator)
        assert "year" in refused.value.fields


def test_the_years_diagnosis_engagement_is_linked(world):
    programme_year = make_programme_year(
        world.consortium, starts_on=date(2026, 4, 1), ends_on=date(2027, 3, 31)
    )
    programme = make_programme(programme_year, world.institution, track=Track.diagnosis)
    engagement = make_engagement(programme, world.firm, status=EngagementStatus.in_progress)
    assert operations.start_or_resume(world.firm, 2026, world.coordinator).engagement_id == engagement.id
    assert operations.start_or_resume(world.firm, 2025, world.coordinator).engagement_id is None


# --- answers ---------------------------------------------------------------------------------------------


def test_answers_are_saved_partially(world):
    result = operations.start_or_resume(world.firm, 2026, world.firm_user)
    operations.save_answers(result, {"strategy_goals": 4, "data_quality": "2"}, world.firm_user)
    operations.save_answers(result, {"people_training": 5, "data_quality": ""}, world.coordinator)
    db.session.expire_all()
    assert result.answers == {"strategy_goals": 4, "people_training": 5}
    assert result.filled_by_id == world.coordinator.id
    assert result.status is DiagnosisStatus.draft and result.overall_score is None
    assert len(_events("diagnosis.save")) == 2


def test_unknown_questions_and_values_off_the_scale_are_refused(world):
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    with pytest.raises(ValidationFailed) as refused:
        operations.save_answers(
            result,
            {"strategy_goals": 6, "data_quality": "x", "people_training": True, "favourite_colour": 3},
            world.coordinator,
        )
    assert set(refused.value.fields) == {
        "q_strategy_goals",
        "q_data_quality",
        "q_people_training",
        "q_favourite_colour",
    }
    assert "favourite_colour" in str(refused.value.fields["q_favourite_colour"][0])
    db.session.expire_all()
    assert result.answers == {}


def test_submit_names_every_unanswered_question(world):
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    answers = answers_by_dimension()
    for question_id in ("strategy_plan", "infra_sensors", "process_kpis"):
        del answers[question_id]
    with pytest.raises(ValidationFailed) as refused:
        operations.submit(result, world.coordinator, answers)
    assert set(refused.value.fields) == {"q_strategy_plan", "q_infra_sensors", "q_process_kpis"}
    assert all(len(messages) == 1 for messages in refused.value.fields.values())
    assert "3" in str(refused.value.message)
    assert result.status is DiagnosisStatus.draft


def test_submit_scores_levels_and_recommends(world):
    result = operations.start_or_resume(world.firm, 2026, world.firm_user)
    operations.save_answers(result, answers_by_dimension(strategy=2, data=2), world.firm_user)
    operations.submit(result, world.firm_user, {"people_experts": 1})
    db.session.expire_all()
    assert result.status is DiagnosisStatus.submitted and result.submitted_at is not None
    # people: 3, 1, 3, 3 → mean 2.5 → 37.5
    assert result.dimension_scores == {
        "strategy": 25.0,
        "data": 25.0,
        "infrastructure": 50.0,
        "people": 37.5,
        "process": 50.0,
    }
    assert result.overall_score == 37.5
    assert result.level is ReadinessLevel.initial
    assert result.recommended_track is Track.adoption
    [event] = _events("diagnosis.submit")
    assert event.changes["level"] == [None, "initial"] and event.changes["status"] == ["draft", "submitted"]


def test_the_recommendation_skips_a_track_the_firm_completed(world):
    programme = make_programme(institution=world.institution, track=Track.adoption)
    make_engagement(programme, world.firm, status=EngagementStatus.closed)
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    operations.submit(result, world.coordinator, answers_by_dimension(strategy=2, data=2))
    assert result.level is ReadinessLevel.initial
    assert result.recommended_track is Track.validation


def test_a_submitted_diagnosis_cannot_change(world):
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    operations.submit(result, world.coordinator, answers_by_dimension())
    with pytest.raises(RuleViolation) as refused:
        operations.save_answers(result, {"strategy_goals": 1}, world.coordinator)
    assert refused.value.code == "already_submitted"
    with pytest.raises(RuleViolation):
        operations.submit(result, world.coordinator)


# --- reopen --------------------------------------------------------------------------------------------


def test_staff_reopen_with_a_reason_and_it_is_audited(world):
    result = operations.start_or_resume(world.firm, 2026, world.firm_user)
    operations.submit(result, world.firm_user, answers_by_dimension(strategy=5))
    with pytest.raises(ValidationFailed) as refused:
        operations.reopen(result, world.coordinator, "   ")
    assert "reason" in refused.value.fields

    operations.reopen(result, world.coordinator, "다른 사업장 기준으로 응답함")
    db.session.expire_all()
    assert result.status is DiagnosisStatus.draft
    assert (result.overall_score, result.level, result.recommended_track, result.submitted_at) == (
        None,
        None,
        None,
        None,
    )
    assert result.answers["strategy_goals"] == 5  # the answers stay for the correction
    [event] = _events("diagnosis.reopen")
    assert event.actor_id == world.coordinator.id
    assert event.changes["reason"] == "다른 사업장 기준으로 응답함"
    assert event.changes["status"] == ["submitted", "draft"] and event.changes["level"][0] == "expanding"
    with pytest.raises(RuleViolation) as again:
        operations.reopen(result, world.coordinator, "twice")
    assert again.value.code == "not_submitted"


def test_the_firm_cannot_reopen(world):
    result = operations.start_or_resume(world.firm, 2026, world.firm_user)
    operations.submit(result, world.firm_user, answers_by_dimension())
    with pytest.raises(NotPermitted):
        operations.reopen(result, world.firm_user, "we changed our minds")


# --- who may ---------------------------------------------------------------------------------------------


def test_who_may_fill(world):
    other_consortium = make_consortium()
    outsiders = [
        make_user(Role.coordinator, institution=make_institution(other_consortium)),
        make_user(Role.consortium_manager, consortium=other_consortium),
        make_user(Role.firm_user),  # another firm's user
        make_user(Role.evaluator),
        make_user(Role.national_viewer),
    ]
    for actor in outsiders:
        assert not operations.may_fill(world.firm, actor), actor.role
        with pytest.raises(NotPermitted):
            operations.start_or_resume(world.firm, 2026, actor)
    for actor in (world.coordinator, world.manager, world.firm_user, make_user(Role.admin)):
        assert operations.may_fill(world.firm, actor), actor.role
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    with pytest.raises(NotPermitted):
        operations.save_answers(result, {"strategy_goals": 3}, outsiders[0])
    with pytest.raises(NotPermitted):
        operations.submit(result, outsiders[2], answers_by_dimension())


def test_a_concurrent_start_reads_the_winners_row(world, monkeypatch):
    # Another request inserted this year's row between our look-up and our insert.
    winner = make_diagnosis_result(world.firm, year=2026)
    real_lookup = operations.result_for
    lookups = iter([None])
    monkeypatch.setattr(
        operations, "result_for", lambda firm, year: next(lookups, None) or real_lookup(firm, year)
    )
    result = operations.start_or_resume(world.firm, 2026, world.coordinator)
    assert result.id == winner.id
    assert [r.id for r in _rows(world.firm.id)] == [winner.id]
    assert _events("diagnosis.start") == []  # the session is still usable and nothing else was written
