"""The administrator's monthly review of the access log (개인정보 접근기록 점검, at least once a month)."""

from __future__ import annotations

import re
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from crm.audit.models import AccessLog, AuditEvent
from crm.audit.operations import record_audit
from crm.auth.models import Role, User
from crm.core.exceptions import NotPermitted, ValidationFailed
from crm.core.forms import StrippedStringField
from crm.core.time import kst_to_utc, today_kst
from crm.extensions import db

REVIEW_ACTION = "access_log.review"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class AccessLogFilterForm(FlaskForm):
    """Read from the query string (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    month = StrippedStringField(_l("Month"), render_kw={"type": "month", "placeholder": "YYYY-MM"})
    actor = StrippedStringField(_l("Account"), render_kw={"placeholder": _l("E-mail or name")})
    action = SelectField(_l("Action"), validate_choice=False)
    subject_type = SelectField(_l("Data subject"), validate_choice=False)
    subject_id = IntegerField(_l("Subject id"), validators=[Optional(), NumberRange(min=1)])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        actions = db.session.scalars(sa.select(AccessLog.action).distinct().order_by(AccessLog.action)).all()
        subjects = db.session.scalars(
            sa.select(AccessLog.subject_type).distinct().order_by(AccessLog.subject_type)
        ).all()
        self.action.choices = [("", _l("All actions")), *[(a, a) for a in actions]]
        self.subject_type.choices = [("", _l("All subjects")), *[(s, s) for s in subjects]]


class ReviewForm(FlaskForm):
    month = StrippedStringField(_l("Month"))


def parse_month(text: str | None) -> date | None:
    """'2026-11' → 2026-11-01; anything else → None."""
    match = _MONTH.match((text or "").strip())
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def month_bounds(first: date) -> tuple[datetime, datetime]:
    """The month in KST as UTC instants [start, end)."""
    return kst_to_utc(first), kst_to_utc(_next_month(first))


def filtered_log(form: AccessLogFilterForm) -> sa.Select:
    statement = sa.select(AccessLog).join(User, User.id == AccessLog.actor_id)
    if first := parse_month(form.month.data):
        start, end = month_bounds(first)
        statement = statement.where(AccessLog.at >= start, AccessLog.at < end)
    if term := (form.actor.data or "").strip().lower():
        statement = statement.where(
            sa.or_(
                sa.func.lower(User.email).contains(term, autoescape=True),
                sa.func.lower(User.name).contains(term, autoescape=True),
            )
        )
    if form.action.data:
        statement = statement.where(AccessLog.action == form.action.data)
    if form.subject_type.data:
        statement = statement.where(AccessLog.subject_type == form.subject_type.data)
    if form.subject_id.data and not form.subject_id.errors:
        statement = statement.where(AccessLog.subject_id == form.subject_id.data)
    return statement.order_by(AccessLog.at.desc(), AccessLog.id.desc())


def actors_of(entries: list[AccessLog]) -> dict[int, User]:
    ids = {entry.actor_id for entry in entries}
    if not ids:
        return {}
    return {user.id: user for user in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def current_month() -> str:
    return today_kst().strftime("%Y-%m")


def review_of(month: str) -> AuditEvent | None:
    """The latest recorded review of the month, if any."""
    return db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == REVIEW_ACTION, AuditEvent.changes["month"].as_string() == month)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(1)
    ).first()


def record_review(month: str, actor: User) -> AuditEvent:
    """Records that an administrator reviewed the month's access log, with how many entries it held."""
    if actor.role is not Role.admin:
        raise NotPermitted(_l("Only an administrator reviews the access log."))
    first = parse_month(month)
    if first is None or first > today_kst():
        raise ValidationFailed({"month": [_l("Choose a month up to the current one (YYYY-MM).")]})
    start, end = month_bounds(first)
    entries = db.session.scalar(
        sa.select(sa.func.count()).select_from(AccessLog).where(AccessLog.at >= start, AccessLog.at < end)
    )
    return record_audit(REVIEW_ACTION, actor, {"month": month, "entries": entries or 0}, actor=actor)
