"""The demo's training and GPU rows: believable, inside the rules the operations enforce, and pages render."""

from __future__ import annotations

import random
from collections import Counter

import sqlalchemy as sa

from crm.core.time import today_kst
from crm.demo import data
from crm.demo.infrastructure import seed_infrastructure
from crm.demo.seed import seed_demo
from crm.demo.training import seed_training
from crm.engagements.models import Engagement, EngagementHistory, EngagementStatus
from crm.extensions import db
from crm.infrastructure.models import GpuAllocation
from crm.infrastructure.operations import gpu_quota, used_hours
from crm.programmes.models import Programme, Track
from crm.training.models import TrainingSession
from crm.training.operations import training_quota
from tests.conftest import login


def _programmes(track: Track) -> list[Programme]:
    return list(
        db.session.scalars(sa.select(Programme).where(Programme.track == track).order_by(Programme.id))
    )


def test_demo_training_and_gpu_rows(client_en):
    assert seed_demo() is True
    today = today_kst()
    seed_training(random.Random(data.SEED), today)
    seed_infrastructure(random.Random(data.SEED), today)
    db.session.flush()

    training = _programmes(Track.training)
    assert training
    for programme in training:
        sessions = db.session.scalars(
            sa.select(TrainingSession).where(TrainingSession.programme_id == programme.id)
        ).all()
        assert 3 <= len(sessions) <= 5
        year = programme.programme_year
        for session in sessions:
            assert year.starts_on <= session.held_on <= year.ends_on
            assert 0 < len(session.registrations) <= session.capacity
            assert len({r.email for r in session.registrations}) == len(session.registrations)
            taken = {r.attended is not None for r in session.registrations}
            assert taken == {session.held_on <= today}
        quota = training_quota(programme)
        assert 0 < quota.counted <= quota.registered
        # Some people come to more than one session: the quota counts people, not seats.
        emails = Counter(r.email for s in sessions for r in s.registrations if r.attended)
        assert max(emails.values()) > 1 and quota.counted == len(emails)

    infrastructure = _programmes(Track.infrastructure)
    assert infrastructure
    for programme in infrastructure:
        engagements = db.session.scalars(
            sa.select(Engagement).where(Engagement.programme_id == programme.id)
        ).all()
        assert engagements
        year = programme.programme_year
        for engagement in engagements:
            assert engagement.status is EngagementStatus.in_progress
            assert year.starts_on <= engagement.starts_on <= engagement.ends_on <= year.ends_on
            history = db.session.scalars(
                sa.select(EngagementHistory.to_status).where(EngagementHistory.engagement_id == engagement.id)
            ).all()
            assert history[-1] is EngagementStatus.in_progress
            allocation = db.session.scalar(
                sa.select(GpuAllocation).where(GpuAllocation.engagement_id == engagement.id)
            )
            assert allocation is not None and allocation.granted_on <= today
            assert used_hours(allocation) <= allocation.hours_granted
            assert all(allocation.granted_on <= u.used_on <= today for u in allocation.usages)
        quota = gpu_quota(programme)
        assert 0 < quota.used <= quota.granted <= quota.target

    login(client_en, "manager@example.com", data.PASSWORD)
    for programme in training:
        assert client_en.get(f"/programmes/{programme.id}/training").status_code == 200
        session = db.session.scalar(
            sa.select(TrainingSession).where(TrainingSession.programme_id == programme.id)
        )
        assert client_en.get(f"/training/{session.id}").status_code == 200
    for programme in infrastructure:
        assert client_en.get(f"/programmes/{programme.id}/gpu").status_code == 200
        engagement = db.session.scalar(sa.select(Engagement).where(Engagement.programme_id == programme.id))
        page = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
        assert "<progress" in page
