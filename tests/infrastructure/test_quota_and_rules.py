"""GPU hours at the operation level: the programme's hours quota, granting, usage and their rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.infrastructure import operations
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.infrastructure.operations import AllocationData, GpuQuota, UsageData
from crm.programmes.models import TargetUnit, Track
from tests.factories import make_engagement, make_gpu_allocation, make_gpu_usage, make_programme, make_user
from tests.infrastructure.helpers import engagement_in, make_world

pytestmark = pytest.mark.usefixtures("english")


E = EngagementStatus


def _grant(world, hours: str | int, days_ago: int = 10, **kw) -> AllocationData:
    return AllocationData(
        hours_granted=Decimal(str(hours)), granted_on=world.today - timedelta(days=days_ago), **kw
    )


def _use(world, hours: str | int, days_ago: int = 1, purpose: str = "모델 학습") -> UsageData:
    return UsageData(
        used_on=world.today - timedelta(days=days_ago), hours=Decimal(str(hours)), purpose=purpose
    )


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


# --- quota --------------------------------------------------------------------------------------------


def test_gpu_quota_sums_the_programmes_grants_and_usage(app):
    world = make_world(target=1000)
    first = make_gpu_allocation(world.engagement, hours_granted=300)
    second = make_gpu_allocation(engagement_in(world), hours_granted=Decimal("200.5"))
    make_gpu_usage(first, hours=50)
    make_gpu_usage(first, hours=Decimal("12.5"))
    make_gpu_usage(second, hours=20)
    make_gpu_allocation(
        make_engagement(make_programme(track=Track.infrastructure)), hours_granted=999
    )  # elsewhere

    quota = operations.gpu_quota(world.programme)
    assert quota == GpuQuota(
        target=Decimal(1000), granted=Decimal("500.5"), used=Decimal("82.5"), remaining=Decimal("499.5")
    )
    assert (quota.percent_granted, quota.percent_used) == (50, 16)


def test_gpu_quota_of_an_empty_programme_and_one_not_counted_in_hours(app):
    world = make_world(target=800)
    assert operations.gpu_quota(world.programme) == GpuQuota(
        Decimal(800), Decimal(0), Decimal(0), Decimal(800)
    )
    world.programme.unit = TargetUnit.firms
    quota = operations.gpu_quota(world.programme)
    assert (quota.target, quota.remaining, quota.percent_granted) == (None, None, None)


# --- granting -----------------------------------------------------------------------------------------


def test_granting_creates_the_allocation_and_audits_it(app):
    world = make_world()
    allocation = operations.grant_hours(
        world.engagement, _grant(world, "400", resource="A100 80GB × 2", note="1차 배정"), world.coordinator
    )
    assert (allocation.hours_granted, allocation.resource, allocation.granted_by_id) == (
        Decimal("400.0"),
        "A100 80GB × 2",
        world.coordinator.id,
    )
    [event] = _events("gpu.grant")
    assert event.changes["hours_granted"] == "400.0" and event.changes["engagement_id"] == world.engagement.id
    operations.grant_hours(world.engagement, _grant(world, "450", resource="A100 80GB × 2"), world.manager)
    assert db.session.scalar(sa.select(sa.func.count(GpuAllocation.id))) == 1  # one per engagement
    [change] = _events("gpu.grant.change")
    assert change.changes["hours_granted"] == ["400.0", "450.0"]


def test_grants_never_exceed_the_programme_target(app):
    world = make_world(target=1000)
    make_gpu_allocation(engagement_in(world), hours_granted=700)
    with pytest.raises(RuleViolation) as caught:
        operations.grant_hours(world.engagement, _grant(world, "300.1"), world.manager)
    assert caught.value.code == "gpu_quota_exceeded"
    assert "300.0 are left to grant" in str(caught.value.fields["hours_granted"][0])
    operations.grant_hours(world.engagement, _grant(world, 300), world.manager)  # exactly the rest
    assert operations.gpu_quota(world.programme).remaining == 0
    # Changing an existing grant counts only the other engagements' hours.
    operations.grant_hours(world.engagement, _grant(world, 250), world.manager)
    operations.grant_hours(world.engagement, _grant(world, 300), world.manager)
    with pytest.raises(RuleViolation):
        operations.grant_hours(world.engagement, _grant(world, 301), world.manager)


def test_hours_are_granted_only_while_the_support_runs(app):
    world = make_world()
    for status in (E.pending_agreement, E.final_report, E.closed, E.terminated, E.cancelled):
        engagement = engagement_in(world, status=status)
        with pytest.raises(RuleViolation) as caught:
            operations.grant_hours(engagement, _grant(world, 10), world.manager)
        assert caught.value.code == "not_grantable", status
    for status in (E.agreed, E.in_progress):
        operations.grant_hours(engagement_in(world, status=status), _grant(world, 10), world.manager)


def test_a_grant_may_be_lowered_after_the_work_but_not_below_the_hours_used(app):
    world = make_world()
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=100, granted_on=world.today - timedelta(days=30)
    )
    make_gpu_usage(allocation, hours=60, used_on=world.today - timedelta(days=5))
    world.engagement.status = E.final_report
    with pytest.raises(RuleViolation) as raised:
        operations.grant_hours(world.engagement, _grant(world, 120, days_ago=30), world.manager)
    assert raised.value.code == "not_grantable"
    with pytest.raises(RuleViolation) as below:
        operations.grant_hours(world.engagement, _grant(world, "59.9", days_ago=30), world.manager)
    assert below.value.code == "below_used" and "60.0 hours were already used" in str(below.value.message)
    operations.grant_hours(world.engagement, _grant(world, 60, days_ago=30), world.manager)
    assert allocation.hours_granted == 60


def test_grant_values_are_checked(app):
    world = make_world()
    cases = [
        (AllocationData(hours_granted=None, granted_on=world.today), {"hours_granted"}),
        (AllocationData(hours_granted=Decimal("0"), granted_on=world.today), {"hours_granted"}),
        (AllocationData(hours_granted=Decimal("-5"), granted_on=world.today), {"hours_granted"}),
        (AllocationData(hours_granted=Decimal("1.25"), granted_on=world.today), {"hours_granted"}),
        (AllocationData(hours_granted=Decimal("10"), granted_on=None), {"granted_on"}),
        (
            AllocationData(hours_granted=Decimal("10"), granted_on=world.today + timedelta(days=1)),
            {"granted_on"},
        ),
    ]
    for data, fields in cases:
        with pytest.raises(ValidationFailed) as caught:
            operations.grant_hours(world.engagement, data, world.manager)
        assert set(caught.value.fields) == fields, data
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=50, granted_on=world.today - timedelta(days=20)
    )
    make_gpu_usage(allocation, hours=5, used_on=world.today - timedelta(days=15))
    with pytest.raises(ValidationFailed) as caught:  # usage before the new grant date
        operations.grant_hours(world.engagement, _grant(world, 50, days_ago=10), world.manager)
    assert set(caught.value.fields) == {"granted_on"}
    # An existing grant may go down to zero when nothing was used.
    spare = make_gpu_allocation(engagement_in(world), hours_granted=40)
    operations.grant_hours(spare.engagement, _grant(world, 0), world.manager)
    assert spare.hours_granted == 0


def test_gpu_hours_belong_to_infrastructure_engagements_and_their_staff(app):
    world = make_world()
    adoption = make_engagement(
        make_programme(world.programme.programme_year, world.institution, track=Track.adoption)
    )
    with pytest.raises(RuleViolation) as caught:
        operations.grant_hours(adoption, _grant(world, 10), world.manager)
    assert caught.value.code == "not_infrastructure"
    for outsider in (
        world.other_coordinator,
        make_user(Role.consortium_manager),
        make_user(Role.national_viewer),
    ):
        with pytest.raises(NotPermitted):
            operations.grant_hours(world.engagement, _grant(world, 10), outsider)
    assert db.session.scalar(sa.select(sa.func.count(GpuAllocation.id))) == 0


# --- usage --------------------------------------------------------------------------------------------


def test_usage_never_exceeds_the_hours_granted(app):
    world = make_world()
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=100, granted_on=world.today - timedelta(days=30)
    )
    operations.record_usage(world.engagement, _use(world, 70), world.coordinator)
    with pytest.raises(RuleViolation) as caught:
        operations.record_usage(world.engagement, _use(world, "30.1"), world.coordinator)
    assert caught.value.code == "over_granted"
    assert "Only 30.0 of the 100.0 hours granted are left." in str(caught.value.fields["hours"][0])
    usage = operations.record_usage(world.engagement, _use(world, 30), world.coordinator)
    assert operations.used_hours(allocation) == 100
    assert [e.changes["hours"] for e in _events("gpu.usage.create")] == ["70.0", "30.0"]
    assert usage.recorded_by_id == world.coordinator.id


def test_usage_dates_and_hours_are_checked(app):
    world = make_world()
    with pytest.raises(RuleViolation) as caught:
        operations.record_usage(world.engagement, _use(world, 1), world.manager)
    assert caught.value.code == "no_allocation"
    make_gpu_allocation(world.engagement, hours_granted=100, granted_on=world.today - timedelta(days=10))
    world.engagement.ends_on = world.today - timedelta(days=3)
    cases = [
        (
            UsageData(used_on=world.today - timedelta(days=11), hours=Decimal(1)),
            "used_on",
            "cannot be earlier",
        ),
        (UsageData(used_on=world.today + timedelta(days=1), hours=Decimal(1)), "used_on", "future day"),
        (UsageData(used_on=world.today - timedelta(days=2), hours=Decimal(1)), "used_on", "cannot be later"),
        (UsageData(used_on=None, hours=Decimal(1)), "used_on", "Enter the day"),
        (UsageData(used_on=world.today - timedelta(days=5), hours=Decimal(0)), "hours", "more than 0"),
        (UsageData(used_on=world.today - timedelta(days=5), hours=Decimal("-2")), "hours", "more than 0"),
        (UsageData(used_on=world.today - timedelta(days=5), hours=None), "hours", "Enter the number"),
    ]
    for data, field, text in cases:
        with pytest.raises(ValidationFailed) as caught:
            operations.record_usage(world.engagement, data, world.manager)
        assert set(caught.value.fields) == {field} and text in str(caught.value.fields[field][0]), data
    assert db.session.scalar(sa.select(sa.func.count(GpuUsage.id))) == 0
    operations.record_usage(
        world.engagement, _use(world, "0.5", days_ago=10), world.manager
    )  # on the grant day


def test_deleting_usage_frees_the_hours_and_is_audited(app):
    world = make_world()
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=10, granted_on=world.today - timedelta(days=10)
    )
    usage = make_gpu_usage(allocation, hours=10, used_on=world.today - timedelta(days=1))
    usage_id = usage.id
    operations.delete_usage(usage, world.manager)
    assert db.session.get(GpuUsage, usage_id) is None
    assert operations.allocation_state(world.engagement).remaining == 10
    [event] = _events("gpu.usage.delete")
    assert event.object_id == usage_id and event.changes["hours"] == "10.0"
    other = make_gpu_usage(allocation, hours=1, used_on=world.today)
    with pytest.raises(NotPermitted):
        operations.delete_usage(other, world.other_coordinator)
