"""Demo pipeline settings: every demo programme gets its track's SLA and outcome-survey settings (a few with a
stricter or looser agreement SLA, so boards differ), and each engagement's days in status start at its last
recorded status change. Rows are written directly; never commits."""

from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa

from crm.engagements.models import Engagement, EngagementHistory
from crm.extensions import db
from crm.programmes.models import Programme
from crm.programmes.operations import default_sla_days, default_survey_indicators, default_survey_rounds


def seed_pipeline(rng: random.Random, today: date) -> None:
    """`today` is unused: the settings do not depend on the day, and status changes come from the history."""
    for programme in db.session.scalars(sa.select(Programme).order_by(Programme.id)):
        if not programme.sla_days:
            sla_days = default_sla_days(programme.track)
            sla_days["agreed"] = rng.choice((7, 14, 14, 21))
            programme.sla_days = sla_days
        if not programme.survey_rounds and not programme.survey_indicators:
            programme.survey_rounds = default_survey_rounds(programme.track)
            programme.survey_indicators = default_survey_indicators(programme.track)
    # The board counts days from status_changed_at; the engagement seeder records the lifecycle as history.
    last_change = (
        sa.select(EngagementHistory.engagement_id, sa.func.max(EngagementHistory.at).label("at"))
        .group_by(EngagementHistory.engagement_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Engagement, last_change.c.at)
        .join(last_change, last_change.c.engagement_id == Engagement.id)
        .order_by(Engagement.id)
    )
    for engagement, at in rows:
        if at is not None and engagement.status_changed_at != at:
            engagement.status_changed_at = at
    db.session.flush()
