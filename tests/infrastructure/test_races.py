"""Concurrent GPU grants and usage on PostgreSQL: the programme's and the allocation's limits hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.models import User
from crm.core.exceptions import RuleViolation
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.infrastructure import operations
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.infrastructure.operations import AllocationData, UsageData
from tests.factories import make_gpu_allocation
from tests.infrastructure.helpers import engagement_in, make_world
from tests.training.races import committed_postgres_app, run_together, slowed


@pytest.fixture
def race_app() -> Iterator[Flask]:
    yield from committed_postgres_app()


def _refused(results: list) -> list[RuleViolation]:
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, RuleViolation) for r in refused), results
    return refused


def test_two_grants_for_the_programmes_last_hours_one_is_refused(race_app, monkeypatch):
    with race_app.app_context():
        world = make_world(target=100)
        make_gpu_allocation(world.engagement, hours_granted=60)
        first, second = engagement_in(world), engagement_in(world)
        db.session.commit()
        ids = (first.id, second.id)
        manager_id, today = world.manager.id, world.today

    monkeypatch.setattr(operations, "_granted_in", slowed(operations._granted_in))

    def grant(engagement_id: int):
        def work():
            engagement = db.session.get(Engagement, engagement_id)
            data = AllocationData(hours_granted=Decimal(40), granted_on=today)
            return operations.grant_hours(engagement, data, db.session.get(User, manager_id)).id

        return work

    results = run_together(race_app, *(grant(i) for i in ids))
    refused = _refused(results)
    assert [r.code for r in refused] == ["gpu_quota_exceeded"], results
    with race_app.app_context():
        granted = db.session.scalar(sa.select(sa.func.sum(GpuAllocation.hours_granted)))
        assert granted == Decimal("100.0")


def test_two_usage_entries_for_the_last_hours_one_is_refused(race_app, monkeypatch):
    with race_app.app_context():
        world = make_world()
        make_gpu_allocation(world.engagement, hours_granted=10, granted_on=world.today - timedelta(days=5))
        db.session.commit()
        engagement_id, actors, today = (
            world.engagement.id,
            (world.manager.id, world.coordinator.id),
            world.today,
        )

    monkeypatch.setattr(operations, "used_hours", slowed(operations.used_hours))

    def use(actor_id: int):
        def work():
            engagement = db.session.get(Engagement, engagement_id)
            data = UsageData(used_on=today, hours=Decimal(6))
            return operations.record_usage(engagement, data, db.session.get(User, actor_id)).id

        return work

    results = run_together(race_app, *(use(a) for a in actors))
    assert [r.code for r in _refused(results)] == ["over_granted"], results
    with race_app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(GpuUsage.hours))) == Decimal("6.0")
