"""Recording, correcting and deleting activities (consulting sessions, visits, calls, meetings), who may, and
which activities a user sees. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.activities.models import Activity, ActivityKind
from crm.audit.operations import diff, record_audit
from crm.auth.models import STAFF_ROLES, User
from crm.core.exceptions import NotPermitted, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.engagements.operations import may_work_on
from crm.extensions import db
from crm.firms.models import Firm

MAX_HOURS = Decimal("24")
SUMMARY_MAX = 5000
PARTICIPANTS_MAX = 1000


@dataclass
class ActivityData:
    kind: ActivityKind | str | None = None
    occurred_on: date | None = None
    hours: Decimal | int | str | None = None
    participants: str = ""
    summary: str = ""


# --- visibility and permissions ---------------------------------------------------------------------------


def visible_clause(user: User, firm_id: int | None = None) -> sa.ColumnElement[bool]:
    """Activities are staff notes: staff see a firm's firm-level activities when they see the firm, and its
    engagement activities only when they also see that engagement. Given the firm (a firm page), only that
    firm's engagements are looked at: PostgreSQL evaluates the subquery whole, and every engagement a
    coordinator sees is thousands of rows where the firm has a few."""
    if user.role not in STAFF_ROLES:
        return sa.false()
    firms = sa.select(Firm.id).where(Firm.visible_to(user))
    engagements = sa.select(Engagement.id).where(Engagement.visible_to(user))
    if firm_id is not None:
        firms = firms.where(Firm.id == firm_id)
        engagements = engagements.where(Engagement.firm_id == firm_id)
    return sa.and_(
        Activity.firm_id.in_(firms),
        sa.or_(Activity.engagement_id.is_(None), Activity.engagement_id.in_(engagements)),
    )


def may_record_for_firm(firm: Firm, actor: User) -> bool:
    """Firm-level activities (no engagement): staff who see the firm."""
    if actor.role not in STAFF_ROLES:
        return False
    return db.session.scalar(sa.select(Firm.id).where(Firm.id == firm.id, Firm.visible_to(actor))) is not None


def may_record_for_engagement(engagement: Engagement, actor: User) -> bool:
    return may_work_on(engagement, actor)


def may_change(activity: Activity, actor: User) -> bool:
    """Whoever could record the activity today may correct or delete it."""
    if activity.engagement is not None:
        return may_record_for_engagement(activity.engagement, actor)
    return may_record_for_firm(activity.firm, actor)


# --- validation -------------------------------------------------------------------------------------------


def _kind(value: Any) -> ActivityKind | None:
    if isinstance(value, ActivityKind):
        return value
    try:
        return ActivityKind(value) if value else None
    except ValueError:
        return None


def _hours(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        hours = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return None
    return hours if hours.is_finite() else None


def activity_problems(data: ActivityData, today: date | None = None) -> dict[str, list[Any]]:
    """{field: [message]} for an activity's values; shared by the form (every problem at once) and the
    operations."""
    problems: dict[str, list[Any]] = {}
    if _kind(data.kind) is None:
        problems["kind"] = [_l("Choose the kind of activity from the list.")]
    if data.occurred_on is None:
        problems["occurred_on"] = [_l("Enter the date the activity took place.")]
    elif data.occurred_on > (today or today_kst()):
        problems["occurred_on"] = [
            _l("The date cannot be in the future: record an activity once it happened.")
        ]
    hours = _hours(data.hours)
    if hours is None:
        problems["hours"] = [_l("Enter the hours spent, e.g. 1.5 (0 for a short call).")]
    elif hours < 0 or hours > MAX_HOURS:
        problems["hours"] = [_l("Hours must be between 0 and 24.")]
    elif hours != hours.quantize(Decimal("0.1")):
        problems["hours"] = [_l("Enter the hours with at most one decimal, e.g. 1.5.")]
    summary = (data.summary or "").strip()
    if not summary:
        problems["summary"] = [_l("Write a short summary: what was discussed or done, and what comes next.")]
    elif len(summary) > SUMMARY_MAX:
        problems["summary"] = [_l("The summary can be at most %(n)s characters.", n=f"{SUMMARY_MAX:,}")]
    if len((data.participants or "").strip()) > PARTICIPANTS_MAX:
        problems["participants"] = [
            _l("The participants can be at most %(n)s characters.", n=f"{PARTICIPANTS_MAX:,}")
        ]
    return problems


def _values(data: ActivityData) -> dict[str, Any]:
    problems = activity_problems(data)
    if problems:
        raise ValidationFailed(problems)
    hours = _hours(data.hours)
    assert hours is not None
    return {
        "kind": _kind(data.kind),
        "occurred_on": data.occurred_on,
        "hours": hours.quantize(Decimal("0.1")),
        "participants": (data.participants or "").strip(),
        "summary": (data.summary or "").strip(),
    }


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [str(v) if isinstance(v, Decimal) else v for v in pair] if isinstance(pair, list) else pair
        for key, pair in changes.items()
    }


# --- verbs ------------------------------------------------------------------------------------------------


def record_activity(owner: Engagement | Firm, data: ActivityData, actor: User) -> Activity:
    """Records an activity within an engagement (staff who work on it) or with a firm outside any
    engagement (staff who see the firm)."""
    if isinstance(owner, Engagement):
        if not may_record_for_engagement(owner, actor):
            raise NotPermitted()
        firm_id, engagement_id = owner.firm_id, owner.id
    else:
        if not may_record_for_firm(owner, actor):
            raise NotPermitted()
        firm_id, engagement_id = owner.id, None
    values = _values(data)
    activity = Activity(firm_id=firm_id, engagement_id=engagement_id, recorded_by_id=actor.id, **values)
    db.session.add(activity)
    db.session.flush()
    record_audit(
        "activity.record",
        activity,
        {"firm_id": firm_id, "engagement_id": engagement_id, **values, "hours": str(values["hours"])},
        actor=actor,
    )
    return activity


def update_activity(activity: Activity, data: ActivityData, actor: User) -> Activity:
    if not may_change(activity, actor):
        raise NotPermitted()
    values = _values(data)
    changes = diff(activity, values)
    for key, value in values.items():
        setattr(activity, key, value)
    db.session.flush()
    if changes:
        # The audit log is JSON: hours go in as text ("1.5"), as in the record event.
        record_audit("activity.update", activity, _plain(changes), actor=actor)
    return activity


def delete_activity(activity: Activity, actor: User) -> None:
    """Deletes the activity; the audit event keeps what it said, so a mistaken deletion can be traced."""
    if not may_change(activity, actor):
        raise NotPermitted()
    record_audit(
        "activity.delete",
        activity,
        {
            "firm_id": activity.firm_id,
            "engagement_id": activity.engagement_id,
            "kind": activity.kind,
            "occurred_on": activity.occurred_on,
            "hours": str(activity.hours),
            "participants": activity.participants,
            "summary": activity.summary,
        },
        actor=actor,
    )
    db.session.delete(activity)
    db.session.flush()


# --- queries ----------------------------------------------------------------------------------------------


def engagement_activities(engagement: Engagement, limit: int | None = None) -> list[Activity]:
    """Newest first; the engagement page shows the latest few."""
    statement = (
        sa.select(Activity)
        .where(Activity.engagement_id == engagement.id)
        .order_by(Activity.occurred_on.desc(), Activity.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(db.session.scalars(statement))


def engagement_totals(engagement: Engagement) -> tuple[int, Decimal]:
    """(number of activities, total hours) of the engagement."""
    count, hours = db.session.execute(
        sa.select(sa.func.count(Activity.id), sa.func.coalesce(sa.func.sum(Activity.hours), 0)).where(
            Activity.engagement_id == engagement.id
        )
    ).one()
    return int(count), Decimal(str(hours))


def firm_activities_statement(firm: Firm, user: User, engagement_id: int | None = None) -> sa.Select:
    """The firm's activities `user` may see, newest first; optionally those of one engagement only."""
    statement = sa.select(Activity).where(Activity.firm_id == firm.id, visible_clause(user, firm.id))
    if engagement_id is not None:
        statement = statement.where(Activity.engagement_id == engagement_id)
    return statement.order_by(Activity.occurred_on.desc(), Activity.id.desc())
