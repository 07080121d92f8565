"""AI training: sessions of a training programme, registrations of people, attendance, and the people-count
quota (distinct people who attended). Never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, log_personal_data_access, record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.exceptions import Conflict, NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.identifiers import normalize_brn
from crm.firms.models import Firm
from crm.firms.operations import brn_problem
from crm.programmes.models import Programme, TargetUnit, Track
from crm.training.models import TrainingRegistration, TrainingSession

MAX_CAPACITY = 10_000
MAX_HOURS = Decimal("24")  # one session is one day's teaching; a multi-day course is several sessions
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"[0-9+()\-. ]{7,30}")


# --- who may ------------------------------------------------------------------------------------------


def may_run(programme: Programme, user: User) -> bool:
    """Who runs a programme's case work: admins, the managers of its consortium and the coordinators of the
    institution that runs it. Other staff of the consortium only read."""
    if user.role is Role.admin:
        return True
    if user.role is Role.consortium_manager:
        return user.scope_consortium_id is not None and user.scope_consortium_id == programme.consortium_id
    if user.role is Role.coordinator:
        return user.institution_id is not None and user.institution_id == programme.institution_id
    return False


def may_read(programme: Programme, user: User) -> bool:
    """Staff who see the programme read its training and GPU pages; national viewers get aggregates
    elsewhere (these pages hold personal data), firm users their own firm's rows in the portal."""
    if user.role not in STAFF_ROLES:
        return False
    return (
        db.session.scalar(
            sa.select(Programme.id).where(Programme.id == programme.id, Programme.visible_to(user))
        )
        is not None
    )


def _require_run(programme: Programme, actor: User) -> None:
    if not may_run(programme, actor):
        raise NotPermitted(
            _l("Only the programme's institution and its consortium's managers may change its training.")
        )


def _require_training(programme: Programme) -> None:
    if programme.track is not Track.training:
        raise RuleViolation("not_training", _l("Training sessions belong to training programmes only."))


# --- quota --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaProgress:
    """People trained against the programme's target. `target` is None when the programme does not count
    people (then there is no percentage and nothing to reach)."""

    target: int | None
    counted: int  # distinct people (by lower-cased e-mail) who attended at least one session
    registered: int  # distinct people registered for at least one session
    percent: int | None
    reached: bool


def _people(programme_id: int) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count(sa.distinct(sa.func.lower(TrainingRegistration.email))))
        .join(TrainingSession, TrainingRegistration.session_id == TrainingSession.id)
        .where(TrainingSession.programme_id == programme_id)
    )


def training_quota(programme: Programme) -> QuotaProgress:
    """A person who attends three sessions is trained once: the quota counts distinct e-mails."""
    counted = db.session.scalar(_people(programme.id).where(TrainingRegistration.attended.is_(True))) or 0
    registered = db.session.scalar(_people(programme.id)) or 0
    target = programme.target if programme.unit is TargetUnit.people else None
    percent = counted * 100 // target if target else None
    return QuotaProgress(
        target=target,
        counted=counted,
        registered=registered,
        percent=percent,
        reached=bool(target) and counted >= target,
    )


@dataclass(frozen=True)
class AttendanceSummary:
    marked: int  # registrations whose attendance was taken
    attended: int

    @property
    def rate(self) -> int | None:
        """Per cent of the people whose attendance was taken who came; None before any was taken."""
        return self.attended * 100 // self.marked if self.marked else None


def attendance_summary(programme: Programme) -> AttendanceSummary:
    marked, attended = db.session.execute(
        sa.select(
            sa.func.count(TrainingRegistration.id),
            sa.func.coalesce(sa.func.sum(sa.case((TrainingRegistration.attended.is_(True), 1), else_=0)), 0),
        )
        .join(TrainingSession, TrainingRegistration.session_id == TrainingSession.id)
        .where(TrainingSession.programme_id == programme.id, TrainingRegistration.attended.is_not(None))
    ).one()
    return AttendanceSummary(marked=int(marked or 0), attended=int(attended or 0))


def session_counts(session_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{session id: (registered, attended)} for a page of sessions, in one query."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        sa.select(
            TrainingRegistration.session_id,
            sa.func.count(TrainingRegistration.id),
            sa.func.coalesce(sa.func.sum(sa.case((TrainingRegistration.attended.is_(True), 1), else_=0)), 0),
        )
        .where(TrainingRegistration.session_id.in_(session_ids))
        .group_by(TrainingRegistration.session_id)
    )
    return {session_id: (int(registered), int(attended)) for session_id, registered, attended in rows}


def registered_count(session: TrainingSession) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count(TrainingRegistration.id)).where(
                TrainingRegistration.session_id == session.id
            )
        )
        or 0
    )


def attendance_taken(session: TrainingSession) -> bool:
    return (
        db.session.scalar(
            sa.select(TrainingRegistration.id)
            .where(TrainingRegistration.session_id == session.id, TrainingRegistration.attended.is_not(None))
            .limit(1)
        )
        is not None
    )


def may_take_attendance(session: TrainingSession, today: date | None = None) -> bool:
    """Attendance is taken on the session's day or later (KST), never in advance."""
    return (today or today_kst()) >= session.held_on


def registrations_for_page(session: TrainingSession, actor: User) -> list[TrainingRegistration]:
    """The session's registrations. Staff who run the programme see the people's contact details and that
    view is access-logged; readers get them masked by the page."""
    registrations = list(session.registrations)
    if registrations and may_run(session.programme, actor):
        log_personal_data_access(
            "view_training_registrations", session, purpose="training session", actor=actor
        )
    return registrations


def mask_name(name: str) -> str:
    """'홍길동' → '홍**': enough to tell rows apart for staff who do not need the person."""
    name = (name or "").strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


# --- sessions -----------------------------------------------------------------------------------------


@dataclass
class SessionData:
    course: str = ""
    held_on: date | None = None
    starts_at: time | None = None
    hours: Decimal | None = None
    place: str = ""
    capacity: int | None = None


def session_problems(
    programme: Programme, data: SessionData, session: TrainingSession | None = None
) -> dict[str, list[Any]]:
    """{field: [message]}; shared by the form (every problem at once) and the operations. Registrations and
    attendance of an existing session are read from the database, so call it under the session's lock."""
    problems: dict[str, list[Any]] = {}
    if not (data.course or "").strip():
        problems["course"] = [_l("Enter the course name.")]
    elif len(data.course.strip()) > 200:
        problems["course"] = [_l("The course name can be at most 200 characters.")]
    if not (data.place or "").strip():
        problems["place"] = [_l('Enter the place, e.g. the training room\'s address or "온라인 (Zoom)".')]
    elif len(data.place.strip()) > 200:
        problems["place"] = [_l("The place can be at most 200 characters.")]
    year = programme.programme_year
    if data.held_on is None:
        problems["held_on"] = [_l("Enter the day of the session.")]
    elif not year.starts_on <= data.held_on <= year.ends_on:
        problems["held_on"] = [
            _l(
                "The session must take place within the programme year (%(start)s – %(end)s).",
                start=year.starts_on.isoformat(),
                end=year.ends_on.isoformat(),
            )
        ]
    elif session is not None and data.held_on > today_kst() and attendance_taken(session):
        problems["held_on"] = [
            _l("Attendance was already taken for this session, so it cannot move to a future day.")
        ]
    hours = data.hours
    if hours is None:
        problems["hours"] = [_l("Enter the teaching hours, e.g. 3 or 3.5.")]
    else:
        try:
            valid = hours == hours.quantize(Decimal("0.1"))
        except InvalidOperation:
            valid = False
        if not valid or hours <= 0 or hours > MAX_HOURS:
            problems["hours"] = [_l("Enter the hours as a number above 0 and at most 24, in steps of 0.1.")]
    if data.capacity is None:
        problems["capacity"] = [_l("Enter how many people the session can take.")]
    elif not 1 <= data.capacity <= MAX_CAPACITY:
        problems["capacity"] = [_l("The capacity must be between 1 and 10,000 people.")]
    elif session is not None and data.capacity < (taken := registered_count(session)):
        problems["capacity"] = [
            _l(
                "%(n)s people are already registered; the capacity cannot be lower than that.",
                n=taken,
            )
        ]
    return problems


def _session_values(data: SessionData) -> dict[str, Any]:
    return {
        "course": data.course.strip(),
        "held_on": data.held_on,
        "starts_at": data.starts_at,
        "hours": data.hours,
        "place": data.place.strip(),
        "capacity": data.capacity,
    }


def create_session(programme: Programme, data: SessionData, actor: User) -> TrainingSession:
    _require_training(programme)
    _require_run(programme, actor)
    if problems := session_problems(programme, data):
        raise ValidationFailed(problems)
    values = _session_values(data)
    session = TrainingSession(programme_id=programme.id, created_by_id=actor.id, **values)
    db.session.add(session)
    db.session.flush()
    record_audit("training.session.create", session, {"programme_id": programme.id, **values}, actor=actor)
    return session


def _lock(session: TrainingSession) -> TrainingSession:
    """Registrations, capacity changes, attendance and deletion of one session take turns (a row lock on
    PostgreSQL), so the seat count they check is the one they write against."""
    locked = db.session.scalar(
        sa.select(TrainingSession)
        .where(TrainingSession.id == session.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


def update_session(session: TrainingSession, data: SessionData, actor: User) -> TrainingSession:
    _require_run(session.programme, actor)
    session = _lock(session)
    if problems := session_problems(session.programme, data, session):
        raise ValidationFailed(problems)
    apply_changes(session, _session_values(data), "training.session.update", actor)
    return session


def delete_session(session: TrainingSession, actor: User) -> None:
    """Removes a session and its registrations, until attendance is taken: from then on it is evidence of
    the people trained and counts towards the quota."""
    _require_run(session.programme, actor)
    session = _lock(session)
    if attendance_taken(session):
        raise RuleViolation(
            "attendance_taken",
            _l(
                "Attendance was already taken for this session, so it is part of the training record "
                "and cannot be deleted."
            ),
        )
    record_audit(
        "training.session.delete",
        session,
        {
            "programme_id": session.programme_id,
            "course": session.course,
            "held_on": session.held_on,
            "registrations": [r.email for r in session.registrations],
        },
        actor=actor,
    )
    db.session.delete(session)
    db.session.flush()


# --- registrations ------------------------------------------------------------------------------------


@dataclass
class RegistrationData:
    name: str = ""
    email: str = ""
    phone: str = ""
    brn: str = ""  # the firm the person comes from, by 사업자등록번호; optional
    engagement_id: int | None = None


def engagement_choices(programme: Programme, actor: User) -> list[Engagement]:
    """The programme's engagements a registration may name (not those whose selection was cancelled)."""
    return list(
        db.session.scalars(
            sa.select(Engagement)
            .join(Firm, Engagement.firm_id == Firm.id)
            .where(
                Engagement.programme_id == programme.id,
                Engagement.status != EngagementStatus.cancelled,
                Engagement.visible_to(actor),
            )
            .order_by(Firm.name, Engagement.id)
        )
    )


def _registration_values(
    session: TrainingSession, data: RegistrationData, actor: User
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    problems: dict[str, list[Any]] = {}
    name = (data.name or "").strip()
    if not name:
        problems["name"] = [_l("Enter the person's name.")]
    elif len(name) > 100:
        problems["name"] = [_l("The name can be at most 100 characters.")]
    email = (data.email or "").strip().lower()
    if not email:
        problems["email"] = [_l("Enter the person's e-mail address: it tells people apart in the quota.")]
    elif len(email) > 254 or not _EMAIL.fullmatch(email):
        problems["email"] = [_l("Enter a valid e-mail address.")]
    phone = (data.phone or "").strip()
    if phone and not _PHONE.fullmatch(phone):
        problems["phone"] = [_l("Enter the phone number in digits, e.g. 010-1234-5678.")]

    firm: Firm | None = None
    brn = (data.brn or "").strip()
    if brn:
        if message := brn_problem(brn):
            problems["brn"] = [message]
        else:
            firm = db.session.scalar(
                sa.select(Firm).where(Firm.brn == normalize_brn(brn), Firm.visible_to(actor))
            )
            if firm is None:
                # Says the same whether the firm is unregistered or another consortium's: nothing leaks.
                problems["brn"] = [
                    _l(
                        "No firm with this business registration number is registered with your "
                        "consortium. Register the firm first, or leave the field empty."
                    )
                ]
    engagement: Engagement | None = None
    if data.engagement_id is not None:
        engagement = db.session.scalar(
            sa.select(Engagement).where(
                Engagement.id == data.engagement_id,
                Engagement.programme_id == session.programme_id,
                Engagement.status != EngagementStatus.cancelled,
                Engagement.visible_to(actor),
            )
        )
        if engagement is None:
            problems["engagement_id"] = [_l("Choose one of this programme's engagements.")]
        elif firm is not None and engagement.firm_id != firm.id:
            problems["engagement_id"] = [
                _l("This engagement is another firm's; choose one of %(firm)s's.", firm=firm.name)
            ]
        elif firm is None and "brn" not in problems:
            firm = engagement.firm  # naming the engagement names its firm
    values = {
        "name": name,
        "email": email,
        "phone": phone,
        "firm_id": firm.id if firm is not None else None,
        "engagement_id": engagement.id if engagement is not None else None,
    }
    return values, problems


def register(session: TrainingSession, data: RegistrationData, actor: User) -> TrainingRegistration:
    """Adds a person to a session. The session row is locked first, so two registrations for the last seat
    cannot both pass the capacity check; the same e-mail twice is a Conflict naming the first registration."""
    _require_run(session.programme, actor)
    values, problems = _registration_values(session, data, actor)
    if problems:
        raise ValidationFailed(problems)
    session = _lock(session)
    existing = db.session.scalar(
        sa.select(TrainingRegistration).where(
            TrainingRegistration.session_id == session.id,
            sa.func.lower(TrainingRegistration.email) == values["email"],
        )
    )
    if existing is not None:
        message = _l(
            "%(email)s is already registered for this session (as %(name)s).",
            email=existing.email,
            name=existing.name,
        )
        raise Conflict(message, existing_id=existing.id, fields={"email": [message]})
    if registered_count(session) >= session.capacity:
        raise RuleViolation(
            "session_full",
            _l(
                "This session is full: all %(capacity)s seats are taken. Raise the capacity or register "
                "the person for another session.",
                capacity=session.capacity,
            ),
        )
    registration = TrainingRegistration(session_id=session.id, registered_by_id=actor.id, **values)
    db.session.add(registration)
    db.session.flush()
    db.session.expire(session, ["registrations"])
    record_audit(
        "training.registration.create",
        registration,
        {"session_id": session.id, **values},
        actor=actor,
    )
    return registration


def delete_registration(registration: TrainingRegistration, actor: User) -> None:
    """Cancels a registration. One marked as attended counts towards the quota: attendance must be undone
    first, so the number of people trained never drops without a trace."""
    session = registration.session
    _require_run(session.programme, actor)
    _lock(session)
    db.session.refresh(registration)
    if registration.attended:
        raise RuleViolation(
            "attended",
            _l(
                "%(name)s attended this session. Untick the attendance first if that was a mistake; "
                "then the registration can be removed.",
                name=registration.name,
            ),
        )
    record_audit(
        "training.registration.delete",
        registration,
        {"session_id": session.id, "name": registration.name, "email": registration.email},
        actor=actor,
    )
    db.session.delete(registration)
    db.session.flush()
    db.session.expire(session, ["registrations"])


def mark_attendance(
    session: TrainingSession, shown_ids: list[int], attended_ids: list[int], actor: User
) -> list[TrainingRegistration]:
    """Records who came. Only the registrations that were on the submitted page change (one added
    meanwhile is not marked absent unseen); a ticked box is attended, an unticked one absent."""
    _require_run(session.programme, actor)
    session = _lock(session)
    today = today_kst()
    if not may_take_attendance(session, today):
        raise RuleViolation(
            "too_early",
            _l(
                "Attendance can be taken from the day of the session (%(day)s), not before.",
                day=session.held_on.isoformat(),
            ),
        )
    registrations = {r.id: r for r in session.registrations}
    if not registrations:
        raise RuleViolation("no_registrations", _l("Nobody is registered for this session yet."))
    shown = [i for i in dict.fromkeys(shown_ids) if i in registrations]
    if not shown:
        raise RuleViolation(
            "nothing_shown", _l("The list of registrations was not sent; reload the page and try again.")
        )
    attended = set(attended_ids)
    if attended - set(registrations):
        raise ValidationFailed({"attended": [_l("Some ticked people are not registered for this session.")]})
    now = utcnow()
    changes: list[dict[str, Any]] = []
    changed: list[TrainingRegistration] = []
    for registration_id in shown:
        registration = registrations[registration_id]
        value = registration_id in attended
        if registration.attended is not value:
            changes.append({"id": registration.id, "attended": [registration.attended, value]})
            changed.append(registration)
        registration.attended = value
        registration.attendance_marked_at = now
    db.session.flush()
    record_audit("training.attendance", session, {"marked": len(shown), "changes": changes}, actor=actor)
    return changed
