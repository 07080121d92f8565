"""Cohort notices (DESIGN.md §6): staff write one notice to an audience, preview it for a real recipient,
send it now or at a time, cancel it while nothing went out, and retry failed deliveries. Never commits:
the outbox sends what the caller's transaction committed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import log_personal_data_access, record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.extensions import db
from crm.firms.models import Firm
from crm.notices import audience as audiences
from crm.notices.audience import Addressee
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus
from crm.notices.outbox import Recipient, in_quiet_hours, queue_notice, requeue_failed

SUBJECT_MAX = 200
BODY_MAX = 10_000
# A send time typed a moment ago is "now", not an error.
PAST_TOLERANCE = timedelta(minutes=1)


@dataclass
class NoticeData:
    audience: dict[str, Any] = field(default_factory=dict)  # as the form gives it; see crm.notices.audience
    subject: str = ""
    body: str = ""
    marketing: bool = False
    send_at: datetime | None = None  # aware; None sends now


@dataclass
class Preview:
    """The notice as its first recipient will read it, and how many addresses it goes to."""

    subject: str
    body: str
    recipient: Recipient
    firm: Firm
    count: int
    firm_count: int


# --- who sees what ------------------------------------------------------------------------------------


def may_compose(actor: User) -> bool:
    return actor.role in STAFF_ROLES


def notice_visible_to(user: User) -> sa.ColumnElement[bool]:
    """Admins every notice; others those they wrote, a manager also those concerning its consortium and a
    coordinator those concerning its institution (the scope stored in the audience at composition)."""
    if user.role is Role.admin:
        return sa.true()
    mine = Notice.created_by_id == user.id
    if user.role is Role.consortium_manager and user.scope_consortium_id:
        return sa.or_(mine, Notice.audience["consortium_id"].as_integer() == user.scope_consortium_id)
    if user.role is Role.coordinator and user.institution_id:
        return sa.or_(mine, Notice.audience["institution_id"].as_integer() == user.institution_id)
    if user.role in STAFF_ROLES:
        return mine
    return sa.false()


def _visible(notice: Notice, actor: User) -> bool:
    return (
        db.session.scalar(sa.select(Notice.id).where(Notice.id == notice.id, notice_visible_to(actor)))
        is not None
    )


def delivery_counts(notice_ids: list[int]) -> dict[int, dict[DeliveryStatus, int]]:
    """{notice id: {status: count}} with every status present (0 when none)."""
    counts = {notice_id: dict.fromkeys(DeliveryStatus, 0) for notice_id in notice_ids}
    if not notice_ids:
        return counts
    rows = db.session.execute(
        sa.select(Delivery.notice_id, Delivery.status, sa.func.count(Delivery.id))
        .where(Delivery.notice_id.in_(notice_ids))
        .group_by(Delivery.notice_id, Delivery.status)
    )
    for notice_id, status, count in rows:
        counts[notice_id][status] = count
    return counts


def cancel_refusal(notice: Notice) -> Any | None:
    """Why this notice can no longer be cancelled, or None while it can: still scheduled and no delivery
    picked up by a sender."""
    if notice.cancelled_at is not None or notice.status is NoticeStatus.cancelled:
        return _l("This notice was already cancelled.")
    if notice.status is NoticeStatus.done:
        return _l("This notice was already sent, so it can no longer be cancelled.")
    if notice.status is not NoticeStatus.scheduled or _started(notice.id):
        return _l(
            "Sending has already started, so this notice can no longer be cancelled. "
            "Deliveries that failed can still be retried one by one."
        )
    return None


def _started(notice_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(Delivery.id)
            .where(
                Delivery.notice_id == notice_id,
                sa.or_(Delivery.status != DeliveryStatus.queued, Delivery.attempts > 0),
            )
            .limit(1)
        )
        is not None
    )


def text_problems(subject: str | None, body: str | None) -> dict[str, list[Any]]:
    """{field: [message]} for the subject and body: present, not too long, only known variables. Shared
    by the form, so one submit shows these with every other problem."""
    problems: dict[str, list[Any]] = {}
    subject, body = (subject or "").strip(), (body or "").strip()
    if not subject:
        problems["subject"] = [_l("Enter a subject.")]
    elif len(subject) > SUBJECT_MAX:
        problems["subject"] = [_l("The subject can be at most %(n)s characters.", n=SUBJECT_MAX)]
    elif found := audiences.template_problems(subject):
        problems["subject"] = found
    if not body:
        problems["body"] = [_l("Enter the text of the notice.")]
    elif len(body) > BODY_MAX:
        problems["body"] = [_l("The text can be at most %(n)s characters.", n=f"{BODY_MAX:,}")]
    elif found := audiences.template_problems(body):
        problems["body"] = found
    return problems


# --- checks shared by preview and compose -------------------------------------------------------------


def _check(
    data: NoticeData, actor: User, now: datetime, *, for_sending: bool
) -> tuple[dict, list[Addressee]]:
    """The cleaned audience and its addressees, or every problem at once (ValidationFailed), or the
    audience is empty (RuleViolation)."""
    if not may_compose(actor):
        raise NotPermitted()
    problems = text_problems(data.subject, data.body)
    if for_sending and data.send_at is not None and data.send_at < now - PAST_TOLERANCE:
        problems["send_at"] = [_l("This time has passed. Choose a time in the future, or send now.")]
    audience: dict[str, Any] = {}
    try:
        audience = audiences.clean_audience(data.audience, actor)
    except ValidationFailed as error:
        problems.update(error.fields)
    if problems:
        raise ValidationFailed(problems)
    addressees = audiences.resolve(audience, actor, marketing=data.marketing)
    if not addressees:
        message = (
            _l("Nobody matches this audience: no firm in it has a primary contact who agreed to marketing.")
            if data.marketing and audiences.resolve_members(audience, actor)
            else _l("Nobody matches this audience: no firm in it has an e-mail address to write to.")
        )
        raise RuleViolation("empty_audience", message, fields={"source": [message]})
    return audience, addressees


def _personaliser(data: NoticeData, addressees: list[Addressee]):
    by_address = {a.recipient.email.strip().lower(): a for a in addressees}

    def personalise(recipient: Recipient) -> tuple[str, str]:
        addressee = by_address[recipient.email.strip().lower()]
        values = audiences.values_for(addressee)
        return audiences.render(data.subject.strip(), values), audiences.render(data.body.strip(), values)

    return personalise


# --- verbs --------------------------------------------------------------------------------------------


def preview(data: NoticeData, actor: User, now: datetime | None = None) -> Preview:
    """Renders the notice for its first recipient without saving anything but the access-log row of the
    contact shown."""
    _audience, addressees = _check(data, actor, now or utcnow(), for_sending=False)
    first = addressees[0]
    subject, body = _personaliser(data, addressees)(first.recipient)
    log_personal_data_access("view_notice_preview", first.member.firm, purpose="notice preview", actor=actor)
    return Preview(
        subject=subject,
        body=body,
        recipient=first.recipient,
        firm=first.member.firm,
        count=len(addressees),
        firm_count=len({a.member.firm.id for a in addressees}),
    )


def compose_notice(data: NoticeData, actor: User, now: datetime | None = None) -> Notice:
    """Queues the notice with one personalised delivery per address, to go out now or at `send_at`."""
    now = now or utcnow()
    audience, addressees = _check(data, actor, now, for_sending=True)
    send_at = max(data.send_at, now) if data.send_at is not None else now
    stored = {
        **audience,
        **audiences.scope_of(audience, actor),
        "firms": len({a.member.firm.id for a in addressees}),
    }
    notice = queue_notice(
        kind=NoticeKind.cohort,
        subject=data.subject.strip(),
        body=data.body.strip(),
        recipients=[a.recipient for a in addressees],
        created_by=actor,
        send_at=send_at,
        marketing=data.marketing,
        audience=stored,
        personalise=_personaliser(data, addressees),
    )
    record_audit(
        "notice.compose",
        notice,
        {
            "subject": notice.subject,
            "audience": stored,
            "recipients": len(notice.deliveries),
            "send_at": send_at,
            "marketing": data.marketing,
        },
        actor=actor,
    )
    return notice


def cancel_notice(notice: Notice, actor: User, now: datetime | None = None) -> Notice:
    """Stops a scheduled notice before any delivery went out. The change is one conditional UPDATE, so a
    relay that starts sending at the same moment makes it refuse instead of cancelling half a notice; a
    delivery a sender claims afterwards sees the cancellation and is not sent."""
    if not _visible(notice, actor):
        raise NotPermitted()
    refusal = cancel_refusal(notice)
    if refusal is not None:
        raise RuleViolation("not_cancellable", refusal)
    now = now or utcnow()
    started = sa.exists().where(
        Delivery.notice_id == notice.id,
        sa.or_(Delivery.status != DeliveryStatus.queued, Delivery.attempts > 0),
    )
    result = db.session.execute(
        sa.update(Notice)
        .where(
            Notice.id == notice.id,
            Notice.status == NoticeStatus.scheduled,
            Notice.cancelled_at.is_(None),
            ~started,
        )
        .values(status=NoticeStatus.cancelled, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(notice)
    if result.rowcount != 1:
        raise RuleViolation(
            "not_cancellable", cancel_refusal(notice) or _l("This notice can no longer be cancelled.")
        )
    record_audit(
        "notice.cancel",
        notice,
        {"status": [NoticeStatus.scheduled, NoticeStatus.cancelled], "send_at": notice.send_at},
        actor=actor,
    )
    return notice


def retry_failed(delivery: Delivery, actor: User) -> Delivery:
    """Queues a failed delivery again (e.g. after the contact's address was corrected); audited by the
    outbox."""
    notice = delivery.notice
    if not _visible(notice, actor):
        raise NotPermitted()
    if notice.cancelled_at is not None:
        raise RuleViolation(
            "notice_cancelled", _l("This notice was cancelled; its deliveries are not sent again.")
        )
    return requeue_failed(delivery, actor)


def held_for_quiet_hours(notice: Notice, now: datetime | None = None) -> bool:
    """A marketing notice due now waits for 08:00 KST: the page says so instead of looking stuck."""
    now = now or utcnow()
    return notice.marketing and notice.cancelled_at is None and notice.send_at <= now and in_quiet_hours(now)
