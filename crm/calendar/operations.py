"""Personal iCal feeds of milestones: create (the secret is returned once, only its hash is kept), revoke,
and the feed itself. Never commits.

Whose milestones a feed carries (open ones, overdue included, due from 90 days ago on; never those of a
cancelled engagement):
- coordinator: the engagements it coordinates; one that coordinates none gets every engagement of its
  institution's programmes, so a new coordinator's calendar is not empty until cases are assigned;
- consortium manager: every engagement of its consortium;
- admin: only engagements it coordinates itself (usually none): all consortia would bury a calendar;
- firm user: its firm's engagements, its own and the staff's milestones (it is told what the staff owes).
A feed stops answering (404) when it is revoked, its user is deactivated or no longer has a role with a
feed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from icalendar import Calendar, Event

from crm.audit.operations import record_audit
from crm.auth.models import STAFF_ROLES, Role, User, hash_token
from crm.calendar.models import CalendarToken
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm
from crm.milestones.models import Milestone, MilestoneStatus
from crm.programmes.models import Programme

FEED_ROLES = frozenset(STAFF_ROLES | {Role.firm_user})
CALENDAR_NAME = "AX CRM 일정"
PRODID = "-//AX CRM//Milestones//KO"
LOOKBACK_DAYS = 90
# Calendar apps poll every few minutes; writing on each poll would turn reads into writes.
TOUCH_EVERY = timedelta(hours=1)
# A secret from secrets.token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
MAX_SECRET_LENGTH = 100


@dataclass(frozen=True)
class FeedItem:
    milestone: Milestone
    firm_name: str
    programme_name: str
    engagement_status: EngagementStatus


# --- queries ------------------------------------------------------------------------------------------


def live_feed(user: User) -> CalendarToken | None:
    return db.session.scalar(
        sa.select(CalendarToken).where(CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None))
    )


def token_for_secret(secret: str) -> CalendarToken | None:
    """The live feed behind a secret, or None for an unknown, revoked or no longer usable one: callers
    answer all of these the same way, so the answer reveals nothing."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    token = db.session.scalar(
        sa.select(CalendarToken)
        .join(User, CalendarToken.user_id == User.id)
        .where(
            CalendarToken.token_hash == hash_token(secret),
            CalendarToken.revoked_at.is_(None),
            User.is_active.is_(True),
            User.role.in_(FEED_ROLES),
        )
    )
    return token


def engagement_scope(user: User) -> sa.ColumnElement[bool]:
    """The engagements whose milestones the user's feed carries (see the module docstring)."""
    not_cancelled = Engagement.status != EngagementStatus.cancelled
    if user.role is Role.firm_user:
        if user.firm_id is None:
            return sa.false()
        return sa.and_(Engagement.firm_id == user.firm_id, not_cancelled)
    if user.role is Role.consortium_manager:
        return sa.and_(Engagement.visible_to(user), not_cancelled)
    if user.role is Role.coordinator:
        mine = Engagement.coordinator_id == user.id
        other = sa.orm.aliased(Engagement)
        institution_programmes = sa.select(Programme.id).where(
            Programme.institution_id == user.institution_id
        )
        coordinates_any = (
            sa.select(other.id)
            .where(
                other.coordinator_id == user.id,
                other.status != EngagementStatus.cancelled,
                other.programme_id.in_(institution_programmes),
            )
            .exists()
        )
        return sa.and_(Engagement.visible_to(user), not_cancelled, sa.or_(mine, ~coordinates_any))
    if user.role is Role.admin:
        return sa.and_(Engagement.coordinator_id == user.id, not_cancelled)
    return sa.false()


def feed_items(user: User, today: date | None = None) -> list[FeedItem]:
    """The open milestones the user's feed shows, with what each event's text needs, in one query."""
    today = today or today_kst()
    rows = db.session.execute(
        sa.select(Milestone, Firm.name, Programme.name, Engagement.status)
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .join(Firm, Engagement.firm_id == Firm.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(
            engagement_scope(user),
            Milestone.open_clause(),
            Milestone.due_on >= today - timedelta(days=LOOKBACK_DAYS),
        )
        .order_by(Milestone.due_on, Milestone.id)
    ).all()
    return [FeedItem(milestone, firm, programme, status) for milestone, firm, programme, status in rows]


# --- the calendar -------------------------------------------------------------------------------------


def _engagement_url(user: User, engagement_id: int) -> str:
    endpoint = "engagements.portal_detail" if user.role is Role.firm_user else "engagements.detail"
    return url_for(endpoint, engagement_id=engagement_id, _anchor="milestones", _external=True)


def _event(user: User, item: FeedItem, today: date) -> Event:
    milestone = item.milestone
    staff = user.role is not Role.firm_user
    status = milestone.status_on(today)
    lines = [
        _("Programme: %(name)s", name=item.programme_name),
        _("Engagement status: %(status)s", status=item.engagement_status.title),
        _("Milestone: %(status)s, owed by %(owner)s", status=status.title, owner=milestone.owner.title),
    ]
    if staff:
        lines.insert(0, _("Firm: %(name)s", name=item.firm_name))
    event = Event()
    event.add("uid", f"milestone-{milestone.id}@axcrm")
    # The row's own change time, not the request's: the same data gives the same bytes, so the ETag holds.
    event.add("dtstamp", milestone.updated_at)
    event.add("last-modified", milestone.updated_at)
    event.add("dtstart", milestone.due_on)
    event.add("dtend", milestone.due_on + timedelta(days=1))
    event.add("summary", f"[{item.firm_name}] {milestone.title}" if staff else milestone.title)
    event.add("description", "\n".join(lines))
    event.add("url", _engagement_url(user, milestone.engagement_id))
    event.add("transp", "TRANSPARENT")  # a due day, not a meeting: it does not make the user busy
    if status is MilestoneStatus.overdue:
        event.add("categories", [str(MilestoneStatus.overdue.title)])
    return event


def calendar_for(user: User, today: date | None = None) -> bytes:
    """The user's feed as iCalendar bytes, written in the user's language (Korean unless chosen)."""
    today = today or today_kst()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", CALENDAR_NAME)
    calendar.add("x-wr-timezone", "Asia/Seoul")
    with force_locale(user.locale or "ko"):
        for item in feed_items(user, today):
            calendar.add_component(_event(user, item, today))
    return calendar.to_ical()


def touch(token: CalendarToken, now: datetime | None = None) -> bool:
    """Notes that the feed was read, at most once an hour; True when it wrote."""
    now = now or utcnow()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return False
    token.last_used_at = now
    db.session.flush()
    return True


def feed_for(secret: str, today: date | None = None, now: datetime | None = None) -> bytes | None:
    """The calendar behind a feed address, or None when there is none to answer (unknown, revoked,
    deactivated user)."""
    token = token_for_secret(secret)
    if token is None:
        return None
    now = now or utcnow()
    touch(token, now)
    return calendar_for(token.user, today or today_kst(now))


# --- verbs --------------------------------------------------------------------------------------------


def _require_own(user: User, actor: User) -> None:
    # The secret is shown to whoever creates it, so only the user itself may create or revoke its feed.
    if actor.id != user.id or user.role not in FEED_ROLES:
        raise NotPermitted()


def _revoke(token: CalendarToken, now: datetime) -> None:
    token.revoked_at = now
    db.session.flush()


def create_feed(user: User, actor: User, replace: bool = False) -> tuple[CalendarToken, str]:
    """A new feed for the user; returns the row and the secret, which is never available again. A live
    feed is revoked first, but only when `replace` confirms that its address may stop working."""
    _require_own(user, actor)
    # Serialises two creates by the same user (PostgreSQL; the partial unique index backs it up).
    db.session.execute(sa.select(User.id).where(User.id == user.id).with_for_update())
    current = live_feed(user)
    if current is not None and not replace:
        raise ValidationFailed(
            {"replace": [_l("Confirm that the current address may stop working before making a new one.")]}
        )
    now = utcnow()
    if current is not None:
        _revoke(current, now)
        record_audit("calendar_feed.revoke", current, {"user_id": user.id, "reason": "replaced"}, actor=actor)
    secret = secrets.token_urlsafe(32)
    token = CalendarToken(user_id=user.id, token_hash=hash_token(secret), created_at=now)
    db.session.add(token)
    db.session.flush()
    record_audit(
        "calendar_feed.create",
        token,
        {"user_id": user.id, "replaced_id": current.id if current is not None else None},
        actor=actor,
    )
    return token, secret


def revoke_feed(user: User, actor: User) -> CalendarToken:
    """Revokes the user's live feed: its address answers 404 from now on."""
    _require_own(user, actor)
    current = live_feed(user)
    if current is None:
        raise RuleViolation("no_feed", _l("You have no calendar feed to revoke."))
    _revoke(current, utcnow())
    record_audit("calendar_feed.revoke", current, {"user_id": user.id, "reason": "revoked"}, actor=actor)
    return current
