"""GPU infrastructure support: the hours granted to an engagement (one allocation each), the usage recorded
against them, and the programme's hours quota. Never commits.

Locks, in this order when both are taken: the programme row (granting sums every allocation of the
programme), then the allocation row (usage sums the allocation's entries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import User
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.engagements.operations import may_work_on
from crm.extensions import db
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.programmes.models import Programme, TargetUnit, Track

E = EngagementStatus
# Hours are granted, or raised, while the support runs: from the agreement to the end of the work. Before
# the agreement nothing is binding; once the final report is in, or the engagement was cancelled,
# terminated or closed, there is no work left to use new hours on. Lowering a grant (giving unused hours
# back to the programme) stays possible in any status.
GRANTABLE_STATUSES = frozenset({E.agreed, E.in_progress})
MAX_HOURS = Decimal("999999999.9")  # Numeric(10, 1)
ZERO = Decimal("0")
TENTH = Decimal("0.1")


def _hours(value: Any) -> Decimal:
    """A database number (Decimal, or int/float from SQLite's SUM) as hours to one decimal."""
    return Decimal(str(value or 0)).quantize(TENTH)


# --- quota --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuQuota:
    """GPU hours of a programme. `remaining` is what may still be granted (target − granted); `target` is
    None when the programme's target is not counted in GPU hours (then nothing caps the grants)."""

    target: Decimal | None
    granted: Decimal
    used: Decimal
    remaining: Decimal | None

    @property
    def percent_granted(self) -> int | None:
        return int(self.granted * 100 // self.target) if self.target else None

    @property
    def percent_used(self) -> int | None:
        """Of the hours granted, how many were used."""
        return int(self.used * 100 // self.granted) if self.granted else None


def _target(programme: Programme) -> Decimal | None:
    return Decimal(programme.target) if programme.unit is TargetUnit.gpu_hours else None


def _granted_in(programme_id: int, excluding_allocation_id: int | None = None) -> Decimal:
    statement = (
        sa.select(sa.func.sum(GpuAllocation.hours_granted))
        .join(Engagement, GpuAllocation.engagement_id == Engagement.id)
        .where(Engagement.programme_id == programme_id)
    )
    if excluding_allocation_id is not None:
        statement = statement.where(GpuAllocation.id != excluding_allocation_id)
    return _hours(db.session.scalar(statement))


def used_hours(allocation: GpuAllocation) -> Decimal:
    return _hours(
        db.session.scalar(
            sa.select(sa.func.sum(GpuUsage.hours)).where(GpuUsage.allocation_id == allocation.id)
        )
    )


def gpu_quota(programme: Programme) -> GpuQuota:
    target = _target(programme)
    granted = _granted_in(programme.id)
    used = _hours(
        db.session.scalar(
            sa.select(sa.func.sum(GpuUsage.hours))
            .join(GpuAllocation, GpuUsage.allocation_id == GpuAllocation.id)
            .join(Engagement, GpuAllocation.engagement_id == Engagement.id)
            .where(Engagement.programme_id == programme.id)
        )
    )
    return GpuQuota(
        target=target,
        granted=granted,
        used=used,
        remaining=target - granted if target is not None else None,
    )


def allocation_of(engagement: Engagement) -> GpuAllocation | None:
    return db.session.scalar(sa.select(GpuAllocation).where(GpuAllocation.engagement_id == engagement.id))


@dataclass(frozen=True)
class AllocationState:
    allocation: GpuAllocation | None
    used: Decimal
    remaining: Decimal

    @property
    def percent_used(self) -> int | None:
        if self.allocation is None or not self.allocation.hours_granted:
            return None
        return int(self.used * 100 // self.allocation.hours_granted)


def allocation_state(engagement: Engagement) -> AllocationState:
    allocation = allocation_of(engagement)
    if allocation is None:
        return AllocationState(None, ZERO, ZERO)
    used = used_hours(allocation)
    return AllocationState(allocation, used, _hours(allocation.hours_granted) - used)


def usage_by_allocation(allocation_ids: list[int]) -> dict[int, Decimal]:
    if not allocation_ids:
        return {}
    rows = db.session.execute(
        sa.select(GpuUsage.allocation_id, sa.func.sum(GpuUsage.hours))
        .where(GpuUsage.allocation_id.in_(allocation_ids))
        .group_by(GpuUsage.allocation_id)
    )
    return {allocation_id: _hours(total) for allocation_id, total in rows}


# --- who may ------------------------------------------------------------------------------------------


def _require_work(engagement: Engagement, actor: User) -> None:
    if not may_work_on(engagement, actor):
        raise NotPermitted()


def _require_infrastructure(engagement: Engagement) -> None:
    if engagement.programme.track is not Track.infrastructure:
        raise RuleViolation(
            "not_infrastructure", _l("GPU hours are granted in GPU infrastructure programmes only.")
        )


def may_grant(engagement: Engagement) -> bool:
    return engagement.status in GRANTABLE_STATUSES


# --- validation ---------------------------------------------------------------------------------------


def _hours_problem(hours: Decimal | None, allow_zero: bool) -> Any | None:
    if hours is None:
        return _l("Enter the number of hours, e.g. 120 or 12.5.")
    try:
        valid = hours == hours.quantize(TENTH)
    except InvalidOperation:
        valid = False
    if not valid or hours > MAX_HOURS:
        return _l("Enter the hours as a number with at most one decimal, e.g. 12.5.")
    if hours < 0 or (hours == 0 and not allow_zero):
        return _l("The hours must be more than 0.")
    return None


@dataclass
class AllocationData:
    hours_granted: Decimal | None = None
    granted_on: date | None = None
    resource: str = ""
    note: str = ""


@dataclass
class UsageData:
    used_on: date | None = None
    hours: Decimal | None = None
    purpose: str = ""


def allocation_problems(data: AllocationData, existing: GpuAllocation | None) -> dict[str, list[Any]]:
    """The checks that need no lock; shared by the form and the operation."""
    problems: dict[str, list[Any]] = {}
    # A grant may be lowered to 0 (every hour handed back) but a new one must grant something.
    if message := _hours_problem(data.hours_granted, allow_zero=existing is not None):
        problems["hours_granted"] = [message]
    if data.granted_on is None:
        problems["granted_on"] = [_l("Enter the day the hours were granted.")]
    elif data.granted_on > today_kst():
        problems["granted_on"] = [_l("The grant date cannot be in the future.")]
    if len((data.resource or "").strip()) > 200:
        problems["resource"] = [_l("The resource can be at most 200 characters.")]
    return problems


def usage_problems(data: UsageData, allocation: GpuAllocation | None) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    if message := _hours_problem(data.hours, allow_zero=False):
        problems["hours"] = [message]
    if data.used_on is None:
        problems["used_on"] = [_l("Enter the day the hours were used.")]
    elif data.used_on > today_kst():
        problems["used_on"] = [_l("Usage cannot be recorded for a future day.")]
    elif allocation is not None and data.used_on < allocation.granted_on:
        problems["used_on"] = [
            _l(
                "The hours were granted on %(day)s; usage cannot be earlier.",
                day=allocation.granted_on.isoformat(),
            )
        ]
    elif allocation is not None and (ends_on := allocation.engagement.ends_on) and data.used_on > ends_on:
        problems["used_on"] = [
            _l("The agreement ended on %(day)s; usage cannot be later.", day=ends_on.isoformat())
        ]
    if len((data.purpose or "").strip()) > 300:
        problems["purpose"] = [_l("The purpose can be at most 300 characters.")]
    return problems


# --- verbs --------------------------------------------------------------------------------------------


def _lock_programme(programme: Programme) -> None:
    db.session.execute(sa.select(Programme.id).where(Programme.id == programme.id).with_for_update())


def _lock_allocation(allocation: GpuAllocation) -> GpuAllocation:
    locked = db.session.scalar(
        sa.select(GpuAllocation)
        .where(GpuAllocation.id == allocation.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


def grant_hours(engagement: Engagement, data: AllocationData, actor: User) -> GpuAllocation:
    """Grants GPU hours to an engagement, or changes its grant. The programme row is locked while the other
    allocations are summed, so two grants for the programme's last hours cannot both pass."""
    _require_infrastructure(engagement)
    _require_work(engagement, actor)
    programme = engagement.programme
    _lock_programme(programme)
    existing = allocation_of(engagement)
    if existing is not None:
        existing = _lock_allocation(existing)
    if problems := allocation_problems(data, existing):
        raise ValidationFailed(problems)
    hours = _hours(data.hours_granted)
    before = _hours(existing.hours_granted) if existing is not None else ZERO
    if hours > before and not may_grant(engagement):
        message = _l(
            "GPU hours are granted or raised only while the engagement is agreed or in progress; this one is "
            "%(status)s. Lowering the grant is still possible.",
            status=engagement.status.title,
        )
        raise RuleViolation("not_grantable", message, fields={"hours_granted": [message]})
    target = _target(programme)
    if target is not None and hours > before:
        others = _granted_in(programme.id, existing.id if existing is not None else None)
        if others + hours > target:
            left = max(target - others, ZERO)
            message = _l(
                "The programme has %(target)s GPU hours in all and %(left)s are left to grant "
                "(%(granted)s already granted to other engagements).",
                target=f"{target:,}",
                left=f"{left:,}",
                granted=f"{others:,}",
            )
            raise RuleViolation("gpu_quota_exceeded", message, fields={"hours_granted": [message]})
    if existing is not None:
        used = used_hours(existing)
        if hours < used:
            message = _l(
                "%(used)s hours were already used; the grant cannot be lower than that.", used=f"{used:,}"
            )
            raise RuleViolation("below_used", message, fields={"hours_granted": [message]})
        first_use = db.session.scalar(
            sa.select(sa.func.min(GpuUsage.used_on)).where(GpuUsage.allocation_id == existing.id)
        )
        if first_use is not None and data.granted_on is not None and data.granted_on > first_use:
            message = _l(
                "Usage is recorded from %(day)s; the grant date cannot be later than that.",
                day=first_use.isoformat(),
            )
            raise ValidationFailed({"granted_on": [message]})
    values = {
        "hours_granted": hours,
        "granted_on": data.granted_on,
        "resource": (data.resource or "").strip(),
        "note": (data.note or "").strip(),
    }
    if existing is None:
        allocation = GpuAllocation(engagement_id=engagement.id, granted_by_id=actor.id, **values)
        db.session.add(allocation)
        db.session.flush()
        record_audit("gpu.grant", allocation, {"engagement_id": engagement.id, **values}, actor=actor)
        return allocation
    apply_changes(existing, values, "gpu.grant.change", actor)
    return existing


def record_usage(engagement: Engagement, data: UsageData, actor: User) -> GpuUsage:
    """Records hours used. The allocation row is locked while its usage is summed, so two entries cannot
    together use more than was granted."""
    _require_infrastructure(engagement)
    _require_work(engagement, actor)
    allocation = allocation_of(engagement)
    if allocation is None:
        raise RuleViolation("no_allocation", _l("No GPU hours were granted to this engagement yet."))
    allocation = _lock_allocation(allocation)
    if problems := usage_problems(data, allocation):
        raise ValidationFailed(problems)
    hours = _hours(data.hours)
    left = _hours(allocation.hours_granted) - used_hours(allocation)
    if hours > left:
        message = _l(
            "Only %(left)s of the %(granted)s hours granted are left.",
            left=f"{left:,}",
            granted=f"{_hours(allocation.hours_granted):,}",
        )
        raise RuleViolation("over_granted", message, fields={"hours": [message]})
    usage = GpuUsage(
        allocation_id=allocation.id,
        used_on=data.used_on,
        hours=hours,
        purpose=(data.purpose or "").strip(),
        recorded_by_id=actor.id,
    )
    db.session.add(usage)
    db.session.flush()
    db.session.expire(allocation, ["usages"])
    record_audit(
        "gpu.usage.create",
        usage,
        {
            "engagement_id": engagement.id,
            "used_on": usage.used_on,
            "hours": str(hours),
            "purpose": usage.purpose,
        },
        actor=actor,
    )
    return usage


def delete_usage(usage: GpuUsage, actor: User) -> None:
    allocation = usage.allocation
    _require_work(allocation.engagement, actor)
    _lock_allocation(allocation)
    record_audit(
        "gpu.usage.delete",
        usage,
        {
            "engagement_id": allocation.engagement_id,
            "used_on": usage.used_on,
            "hours": str(_hours(usage.hours)),
            "purpose": usage.purpose,
        },
        actor=actor,
    )
    db.session.delete(usage)
    db.session.flush()
    db.session.expire(allocation, ["usages"])
