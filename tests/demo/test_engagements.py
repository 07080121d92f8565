"""Demo engagements: every stage of the lifecycle, money that keeps the rules, milestones, something due for
the demo firm users."""

from __future__ import annotations

import sqlalchemy as sa

from crm.core.time import today_kst
from crm.demo.seed import seed_demo
from crm.engagements import operations
from crm.engagements.models import COMMITTED_STATUSES, Engagement, EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner, MilestoneStatus
from crm.programmes.models import Programme


def test_demo_engagements_cover_the_lifecycle_and_keep_the_money_rules(app):
    with app.app_context():
        seed_demo()
        engagements = db.session.scalars(sa.select(Engagement)).all()
        statuses = {e.status for e in engagements}
        assert {
            EngagementStatus.pending_agreement,
            EngagementStatus.agreed,
            EngagementStatus.in_progress,
            EngagementStatus.closed,
            EngagementStatus.follow_up,
            EngagementStatus.terminated,
        } <= statuses
        for engagement in engagements:
            if engagement.status in COMMITTED_STATUSES:
                terms = operations.AgreementData.of(engagement)
                assert operations.agreement_problems(engagement, terms) == {}, engagement.id
                assert engagement.history[-1].to_status is engagement.status
        for programme in db.session.scalars(sa.select(Programme)):
            gov, local = operations.committed_krw(programme)
            assert gov <= programme.budget_gov_krw and local <= programme.budget_local_krw, programme.name
        milestones = db.session.scalars(sa.select(Milestone)).all()
        assert {m.status for m in milestones} >= {
            MilestoneStatus.done,
            MilestoneStatus.open,
            MilestoneStatus.overdue,
        }
        for name in ("(주)울산스마트팩토리", "태화정밀(주)"):
            due = db.session.scalars(
                sa.select(Milestone)
                .join(Engagement, Milestone.engagement_id == Engagement.id)
                .where(Milestone.owner == MilestoneOwner.firm, Milestone.open_clause())
                .where(Engagement.firm.has(name=name))
            ).all()
            assert any(0 <= (m.due_on - today_kst()).days <= 7 for m in due), name
