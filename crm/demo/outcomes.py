"""Demo outcomes: KPI rows for adoption, validation and incubation engagements from the agreement on, with
actuals measured for most engagements past the midpoint; and for closed engagements the survey rounds their
programme runs, past-due ones answered. Rows are written directly (no notices); never commits."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from crm.core.time import kst_to_utc
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.outcomes.models import KpiRow, OutcomeSurvey, SurveyStatus
from crm.outcomes.operations import KPI_FILL_STATUSES, add_years, survey_milestone_kind
from crm.programmes.models import Track

E = EngagementStatus
# (indicator, unit, baseline range, change towards the target as a share of the baseline)
KPIS: dict[Track, list[tuple[str, str, tuple[int, int], float]]] = {
    Track.adoption: [
        ("불량률", "%", (2, 6), -0.4),
        ("생산성", "개/시간", (80, 240), 0.2),
        ("매출", "백만원", (1_500, 9_000), 0.1),
    ],
    Track.validation: [
        ("불량률", "%", (1, 5), -0.3),
        ("원가", "백만원", (300, 1_200), -0.1),
        ("납기준수율", "%", (82, 92), 0.06),
    ],
    Track.incubation: [
        ("매출", "백만원", (50, 600), 0.5),
        ("고용", "명", (3, 12), 0.3),
    ],
}
# Statuses where the firm has measured something, and how likely it reported every actual.
REPORTED = {E.in_progress: 0.5, E.final_report: 0.9, E.final_check: 1.0, E.settlement: 1.0, E.closed: 1.0}
REPORTED[E.follow_up] = 1.0
CLOSED = (E.closed, E.follow_up)


def _value(number: float) -> Decimal:
    return Decimal(str(round(number, 1))).quantize(Decimal("0.01"))


def _kpis(rng: random.Random, engagement: Engagement, today: date) -> None:
    chance = REPORTED.get(engagement.status, 0.0)
    measured = rng.random() < chance
    end = min(engagement.ends_on or today, today)
    for position, (indicator, unit, (low, high), change) in enumerate(KPIS[engagement.programme.track], 1):
        baseline = rng.uniform(low, high)
        target = baseline * (1 + change)
        row = KpiRow(
            engagement_id=engagement.id,
            position=position,
            indicator=indicator,
            unit=unit,
            baseline=_value(baseline),
            target=_value(target),
        )
        if measured:
            # Somewhere between no progress and a little beyond the target.
            row.actual = _value(baseline + (target - baseline) * rng.uniform(0.3, 1.15))
            row.measured_on = end - timedelta(days=rng.randint(0, 20))
        db.session.add(row)


def _surveys(rng: random.Random, engagement: Engagement, today: date) -> None:
    if engagement.closed_on is None:
        return
    indicators = list(engagement.programme.survey_indicators or [])
    revenue = engagement.firm.revenue_krw or 3_000_000_000
    employees = engagement.firm.employees or 20
    planned = set(
        db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id))
    )
    for k in range(1, (engagement.programme.survey_rounds or 0) + 1):
        due_on = add_years(engagement.closed_on, k)
        survey = OutcomeSurvey(
            engagement_id=engagement.id, round=k, due_on=due_on, status=SurveyStatus.open, answers={}
        )
        milestone = Milestone(
            engagement_id=engagement.id,
            kind=survey_milestone_kind(k),
            title=f"성과조사 {k}차",
            due_on=due_on,
            owner=MilestoneOwner.firm,
        )
        if due_on <= today:
            grown = 1 + rng.uniform(0.02, 0.15) * k
            survey.revenue_krw = int(revenue * grown) // 1_000_000 * 1_000_000
            survey.employees = employees + rng.randint(0, 4) * k
            survey.answers = {name: round(rng.uniform(1, 100), 1) for name in indicators}
            survey.status = SurveyStatus.submitted
            survey.submitted_at = kst_to_utc(due_on - timedelta(days=rng.randint(3, 25)))
            milestone.done_at = survey.submitted_at
        db.session.add(survey)
        if milestone.kind not in planned:
            db.session.add(milestone)


def seed_outcomes(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(KpiRow.id).limit(1)) is not None:
        return  # already seeded
    engagements = db.session.scalars(
        sa.select(Engagement).where(Engagement.status.in_(KPI_FILL_STATUSES)).order_by(Engagement.id)
    )
    for engagement in engagements:
        if engagement.programme.track in KPIS:
            _kpis(rng, engagement, today)
        has_surveys = db.session.scalar(
            sa.select(OutcomeSurvey.id).where(OutcomeSurvey.engagement_id == engagement.id).limit(1)
        )
        if engagement.status in CLOSED and has_surveys is None:
            _surveys(rng, engagement, today)
    db.session.flush()
