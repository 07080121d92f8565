"""The demo seeder of outcomes: KPI rows for adoption, validation and incubation engagements from the
agreement on, some actuals, survey rounds for closed engagements; nothing in the future."""

from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa

from crm.demo.outcomes import seed_outcomes
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone
from crm.outcomes.models import KpiRow, OutcomeSurvey, SurveyStatus
from crm.programmes.models import Track
from tests.factories import make_engagement, make_programme

TODAY = date(2026, 11, 20)
S = EngagementStatus


def test_seed_outcomes(app):
    adoption = make_programme(track=Track.adoption, survey_rounds=2, survey_indicators=["매출 증가율"])
    training = make_programme(track=Track.training)
    agreed = make_engagement(adoption, status=S.agreed, ends_on=date(2027, 6, 30))
    checked = [make_engagement(adoption, status=S.final_check, ends_on=date(2026, 10, 31)) for _ in range(3)]
    closed = make_engagement(adoption, status=S.closed, ends_on=date(2025, 6, 30), closed_on=date(2025, 8, 1))
    pending = make_engagement(adoption, status=S.pending_agreement)
    other_track = make_engagement(training, status=S.in_progress)

    seed_outcomes(random.Random(3), TODAY)
    rows = list(db.session.scalars(sa.select(KpiRow).order_by(KpiRow.id)))
    by_engagement = {e.id: [r for r in rows if r.engagement_id == e.id] for e in [agreed, *checked, closed]}
    assert all(len(r) == 3 for r in by_engagement.values())
    assert not any(r.engagement_id in (pending.id, other_track.id) for r in rows)
    assert all(r.actual is None for r in by_engagement[agreed.id])
    assert all(r.actual is not None for e in checked for r in by_engagement[e.id])
    assert all(r.measured_on <= TODAY for r in rows if r.measured_on is not None)

    surveys = list(db.session.scalars(sa.select(OutcomeSurvey).order_by(OutcomeSurvey.round)))
    assert [(s.engagement_id, s.round, s.due_on) for s in surveys] == [
        (closed.id, 1, date(2026, 8, 1)),
        (closed.id, 2, date(2027, 8, 1)),
    ]
    assert surveys[0].status is SurveyStatus.submitted and surveys[0].answers.keys() == {"매출 증가율"}
    assert surveys[1].status is SurveyStatus.open
    kinds = db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == closed.id))
    assert sorted(kinds) == ["outcome_survey_1", "outcome_survey_2"]

    seed_outcomes(random.Random(3), TODAY)
    assert db.session.scalar(sa.select(sa.func.count(KpiRow.id))) == len(rows)
