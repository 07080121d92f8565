"""Milestone reminders (DESIGN.md §6): a daily sweep sends D-7, D-1 and overdue reminders (the first overdue
day, then weekly), each once.

Each reminder is a Reminder row, unique per (milestone, rule, day), written together with its Notice and
deliveries; a sweep run twice for the same day, or a redelivered task, therefore sends nothing new. The
rule for a milestone is derived from the sweep's day alone, so a sweep that missed days catches up with the
one reminder still relevant: a D-7 while the deadline is more than a day away, a D-1 on the last day or the
due day itself, and only the latest weekly overdue step, never a backlog.

A programme may send on business days only: on a Saturday, Sunday or Korean public holiday its milestones
are left alone, and the next business day's sweep sends what is relevant then (a D-1 that falls on a
weekend becomes a due-day reminder on Monday; an overdue step that falls on a holiday goes out the day after).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import holidays
import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from crm.auth.models import Role, User
from crm.core.time import d_day_label, today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Contact
from crm.milestones.models import Milestone, MilestoneOwner
from crm.notices.health import record_heartbeat
from crm.notices.models import NoticeKind, Reminder, ReminderRule
from crm.notices.outbox import Recipient, queue_notice
from crm.programmes.models import Programme

D7_DAYS = 7
OVERDUE_EVERY_DAYS = 7
# Engagements that ended without the work being done: their open milestones are moot. Closed and follow-up
# engagements still have duties after closing (outcome surveys, settlement papers), so they are reminded.
SILENT_STATUSES = (EngagementStatus.cancelled, EngagementStatus.terminated)
TEMPLATE_LOCALES = ("ko", "en")
SUBJECT_MAX = 200  # Notice.subject and Delivery.subject


@dataclass
class SweepResult:
    day: date
    business_day: bool = True
    created: int = 0  # Reminder rows created
    by_rule: Counter[ReminderRule] = field(default_factory=Counter)
    deliveries: int = 0
    # Milestones of business-days-only programmes left for the next business day's sweep.
    held_back: int = 0


# --- Which reminder is due ---------------------------------------------------------------------------------


@functools.cache
def _korean_holidays(year: int) -> holidays.HolidayBase:
    return holidays.KR(years=year)


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a Korean public holiday (substitute holidays included)."""
    return day.weekday() < 5 and day not in _korean_holidays(day.year)


def due_reminder(due_on: date, day: date) -> tuple[ReminderRule, date] | None:
    """The one reminder relevant on `day` for a milestone due on `due_on`, as (rule, the Reminder's day
    key), or None. The key is the due day for D-7 and D-1, and for overdue the overdue step being reminded
    (the first day after the due day, then every seven days), so a sweep after downtime sends only the
    latest step."""
    days_left = (due_on - day).days
    if 1 < days_left <= D7_DAYS:
        return ReminderRule.d7, due_on
    if days_left in (0, 1):
        return ReminderRule.d1, due_on
    if days_left < 0:
        first = due_on + timedelta(days=1)
        weeks = (day - first).days // OVERDUE_EVERY_DAYS
        return ReminderRule.overdue, first + timedelta(days=OVERDUE_EVERY_DAYS * weeks)
    return None


# --- Who hears about it ------------------------------------------------------------------------------------


def _user_recipient(user: User) -> Recipient:
    return Recipient(user.email, user.name, user_id=user.id, locale=_template_locale(user.locale))


def staff_recipients(engagement: Engagement) -> list[Recipient]:
    """The engagement's coordinator; without an active one, the consortium's active managers, so a staff
    duty never goes unreminded."""
    coordinator = engagement.coordinator
    if coordinator is not None and coordinator.is_active:
        return [_user_recipient(coordinator)]
    managers = db.session.scalars(
        sa.select(User)
        .where(
            User.role == Role.consortium_manager,
            User.consortium_id == engagement.programme.consortium_id,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    return [_user_recipient(manager) for manager in managers]


def firm_reminder_recipients(engagement: Engagement) -> list[Recipient]:
    """The firm's active, verified portal users and its contacts with an e-mail address who consented to
    the collection and use of personal data (개인정보 수집·이용), each address once. A contact without that
    consent, primary or not, gets nothing: reminders are not covered by a consent that was never given."""
    firm_id = engagement.firm_id
    users = db.session.scalars(
        sa.select(User)
        .where(
            User.firm_id == firm_id,
            User.role == Role.firm_user,
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
        .order_by(User.id)
    )
    contacts = db.session.scalars(
        sa.select(Contact)
        .where(Contact.firm_id == firm_id, Contact.consent_privacy_at.is_not(None), Contact.email != "")
        .order_by(Contact.is_primary.desc(), Contact.id)
    )
    recipients = [_user_recipient(user) for user in users]
    recipients += [Recipient(c.email, c.name, contact_id=c.id, phone=c.phone or "") for c in contacts]
    seen: set[str] = set()
    unique = []
    for recipient in recipients:
        key = recipient.email.strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(recipient)
    return unique


def reminder_recipients(milestone: Milestone) -> list[Recipient]:
    if milestone.owner is MilestoneOwner.staff:
        return staff_recipients(milestone.engagement)
    return firm_reminder_recipients(milestone.engagement)


# --- What it says ------------------------------------------------------------------------------------------


def _template_locale(locale: str | None) -> str:
    return locale if locale in TEMPLATE_LOCALES else "ko"


def _path(endpoint: str, **values: Any) -> str:
    """A path on the site: the sweep runs in a worker without a request, so no host to make it absolute."""
    adapter = current_app.url_map.bind("localhost", script_name=current_app.config.get("APPLICATION_ROOT"))
    return adapter.build(endpoint, values)


def render_reminder(
    milestone: Milestone, rule: ReminderRule, day: date, locale: str, name: str = ""
) -> tuple[str, str]:
    """Subject and body from templates/notices/reminder*.{ko,en}.txt, in the given language."""
    locale = _template_locale(locale)
    engagement = milestone.engagement
    if milestone.owner is MilestoneOwner.firm:
        link = _path("engagements.portal_detail", engagement_id=engagement.id)
    else:
        link = _path("engagements.detail", engagement_id=engagement.id)
    context = {
        "rule": rule.value,
        "name": name,
        "title": milestone.title,
        "firm": engagement.firm.name,
        "programme": engagement.programme.name,
        "due_on": milestone.due_on,
        "day": day,
        "days_left": (milestone.due_on - day).days,
        "dday": d_day_label(milestone.due_on, day),
        "owner": milestone.owner.value,
        "link": link,
    }
    with force_locale(locale):
        subject = render_template(f"notices/reminder_subject.{locale}.txt", **context)
        body = render_template(f"notices/reminder.{locale}.txt", **context)
    return " ".join(subject.split())[:SUBJECT_MAX], body.strip() + "\n"


# --- The sweep ---------------------------------------------------------------------------------------------


def _candidates(day: date, business_day: bool) -> tuple[list[Milestone], int]:
    """Open milestones due within seven days or overdue, of engagements still under way; and how many of
    them are held back today because their programme sends on business days only."""
    clauses = [
        Milestone.open_clause(),
        Milestone.due_on <= day + timedelta(days=D7_DAYS),
        Engagement.status.not_in(SILENT_STATUSES),
    ]
    held_back = 0
    if not business_day:
        held = Programme.reminders_on_business_days.is_(True)
        held_back = db.session.scalar(
            sa.select(sa.func.count(Milestone.id))
            .join(Engagement, Milestone.engagement_id == Engagement.id)
            .join(Programme, Engagement.programme_id == Programme.id)
            .where(*clauses, held)
        )
        clauses.append(sa.not_(held))
    milestones = db.session.scalars(
        sa.select(Milestone)
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(*clauses)
        .options(joinedload(Milestone.engagement))
        .order_by(Milestone.due_on, Milestone.id)
    )
    return list(milestones.unique()), held_back or 0


def _existing_keys(milestone_ids: list[int]) -> set[tuple[int, ReminderRule, date]]:
    if not milestone_ids:
        return set()
    rows = db.session.execute(
        sa.select(Reminder.milestone_id, Reminder.rule, Reminder.due_on).where(
            Reminder.milestone_id.in_(milestone_ids)
        )
    )
    return {(row.milestone_id, row.rule, row.due_on) for row in rows}


def _remind(milestone: Milestone, rule: ReminderRule, key_day: date, day: date) -> int | None:
    """Writes the Reminder row first, then its notice and deliveries, under a savepoint: when a concurrent
    sweep already wrote the same row, the unique key fails and this one is skipped. Returns the number of
    deliveries, or None when skipped."""
    try:
        with db.session.begin_nested():
            reminder = Reminder(milestone_id=milestone.id, rule=rule, due_on=key_day)
            db.session.add(reminder)
            db.session.flush()
            recipients = reminder_recipients(milestone)
            if not recipients:
                # Recorded all the same: the next rule's reminder reaches whoever is added by then, and an
                # empty notice would only sit in the notice list as scheduled for ever.
                current_app.logger.warning(
                    "reminder %s for milestone %s has nobody to go to", rule.value, milestone.id
                )
                return 0
            subject, body = render_reminder(milestone, rule, day, "ko")
            notice = queue_notice(
                kind=NoticeKind.reminder,
                subject=subject,
                body=body,
                recipients=recipients,
                firm_id=milestone.engagement.firm_id,
                about=milestone,
                audience={"milestone_id": milestone.id, "rule": rule.value, "day": key_day.isoformat()},
                personalise=lambda r: render_reminder(milestone, rule, day, r.locale, r.name),
            )
            reminder.notice_id = notice.id
            db.session.flush()
            return len(notice.deliveries)
    except IntegrityError:
        return None


def run_sweep(day: date | None = None) -> SweepResult:
    """Creates today's reminders (KST) and commits: this is a job, not a request operation. Running it again
    for the same day creates nothing new."""
    day = day or today_kst()
    result = SweepResult(day=day, business_day=is_business_day(day))
    milestones, result.held_back = _candidates(day, result.business_day)
    existing = _existing_keys([m.id for m in milestones])
    for milestone in milestones:
        due = due_reminder(milestone.due_on, day)
        if due is None or (milestone.id, *due) in existing:
            continue
        rule, key_day = due
        deliveries = _remind(milestone, rule, key_day, day)
        if deliveries is None:
            continue
        result.created += 1
        result.by_rule[rule] += 1
        result.deliveries += deliveries
    db.session.commit()
    record_heartbeat("sweep", {"day": day.isoformat(), "created": result.created})
    return result
