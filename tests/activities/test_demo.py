"""The demo seeder of activities: believable rows for engagements in progress, deterministic, no future
dates, and a second run adds nothing."""

from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa

from crm.activities.models import Activity
from crm.demo.activities import seed_activities
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from tests.factories import make_engagement, make_programme

TODAY = date(2026, 11, 20)


def _rows() -> list[tuple]:
    return list(
        db.session.execute(
            sa.select(Activity.engagement_id, Activity.kind, Activity.occurred_on, Activity.hours).order_by(
                Activity.id
            )
        )
    )


def test_seed_activities(app):
    programme = make_programme()
    running = [
        make_engagement(programme, status=EngagementStatus.in_progress, starts_on=date(2026, 6, 1))
        for _ in range(3)
    ]
    waiting = make_engagement(programme, status=EngagementStatus.pending_agreement)
    seed_activities(random.Random(7), TODAY)
    rows = _rows()
    per_engagement = {e.id: sum(1 for r in rows if r[0] == e.id) for e in running}
    assert all(1 <= n <= 4 for n in per_engagement.values())
    assert not any(r[0] == waiting.id for r in rows)
    assert sum(1 for r in rows if r[0] is None) == 2  # firm-level ones
    assert all(r[2] <= TODAY and 0 <= r[3] <= 24 for r in rows)

    seed_activities(random.Random(7), TODAY)
    assert _rows() == rows
