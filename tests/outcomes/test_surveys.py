"""Outcome-survey rounds: scheduling on closing (dates, leap day, idempotency, milestones), the firm's answers
in the portal (save, submit, read-only after), who may, and where staff and the firm see them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import render_template
from flask_login import login_user

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.outcomes import operations
from crm.outcomes.models import OutcomeSurvey, SurveyStatus
from crm.outcomes.operations import SurveyAnswers
from tests.conftest import login, post_form
from tests.factories import (
    make_consortium,
    make_engagement,
    make_firm,
    make_institution,
    make_kpi_row,
    make_milestone,
    make_outcome_survey,
    make_programme,
    make_user,
)

INDICATORS = ["매출 증가율", "신규 고용"]


@pytest.fixture
def world(app):
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(
        institution=institution, name="AI 실증 성과조사", survey_rounds=3, survey_indicators=INDICATORS
    )
    firm = make_firm(consortium, name="(주)조사테스트")
    engagement = make_engagement(programme, firm, status=EngagementStatus.closed, closed_on=date(2026, 6, 30))
    return {
        "programme": programme,
        "firm": firm,
        "engagement": engagement,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
        "firm_user": make_user(Role.firm_user, firm=firm),
        "other_firm_user": make_user(Role.firm_user, firm=make_firm(consortium)),
    }


def _surveys(engagement_id: int) -> list[OutcomeSurvey]:
    return list(
        db.session.scalars(
            sa.select(OutcomeSurvey)
            .where(OutcomeSurvey.engagement_id == engagement_id)
            .order_by(OutcomeSurvey.round)
        )
    )


def _milestones(engagement_id: int) -> list[Milestone]:
    return list(
        db.session.scalars(
            sa.select(Milestone).where(Milestone.engagement_id == engagement_id).order_by(Milestone.id)
        )
    )


# --- scheduling -------------------------------------------------------------------------------------------


def test_schedule_creates_rounds_and_firm_milestones(app_ctx, world):
    engagement = world["engagement"]
    created = operations.schedule_survey_rounds(engagement, world["coordinator"])
    assert [(s.round, s.due_on, s.status) for s in created] == [
        (1, date(2027, 6, 30), SurveyStatus.open),
        (2, date(2028, 6, 30), SurveyStatus.open),
        (3, date(2029, 6, 30), SurveyStatus.open),
    ]
    assert [s.id for s in _surveys(engagement.id)] == [s.id for s in created]
    milestones = _milestones(engagement.id)
    assert [(m.kind, m.title, m.due_on, m.owner) for m in milestones] == [
        ("outcome_survey_1", "성과조사 1차", date(2027, 6, 30), MilestoneOwner.firm),
        ("outcome_survey_2", "성과조사 2차", date(2028, 6, 30), MilestoneOwner.firm),
        ("outcome_survey_3", "성과조사 3차", date(2029, 6, 30), MilestoneOwner.firm),
    ]
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "outcome_survey.schedule"))
    assert event.object_id == engagement.id and len(event.changes["rounds"]) == 3


def test_leap_day_closing_falls_back_to_28_february(app_ctx, world):
    engagement = world["engagement"]
    engagement.closed_on = date(2024, 2, 29)
    world["programme"].survey_rounds = 4
    created = operations.schedule_survey_rounds(engagement, world["coordinator"])
    assert [s.due_on for s in created] == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]
    assert [m.due_on for m in _milestones(engagement.id)] == [s.due_on for s in created]


def test_scheduling_twice_adds_nothing_and_more_rounds_add_only_the_new_ones(app_ctx, world):
    engagement = world["engagement"]
    operations.schedule_survey_rounds(engagement, world["coordinator"])
    assert operations.schedule_survey_rounds(engagement, world["coordinator"]) == []
    assert len(_surveys(engagement.id)) == 3 and len(_milestones(engagement.id)) == 3
    world["programme"].survey_rounds = 5
    created = operations.schedule_survey_rounds(engagement, None)
    assert [s.round for s in created] == [4, 5]
    assert len(_milestones(engagement.id)) == 5


def test_scheduling_needs_a_closing_day_and_a_case_worker(app_ctx, world):
    engagement = world["engagement"]
    with pytest.raises(NotPermitted):
        operations.schedule_survey_rounds(engagement, world["other_coordinator"])
    engagement.closed_on = None
    with pytest.raises(RuleViolation):
        operations.schedule_survey_rounds(engagement, world["coordinator"])
    world["programme"].survey_rounds = 0
    engagement.closed_on = date(2026, 6, 30)
    assert operations.schedule_survey_rounds(engagement, world["coordinator"]) == []
    assert _surveys(engagement.id) == []


# --- the firm answers -------------------------------------------------------------------------------------


def _scheduled(world) -> OutcomeSurvey:
    operations.schedule_survey_rounds(world["engagement"], world["coordinator"])
    return _surveys(world["engagement"].id)[0]


def _answers(**changes: str) -> dict[str, str]:
    values = {"revenue_krw": "5,400,000,000", "employees": "31", "indicator_0": "12.5", "indicator_1": "4"}
    values.update(changes)
    return values


def test_save_keeps_it_open_with_partial_answers(client_en, world):
    survey = _scheduled(world)
    login(client_en, world["firm_user"].email)
    url = f"/portal/surveys/{survey.id}"
    page = client_en.get(url).get_data(as_text=True)
    assert "Outcome survey, round 1" in page and "매출 증가율" in page and "신규 고용" in page
    response = post_form(client_en, url, {**_answers(employees="", indicator_1=""), "action": "save"})
    assert response.status_code == 302
    db.session.expire_all()
    assert survey.status is SurveyStatus.open and survey.submitted_at is None
    assert (survey.revenue_krw, survey.employees) == (5_400_000_000, None)
    assert survey.answers == {"매출 증가율": 12.5, "신규 고용": None}
    page = client_en.get(url).get_data(as_text=True)
    assert 'value="5,400,000,000"' in page and 'value="12.5"' in page


def test_submit_requires_every_answer(client_en, world):
    survey = _scheduled(world)
    login(client_en, world["firm_user"].email)
    url = f"/portal/surveys/{survey.id}"
    response = post_form(
        client_en,
        url,
        {"revenue_krw": "", "employees": "", "indicator_0": "", "indicator_1": "", "action": "submit"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the revenue of the last business year" in page
    assert "Enter the number of employees." in page
    assert page.count("Enter a value for this indicator.") == 2
    db.session.expire_all()
    assert survey.status is SurveyStatus.open

    response = post_form(
        client_en, url, {**_answers(employees="-3", indicator_0="1.234"), "action": "submit"}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "cannot be negative" in page and "at most two decimal places" in page
    response = post_form(client_en, url, {**_answers(employees="many"), "action": "submit"})
    assert "Enter a whole number" in response.get_data(as_text=True)
    response = post_form(client_en, url, {**_answers(revenue_krw="-1"), "action": "submit"})
    assert "An amount cannot be negative." in response.get_data(as_text=True)


def test_submit_completes_the_milestone_and_locks_the_answers(client_en, world):
    survey = _scheduled(world)
    login(client_en, world["firm_user"].email)
    url = f"/portal/surveys/{survey.id}"
    response = post_form(client_en, url, {**_answers(), "action": "submit"})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.expire_all()
    assert survey.status is SurveyStatus.submitted and survey.submitted_by_id == world["firm_user"].id
    assert survey.submitted_at is not None
    assert survey.answers == {"매출 증가율": 12.5, "신규 고용": 4}
    first, second, _ = _milestones(world["engagement"].id)
    assert first.done_at is not None and first.done_by_id == world["firm_user"].id
    assert second.done_at is None

    page = client_en.get(url).get_data(as_text=True)
    assert "can no longer be changed" in page and 'name="revenue_krw"' not in page
    assert "₩5,400,000,000" in page and "12.5" in page

    again = post_form(client_en, url, {**_answers(revenue_krw="1"), "action": "submit"})
    assert again.status_code == 422
    assert "already submitted" in again.get_data(as_text=True)
    db.session.expire_all()
    assert survey.revenue_krw == 5_400_000_000


def test_operations_refuse_changes_after_submission_and_strangers(app_ctx, world):
    survey = _scheduled(world)
    complete = SurveyAnswers(revenue_krw=1, employees=1, indicators=[1, 2])
    for actor in (world["other_firm_user"], world["coordinator"]):
        with pytest.raises(NotPermitted):
            operations.submit_survey(survey, complete, actor)
    with pytest.raises(ValidationFailed):
        operations.submit_survey(
            survey, SurveyAnswers(revenue_krw=1, employees=1, indicators=[1]), world["firm_user"]
        )
    operations.submit_survey(survey, complete, world["firm_user"])
    with pytest.raises(RuleViolation):
        operations.save_survey(survey, complete, world["firm_user"])


def test_submit_without_a_milestone_still_works(app_ctx, world):
    survey = make_outcome_survey(world["engagement"], round=1)
    make_milestone(world["engagement"], kind="kickoff")
    operations.submit_survey(
        survey, SurveyAnswers(revenue_krw=0, employees=0, indicators=[0, 0]), world["firm_user"]
    )
    assert survey.status is SurveyStatus.submitted
    assert all(m.done_at is None for m in _milestones(world["engagement"].id))


def test_another_firms_survey_is_404(client, world, app):
    survey = _scheduled(world)
    login(client, world["other_firm_user"].email)
    assert client.get(f"/portal/surveys/{survey.id}").status_code == 404
    response = post_form(
        client, f"/portal/surveys/{survey.id}", {**_answers(), "action": "submit"}, page="/account"
    )
    assert response.status_code == 404
    staff = app.test_client()
    login(staff, world["coordinator"].email)
    assert staff.get(f"/portal/surveys/{survey.id}").status_code == 403


# --- where they are shown ---------------------------------------------------------------------------------


def test_staff_see_rounds_and_answers_on_the_engagement_page(client_en, world):
    survey = _scheduled(world)
    operations.submit_survey(
        survey, SurveyAnswers(revenue_krw=5_000_000, employees=12, indicators=[7, 3]), world["firm_user"]
    )
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/engagements/{world['engagement'].id}").get_data(as_text=True)
    assert "Outcome surveys (성과조사)" in page
    assert "Round 1" in page and "Round 3" in page and "2029-06-30" in page
    assert "₩5,000,000" in page and "매출 증가율" in page and "Submitted" in page


def test_portal_home_lists_open_rounds_with_d_day(client_en, world):
    engagement = world["engagement"]
    due = today_kst() + timedelta(days=12)
    make_outcome_survey(engagement, round=1, due_on=due)
    make_outcome_survey(engagement, round=2, due_on=due, status=SurveyStatus.submitted)
    login(client_en, world["firm_user"].email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "Outcome survey, round 1" in page and "D-12" in page
    assert "Outcome survey, round 2" not in page


def test_portal_engagement_panel(app, world):
    engagement = world["engagement"]
    make_outcome_survey(engagement, round=1, due_on=today_kst() + timedelta(days=5))
    make_kpi_row(engagement, indicator="납기준수율", unit="%")
    with app.test_request_context("/portal"):
        login_user(world["firm_user"])
        html = render_template("outcomes/_portal_engagement_panel.html", engagement=engagement)
    assert 'id="outcomes"' in html and "납기준수율" in html
    assert f"/portal/engagements/{engagement.id}/kpis" in html
    assert "/portal/surveys/" in html and "D-5" in html


def test_korean_pages_render(client, world):
    survey = _scheduled(world)
    make_kpi_row(world["engagement"])
    login(client, world["firm_user"].email)
    assert client.get(f"/portal/surveys/{survey.id}").status_code == 200
    assert client.get(f"/portal/engagements/{world['engagement'].id}/kpis").status_code == 200
    assert client.get("/portal").status_code == 200
