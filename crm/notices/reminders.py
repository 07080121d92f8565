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

The sweep is set-based, so its cost follows the reminders it creates, not the milestones it looks at: one
query finds the reminders due and not yet sent (rule and day key computed in SQL), a few batched queries
find their recipients, and the notices, reminders and deliveries are written in a statement each.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import holidays
import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from jinja2 import Template, meta
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased

from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.core.time import d_day_label, today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Contact, Firm
from crm.milestones.models import Milestone, MilestoneOwner
from crm.notices.bulk import DeliveryDraft, NoticeDraft, insert_deliveries, insert_notices, insert_rows
from crm.notices.health import record_heartbeat
from crm.notices.models import Notice, NoticeKind, Reminder, ReminderRule
from crm.notices.outbox import Recipient, unique_addresses
from crm.programmes.models import Programme, ProgrammeYear

D7_DAYS = 7
OVERDUE_EVERY_DAYS = 7
# Engagements that ended without the work being done: their open milestones are moot. Closed and follow-up
# engagements still have duties after closing (outcome surveys, settlement papers), so they are reminded.
SILENT_STATUSES = (EngagementStatus.cancelled, EngagementStatus.terminated)
TEMPLATE_LOCALES = ("ko", "en")
SUBJECT_MAX = 200  # Notice.subject and Delivery.subject
# Ids per IN (…) list on SQLite: well under its 32,766 bound parameters.
IN_BATCH = 5000
_LINK_ID = 987654321  # a stand-in engagement id, unlike anything else in a path


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
    latest step. `due_reminder_clauses` is the same rule in SQL."""
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


class _OverdueStep(sa.sql.functions.FunctionElement):
    """The overdue step key of a milestone due on `due_on` as seen on `day` (due_on < day): the latest of
    due_on + 1, due_on + 8, … that is not after `day`. Date arithmetic has no portable SQL spelling."""

    type = sa.Date()
    inherit_cache = True
    name = "overdue_step"


@compiles(_OverdueStep, "postgresql")
def _overdue_step_postgresql(element: _OverdueStep, compiler: Any, **kw: Any) -> str:
    due_on, day = (compiler.process(clause, **kw) for clause in element.clauses)
    # date - date is a number of days, date - integer a date; mod() as "%" is a placeholder for psycopg
    return f"({day} - mod({day} - {due_on} - 1, {OVERDUE_EVERY_DAYS}))"


@compiles(_OverdueStep, "sqlite")
def _overdue_step_sqlite(element: _OverdueStep, compiler: Any, **kw: Any) -> str:
    due_on, day = (compiler.process(clause, **kw) for clause in element.clauses)
    behind = f"((CAST(julianday({day}) - julianday({due_on}) AS INTEGER) - 1) % {OVERDUE_EVERY_DAYS})"
    return f"date({day}, '-' || {behind} || ' days')"


def due_reminder_clauses(
    day: date,
) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[Any], sa.ColumnElement[date]]:
    """`due_reminder` for every milestone at once: (which milestones have a reminder relevant on `day`,
    its rule, its day key) as SQL expressions over Milestone.due_on."""
    due_on = Milestone.due_on
    on_day = sa.literal(day, sa.Date())
    relevant = due_on <= day + timedelta(days=D7_DAYS)
    rule = sa.type_coerce(
        sa.case(
            (due_on > day + timedelta(days=1), ReminderRule.d7.value),
            (due_on >= day, ReminderRule.d1.value),
            else_=ReminderRule.overdue.value,
        ),
        Reminder.rule.type,
    )
    key_day = sa.case((due_on >= day, due_on), else_=_OverdueStep(due_on, on_day))
    return relevant, rule, key_day


# --- The sweep ---------------------------------------------------------------------------------------------


@dataclass
class _Due:
    """A reminder to create, with what its recipients and texts need."""

    milestone_id: int
    rule: ReminderRule
    key_day: date
    title: str
    due_on: date
    owner: MilestoneOwner
    engagement_id: int
    firm_id: int
    firm_name: str
    programme_name: str
    consortium_id: int
    coordinator: Recipient | None  # the engagement's coordinator, when active
    recipients: list[Recipient] = field(default_factory=list)


def _scope_clauses(business_day: bool) -> list[sa.ColumnElement[bool]]:
    """Open milestones of engagements still under way (over Milestone ⋈ Engagement ⋈ Programme)."""
    clauses = [Milestone.open_clause(), Engagement.status.not_in(SILENT_STATUSES)]
    if not business_day:
        clauses.append(Programme.reminders_on_business_days.is_(False))
    return clauses


def _held_back(day: date) -> int:
    """On a day off: the open milestones of business-days-only programmes that would have a reminder."""
    relevant, _, _ = due_reminder_clauses(day)
    return (
        db.session.scalar(
            sa.select(sa.func.count(Milestone.id))
            .join(Engagement, Milestone.engagement_id == Engagement.id)
            .join(Programme, Engagement.programme_id == Programme.id)
            .where(
                Milestone.open_clause(),
                Engagement.status.not_in(SILENT_STATUSES),
                Programme.reminders_on_business_days.is_(True),
                relevant,
            )
        )
        or 0
    )


def _due_reminders(day: date, business_day: bool) -> list[_Due]:
    """The reminders relevant on `day` that were not sent yet, in one query."""
    relevant, rule, key_day = due_reminder_clauses(day)
    coordinator = aliased(User)
    sent = sa.exists().where(
        Reminder.milestone_id == Milestone.id, Reminder.rule == rule, Reminder.due_on == key_day
    )
    rows = db.session.execute(
        sa.select(
            Milestone.id,
            rule,
            key_day,
            Milestone.title,
            Milestone.due_on,
            Milestone.owner,
            Engagement.id,
            Engagement.firm_id,
            Firm.name,
            Programme.name,
            ProgrammeYear.consortium_id,
            coordinator.id,
            coordinator.email,
            coordinator.name,
            coordinator.locale,
        )
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
        .join(Firm, Engagement.firm_id == Firm.id)
        .outerjoin(
            coordinator,
            sa.and_(coordinator.id == Engagement.coordinator_id, coordinator.is_active.is_(True)),
        )
        .where(*_scope_clauses(business_day), relevant, ~sent)
        .order_by(Milestone.due_on, Milestone.id)
    )
    dues = []
    # The columns come in the order of _Due's fields; unpacking is several times cheaper than row.name.
    for *values, coordinator_id, email, name, locale in rows.tuples():
        coordinator = None
        if coordinator_id is not None:
            coordinator = Recipient(email, name, user_id=coordinator_id, locale=_template_locale(locale))
        dues.append(_Due(*values, coordinator=coordinator))
    return dues


# --- Who hears about it ------------------------------------------------------------------------------------


def _batches(ids: set[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), IN_BATCH):
        yield ordered[start : start + IN_BATCH]


def _among(column: sa.ColumnElement[int], ids: set[int]) -> Iterator[sa.ColumnElement[bool]]:
    """`column IN ids` as few conditions as the database allows: one `= ANY(array)` on PostgreSQL (one
    parameter, where IN (…) makes thousands for the driver to handle), else IN lists of IN_BATCH ids."""
    if not ids:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        yield column == sa.any_(sa.bindparam(None, sorted(ids), type_=postgresql.ARRAY(sa.Integer)))
        return
    for batch in _batches(ids):
        yield column.in_(batch)


def _user_recipient(user: Any) -> Recipient:
    return Recipient(user.email, user.name, user_id=user.id, locale=_template_locale(user.locale))


def _managers_by_consortium(consortium_ids: set[int]) -> dict[int, list[Recipient]]:
    managers: dict[int, list[Recipient]] = defaultdict(list)
    for among in _among(User.consortium_id, consortium_ids):
        rows = db.session.execute(
            sa.select(User.id, User.email, User.name, User.locale, User.consortium_id)
            .where(
                User.role == Role.consortium_manager,
                among,
                User.is_active.is_(True),
            )
            .order_by(User.id)
        )
        for row in rows:
            managers[row.consortium_id].append(_user_recipient(row))
    return managers


def _firm_recipients(firm_ids: set[int]) -> dict[int, list[Recipient]]:
    """Per firm: its active, verified portal users and its contacts with an e-mail address who consented to
    the collection and use of personal data (개인정보 수집·이용), each address once. A contact without that
    consent, primary or not, gets nothing: reminders are not covered by a consent that was never given."""
    users: dict[int, list[Recipient]] = defaultdict(list)
    contacts: dict[int, list[Recipient]] = defaultdict(list)
    for users_among, contacts_among in zip(
        _among(User.firm_id, firm_ids), _among(Contact.firm_id, firm_ids), strict=True
    ):
        user_rows = db.session.execute(
            sa.select(User.id, User.email, User.name, User.locale, User.firm_id)
            .where(
                users_among,
                User.role == Role.firm_user,
                User.is_active.is_(True),
                User.email_verified_at.is_not(None),
            )
            .order_by(User.id)
        )
        for row in user_rows:
            users[row.firm_id].append(_user_recipient(row))
        contact_rows = db.session.execute(
            sa.select(Contact.id, Contact.email, Contact.name, Contact.phone, Contact.firm_id)
            .where(
                contacts_among,
                Contact.consent_privacy_at.is_not(None),
                Contact.email != "",
            )
            .order_by(Contact.is_primary.desc(), Contact.id)
        )
        for row in contact_rows:
            contacts[row.firm_id].append(
                Recipient(row.email, row.name, contact_id=row.id, phone=row.phone or "")
            )
    return {
        firm_id: unique_addresses(users.get(firm_id, []) + contacts.get(firm_id, [])) for firm_id in firm_ids
    }


def _find_recipients(dues: Sequence[_Due]) -> None:
    """Staff milestones go to the engagement's active coordinator, or without one to the consortium's active
    managers, so a staff duty never goes unreminded; firm milestones to the firm (`_firm_recipients`)."""
    orphaned = {d.consortium_id for d in dues if d.owner is MilestoneOwner.staff and d.coordinator is None}
    managers = _managers_by_consortium(orphaned) if orphaned else {}
    firm_ids = {d.firm_id for d in dues if d.owner is MilestoneOwner.firm}
    firms = _firm_recipients(firm_ids) if firm_ids else {}
    for due in dues:
        if due.owner is MilestoneOwner.firm:
            due.recipients = firms[due.firm_id]
        elif due.coordinator is not None:
            due.recipients = [due.coordinator]
        else:
            due.recipients = managers.get(due.consortium_id, [])


# --- What it says ------------------------------------------------------------------------------------------


def _template_locale(locale: str | None) -> str:
    return locale if locale in TEMPLATE_LOCALES else "ko"


def _mentions(template: Template, variable: str) -> bool:
    """Whether the template's own source uses the variable."""
    env = template.environment
    source = env.loader.get_source(env, template.name or "")[0] if env.loader else ""
    return variable in meta.find_undeclared_variables(env.parse(source))


class _Texts:
    """Subjects and bodies from templates/notices/reminder*.{ko,en}.txt, each template loaded once and
    rendered per reminder and recipient, a language at a time (dates are written in the language)."""

    def __init__(self, day: date) -> None:
        self.day = day
        env = current_app.jinja_env
        self.templates: dict[str, tuple[Template, Template]] = {
            locale: (
                env.get_template(f"notices/reminder_subject.{locale}.txt"),
                env.get_template(f"notices/reminder.{locale}.txt"),
            )
            for locale in TEMPLATE_LOCALES
        }
        # Whether a subject names the recipient; if not, one per reminder and language will do.
        self.subject_names = {
            locale: _mentions(subject, "name") for locale, (subject, _) in self.templates.items()
        }
        # Template.render copies the globals (a ChainMap of some fifty names) into a new dict and a set at
        # every call, most of a short template's cost: they are copied once here.
        self.globals = {
            locale: tuple(dict(template.globals) for template in pair)
            for locale, pair in self.templates.items()
        }
        # A path on the site: the sweep runs in a worker without a request, so no host to make it absolute.
        # Built once per endpoint around a stand-in id, as finding the rule to build from is most of its cost.
        urls = current_app.url_map.bind("localhost", script_name=current_app.config.get("APPLICATION_ROOT"))
        self.links = {
            owner: urls.build(endpoint, {"engagement_id": _LINK_ID}).split(str(_LINK_ID))
            for owner, endpoint in (
                (MilestoneOwner.firm, "engagements.portal_detail"),
                (MilestoneOwner.staff, "engagements.detail"),
            )
        }

    def context(self, due: _Due) -> dict[str, Any]:
        before, after = self.links[due.owner]
        return {
            "rule": due.rule.value,
            "name": "",
            "title": due.title,
            "firm": due.firm_name,
            "programme": due.programme_name,
            "due_on": due.due_on,
            "day": self.day,
            "days_left": (due.due_on - self.day).days,
            "dday": d_day_label(due.due_on, self.day),
            "owner": due.owner.value,
            "link": f"{before}{due.engagement_id}{after}",
        }

    def subject(self, locale: str, context: dict[str, Any], name: str = "") -> str:
        """Call within force_locale(locale), as `body`."""
        template, names = self.templates[locale][0], self.globals[locale][0]
        return " ".join(self._render(template, {**names, **context, "name": name}).split())[:SUBJECT_MAX]

    def body(self, locale: str, context: dict[str, Any], name: str = "") -> str:
        template, names = self.templates[locale][1], self.globals[locale][1]
        return self._render(template, {**names, **context, "name": name}).strip() + "\n"

    @staticmethod
    def _render(template: Template, values: dict[str, Any]) -> str:
        # Template.render, on a context built over `values` as they are (they hold the globals already).
        env = template.environment
        context = env.context_class(env, values, template.name, template.blocks)
        return env.concat(template.root_render_func(context))


def _drafts(dues: Sequence[_Due], day: date) -> list[NoticeDraft]:
    """One notice per reminder: its own text in Korean, and each delivery's in the recipient's language
    with their name, in the order of `due.recipients`."""
    texts = _Texts(day)
    drafts = []
    # Per language: (context, draft, index of the delivery in the draft or None for the notice's own text)
    jobs: dict[str, list[tuple[dict[str, Any], NoticeDraft, int | None]]] = defaultdict(list)
    for due in dues:
        draft = NoticeDraft(
            kind=NoticeKind.reminder,
            subject="",
            body="",
            firm_id=due.firm_id,
            subject_type=Milestone.__tablename__,
            subject_id=due.milestone_id,
            audience={
                "milestone_id": due.milestone_id,
                "rule": due.rule.value,
                "day": due.key_day.isoformat(),
            },
            deliveries=[DeliveryDraft(recipient) for recipient in due.recipients],
        )
        drafts.append(draft)
        context = texts.context(due)
        jobs["ko"].append((context, draft, None))
        for index, recipient in enumerate(due.recipients):
            jobs[_template_locale(recipient.locale)].append((context, draft, index))
    for locale, items in jobs.items():
        subjects: dict[int, str] = {}  # by id(context), when the subject does not name the recipient
        with force_locale(locale):
            for context, draft, index in items:
                name = "" if index is None else draft.deliveries[index].recipient.name
                if texts.subject_names[locale]:
                    subject = texts.subject(locale, context, name)
                elif id(context) in subjects:
                    subject = subjects[id(context)]
                else:
                    subject = subjects[id(context)] = texts.subject(locale, context)
                body = texts.body(locale, context, name)
                if index is None:
                    draft.subject, draft.body = subject, body
                else:
                    delivery = draft.deliveries[index]
                    delivery.subject, delivery.body = subject, body
    return drafts


# --- Writing it --------------------------------------------------------------------------------------------


def _insert_reminders(dues: Sequence[_Due], notice_ids: dict[int, int], now: datetime) -> set[int]:
    """Writes the Reminder rows, skipping any that a concurrent sweep wrote first (the unique key: the
    statement waits for that sweep's commit, then skips its rows). Returns the milestones whose row this
    sweep wrote."""
    rows = [
        {
            "milestone_id": due.milestone_id,
            "rule": due.rule,
            "due_on": due.key_day,
            "notice_id": notice_ids.get(due.milestone_id),
            "created_at": now,
        }
        for due in dues
    ]
    written = insert_rows(
        Reminder.__table__,
        rows,
        skip_conflicts_on=("milestone_id", "rule", "due_on"),
        returning=("milestone_id",),
    )
    return {row.milestone_id for row in written}


def run_sweep(day: date | None = None) -> SweepResult:
    """Creates today's reminders (KST) and commits: this is a job, not a request operation. Running it again
    for the same day creates nothing new."""
    day = day or today_kst()
    now = utcnow()
    result = SweepResult(day=day, business_day=is_business_day(day))
    if not result.business_day:
        result.held_back = _held_back(day)
    dues = _due_reminders(day, result.business_day)
    _find_recipients(dues)
    # The notices are written first, so each Reminder row is written once with its notice_id.
    with_recipients = [due for due in dues if due.recipients]
    drafts = _drafts(with_recipients, day)
    ids = insert_notices(drafts, now)
    notice_ids = {due.milestone_id: notice_id for due, notice_id in zip(with_recipients, ids, strict=True)}
    written = _insert_reminders(dues, notice_ids, now)
    lost = {notice_id for milestone_id, notice_id in notice_ids.items() if milestone_id not in written}
    for among in _among(Notice.id, lost):  # their reminders were sent by a concurrent sweep
        db.session.execute(sa.delete(Notice).where(among))
    result.deliveries = insert_deliveries(
        (
            (notice_ids[due.milestone_id], draft)
            for due, draft in zip(with_recipients, drafts, strict=True)
            if due.milestone_id in written
        ),
        now,
    )
    nobody = [due.milestone_id for due in dues if not due.recipients and due.milestone_id in written]
    if nobody:
        # Recorded all the same: the next rule's reminder reaches whoever is added by then, and an empty
        # notice would only sit in the notice list as scheduled for ever.
        current_app.logger.warning(
            "%d reminder(s) have nobody to go to, e.g. milestones %s", len(nobody), nobody[:20]
        )
    for due in dues:
        if due.milestone_id in written:
            result.created += 1
            result.by_rule[due.rule] += 1
    db.session.commit()
    record_heartbeat("sweep", {"day": day.isoformat(), "created": result.created})
    return result
