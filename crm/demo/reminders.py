"""Demo reminders: the 강원 사업단's programmes send reminders on business days only, and the reminder history
of the last two weeks is written as if the daily sweep had run (Reminder rows only, no notices), so the
sweep that seed_demo runs last sends today's reminders and not a backlog. Never commits."""

from __future__ import annotations

import random
from datetime import date, timedelta

import sqlalchemy as sa

from crm.engagements.models import Engagement
from crm.extensions import db
from crm.milestones.models import Milestone
from crm.notices.models import Reminder
from crm.notices.reminders import SILENT_STATUSES, due_reminder, is_business_day
from crm.organisation.models import Consortium
from crm.programmes.models import Programme, ProgrammeYear

BUSINESS_DAY_CONSORTIUM = "강원 AI 사업단"
HISTORY_DAYS = 14


def seed_reminders(rng: random.Random, today: date) -> None:
    db.session.execute(
        sa.update(Programme)
        .where(
            Programme.programme_year_id.in_(
                sa.select(ProgrammeYear.id)
                .join(Consortium, ProgrammeYear.consortium_id == Consortium.id)
                .where(Consortium.name == BUSINESS_DAY_CONSORTIUM)
            )
        )
        .values(reminders_on_business_days=True)
    )
    rows = db.session.execute(
        sa.select(Milestone.id, Milestone.due_on, Programme.reminders_on_business_days)
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(Milestone.open_clause(), Engagement.status.not_in(SILENT_STATUSES))
        .order_by(Milestone.id)
    ).all()
    keys: set[tuple[int, object, date]] = set()
    for offset in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=offset)
        for milestone_id, due_on, business_days_only in rows:
            if business_days_only and not is_business_day(day):
                continue
            if (due := due_reminder(due_on, day)) is not None:
                keys.add((milestone_id, *due))
    db.session.add_all(
        Reminder(milestone_id=milestone_id, rule=rule, due_on=key_day)
        for milestone_id, rule, key_day in sorted(keys, key=lambda k: (k[0], k[2], k[1].value))
    )
    db.session.flush()
