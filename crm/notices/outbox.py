"""The outbox: notices and their deliveries are written in the caller's transaction; workers send them.

`queue_notice` adds a Notice and one Delivery per recipient (queued) and never talks to the broker, so a
request succeeds with Redis down and a rolled-back transaction sends nothing. The relay (a beat task every
few seconds) enqueues deliveries that are due, again those enqueued long ago that nobody took, and those
whose sender's lease expired (a worker killed mid-send). A sender claims a delivery with one conditional
UPDATE and a lease before sending, so a redelivered task only takes over a stale claim. Each delivery has
a deterministic Message-ID. SMTP 4xx and connection errors are retried with backoff; 5xx fails at once;
staff can queue a failed one again.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.core.db import utcnow
from crm.core.time import to_kst
from crm.extensions import db
from crm.notices.errors import PermanentFailure, SendFailure, TemporaryFailure
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus

# Marketing-type messages never go out between 21:00 and 08:00 KST.
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)


@dataclass(frozen=True)
class Recipient:
    """Someone a notice goes to. `email` is the address for the e-mail channel; `phone` for SMS / 알림톡."""

    email: str
    name: str = ""
    user_id: int | None = None
    contact_id: int | None = None
    locale: str = "ko"
    phone: str = ""

    def address(self, channel: str) -> str:
        return self.email if channel == "email" else self.phone


# Renders the subject and body for one recipient (variables, the recipient's language).
Personalise = Callable[[Recipient], tuple[str, str]]


def firm_recipients(firm: Any) -> list[Recipient]:
    """Who hears about a firm's applications and engagements: its active, verified portal accounts and
    its primary contacts with an e-mail address and the privacy consent, each address once."""
    from crm.auth.models import Role, User

    users = db.session.scalars(
        sa.select(User).where(
            User.firm_id == firm.id,
            User.role == Role.firm_user,
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
    ).all()
    recipients = [Recipient(u.email, u.name, user_id=u.id, locale=u.locale or "ko") for u in users]
    # A contact without the privacy consent (never given or withdrawn) hears nothing, not even about the
    # firm's own application: those essential notices still reach the firm's verified portal accounts.
    recipients += [
        Recipient(c.email, c.name, contact_id=c.id, phone=c.phone or "")
        for c in firm.contacts
        if c.is_primary and c.email and c.consent_privacy_at is not None
    ]
    seen: set[str] = set()
    unique = []
    for recipient in recipients:
        key = recipient.email.strip().lower()
        if key and key not in seen:
            seen.add(key)
            unique.append(recipient)
    return unique


def queue_notice(
    *,
    kind: NoticeKind,
    subject: str,
    body: str,
    recipients: list[Recipient],
    firm_id: int | None = None,
    about: Any = None,
    created_by: Any = None,
    send_at: datetime | None = None,
    channel: str = "email",
    marketing: bool = False,
    audience: dict[str, Any] | None = None,
    personalise: Personalise | None = None,
) -> Notice:
    """Adds the notice and one queued delivery per recipient (each address once) to the current
    transaction. Never commits and never talks to the broker: the relay picks the deliveries up after the
    commit, and nothing is sent if the transaction rolls back."""
    now = utcnow()
    notice = Notice(
        kind=kind,
        subject=subject,
        body=body,
        firm_id=firm_id,
        subject_type=type(about).__tablename__ if about is not None else None,
        subject_id=getattr(about, "id", None),
        created_by_id=getattr(created_by, "id", None),
        send_at=send_at or now,
        channel=channel,
        marketing=marketing,
        audience=audience or {},
        status=NoticeStatus.scheduled,
    )
    seen: set[str] = set()
    deliveries = []
    for recipient in recipients:
        address = recipient.address(channel).strip()
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        personal_subject, personal_body = personalise(recipient) if personalise else ("", "")
        deliveries.append(
            Delivery(
                recipient=address,
                recipient_name=recipient.name,
                user_id=recipient.user_id,
                contact_id=recipient.contact_id,
                channel=channel,
                locale=recipient.locale,
                subject=personal_subject,
                body=personal_body,
                status=DeliveryStatus.queued,
                next_attempt_at=notice.send_at,
            )
        )
    notice.deliveries = deliveries
    db.session.add(notice)
    db.session.flush()
    for delivery in deliveries:
        delivery.message_id = message_id_for(delivery)
    db.session.flush()
    return notice


def message_id_for(delivery: Delivery) -> str:
    """The same for every attempt at this delivery, so a receiver can tell a resend from a new message."""
    return f"<axcrm.{delivery.notice_id}.{delivery.id}@{current_app.config['MESSAGE_ID_DOMAIN']}>"


def notify_firm(firm: Any, kind: NoticeKind, subject: str, body: str, about: Any = None) -> Notice:
    return queue_notice(
        kind=kind, subject=subject, body=body, recipients=firm_recipients(firm), firm_id=firm.id, about=about
    )


# --- Sending ----------------------------------------------------------------------------------------------


def in_quiet_hours(moment: datetime) -> bool:
    local = to_kst(moment).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def _sender_session() -> Session:
    """A session of its own, bound like the request session (an engine in production and in workers, the
    test's connection in tests), committing each step so a claim is visible to every other sender."""
    return Session(
        bind=db.session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def due_for_relay(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Deliveries to enqueue now: queued and due and not enqueued recently (never, or so long ago that the
    message must have been lost), or sending with an expired lease (the sender died). Cancelled notices are
    skipped, and marketing notices wait out the quiet hours."""
    config = current_app.config
    stale_enqueue = now - timedelta(seconds=config["DELIVERY_REENQUEUE_SECONDS"])
    query = (
        sa.select(Delivery.id)
        .join(Notice, Delivery.notice_id == Notice.id)
        .where(
            Notice.cancelled_at.is_(None),
            Notice.send_at <= now,
            sa.or_(
                sa.and_(
                    Delivery.status == DeliveryStatus.queued,
                    sa.or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
                    sa.or_(Delivery.enqueued_at.is_(None), Delivery.enqueued_at < stale_enqueue),
                ),
                sa.and_(Delivery.status == DeliveryStatus.sending, Delivery.lease_expires_at < now),
            ),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if in_quiet_hours(now):
        query = query.where(Notice.marketing.is_(False))
    return list(session.scalars(query))


def relay(enqueue: Callable[[int], Any], now: datetime | None = None) -> int:
    """Marks the due deliveries as enqueued (committed first: a crash after it only delays them until the
    re-enqueue time) and hands each id to `enqueue`. A broker that is down leaves them for the next run.
    Returns how many were handed over."""
    now = now or utcnow()
    with _sender_session() as session:
        ids = due_for_relay(session, now)
        if not ids:
            return 0
        session.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=now))
        session.execute(
            sa.update(Notice)
            .where(Notice.id.in_(sa.select(Delivery.notice_id).where(Delivery.id.in_(ids))))
            .where(Notice.status == NoticeStatus.scheduled)
            .values(status=NoticeStatus.sending)
        )
        session.commit()
    handed = 0
    for delivery_id in ids:
        try:
            enqueue(delivery_id)
        except Exception as error:  # the broker is away: these wait for the re-enqueue time
            current_app.logger.warning("relay: could not enqueue delivery %s: %s", delivery_id, error)
            with _sender_session() as session:
                session.execute(
                    sa.update(Delivery).where(Delivery.id.in_(ids[handed:])).values(enqueued_at=None)
                )
                session.commit()
            break
        handed += 1
    return handed


def claim(session: Session, delivery_id: int, now: datetime | None = None) -> bool:
    """queued → sending (or a stale sending claim taken over) in one conditional UPDATE, committed: True
    only for the one sender that won. The lease says how long the claim holds."""
    now = now or utcnow()
    lease = now + timedelta(seconds=current_app.config["DELIVERY_LEASE_SECONDS"])
    result = session.execute(
        sa.update(Delivery)
        .where(
            Delivery.id == delivery_id,
            sa.or_(
                Delivery.status == DeliveryStatus.queued,
                sa.and_(Delivery.status == DeliveryStatus.sending, Delivery.lease_expires_at < now),
            ),
        )
        .values(
            status=DeliveryStatus.sending,
            claimed_at=now,
            lease_expires_at=lease,
            attempts=Delivery.attempts + 1,
        )
    )
    session.commit()
    return result.rowcount == 1


def _retry_delay(attempts: int) -> timedelta:
    """Exponential, capped at five minutes: retries come from the relay, never from far-future ETAs."""
    base = current_app.config["DELIVERY_RETRY_BASE_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 300))


def send_delivery(delivery_id: int) -> str:
    """Claims and sends one delivery; returns what happened ("sent", "retry", "failed", "skipped")."""
    with _sender_session() as session:
        if not claim(session, delivery_id):
            return "skipped"
        delivery = session.get(Delivery, delivery_id, populate_existing=True)
        assert delivery is not None
        notice = delivery.notice
        outcome = "sent"
        try:
            if notice.cancelled_at is not None:
                raise PermanentFailure("The notice was cancelled before this delivery was sent.")
            send(delivery)
        except TemporaryFailure as failure:
            outcome = _after_failure(delivery, failure, permanent=False)
        except PermanentFailure as failure:
            outcome = _after_failure(delivery, failure, permanent=True)
        else:
            delivery.status = DeliveryStatus.sent
            delivery.sent_at = utcnow()
            delivery.last_error = ""
        delivery.lease_expires_at = None
        session.commit()
        _finish_notice(session, notice.id)
        return outcome


def _after_failure(delivery: Delivery, failure: SendFailure, *, permanent: bool) -> str:
    delivery.last_error = failure.message[:2000]
    if permanent or delivery.attempts >= current_app.config["DELIVERY_MAX_ATTEMPTS"]:
        delivery.status = DeliveryStatus.failed
        current_app.logger.warning("delivery %s failed: %s", delivery.id, delivery.last_error)
        return "failed"
    delivery.status = DeliveryStatus.queued
    delivery.enqueued_at = None
    delivery.next_attempt_at = utcnow() + _retry_delay(delivery.attempts)
    return "retry"


def _finish_notice(session: Session, notice_id: int) -> None:
    """A notice is done once none of its deliveries is still queued or sending."""
    open_count = session.scalar(
        sa.select(sa.func.count(Delivery.id)).where(
            Delivery.notice_id == notice_id,
            Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending]),
        )
    )
    if not open_count:
        session.execute(
            sa.update(Notice)
            .where(Notice.id == notice_id, Notice.status.in_([NoticeStatus.scheduled, NoticeStatus.sending]))
            .values(status=NoticeStatus.done)
        )
        session.commit()


def requeue_failed(delivery: Delivery, actor: Any) -> Delivery:
    """Staff: try a failed delivery again (e.g. after the address was corrected). Never commits."""
    from flask_babel import lazy_gettext as _l

    from crm.audit.operations import record_audit
    from crm.core.exceptions import RuleViolation

    if delivery.status is not DeliveryStatus.failed:
        raise RuleViolation("not_failed", _l("Only failed deliveries can be retried."))
    delivery.status = DeliveryStatus.queued
    delivery.enqueued_at = None
    delivery.next_attempt_at = utcnow()
    delivery.attempts = 0
    notice = delivery.notice
    if notice.status is NoticeStatus.done:
        notice.status = NoticeStatus.sending
    db.session.flush()
    record_audit("delivery.retry", delivery, {"last_error": delivery.last_error}, actor=actor)
    return delivery


def send(delivery: Delivery) -> None:
    """Sends through the delivery's channel; raises TemporaryFailure or PermanentFailure."""
    subject = delivery.subject or delivery.notice.subject
    body = delivery.body or delivery.notice.body
    if delivery.channel == "email":
        send_email(delivery.recipient, delivery.recipient_name, subject, body, delivery.message_id or "")
        return
    from crm.notices.channels import send_text

    send_text(delivery, subject, body)


def build_message(to_email: str, to_name: str, subject: str, body: str, message_id: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = formataddr((to_name, to_email)) if to_name else to_email
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain=current_app.config["MESSAGE_ID_DOMAIN"])
    message.set_content(body)  # UTF-8; Korean subjects are RFC 2047 encoded by the policy
    return message


def send_email(to_email: str, to_name: str, subject: str, body: str, message_id: str = "") -> None:
    """Over SMTP when SMTP_URL is set (smtp://user:pass@host:port, smtps:// for TLS, smtp+starttls://), else
    into OUTBOX_DIR as an .eml file named by the Message-ID (a resend overwrites, never duplicates), which is
    how `make run` sends mail on a bare machine. Raises TemporaryFailure (4xx, connection trouble) or
    PermanentFailure (5xx)."""
    message = build_message(to_email, to_name, subject, body, message_id)
    url = current_app.config.get("SMTP_URL")
    if not url:
        outbox = Path(current_app.config["OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        name = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in message["Message-ID"].strip("<>"))
        (outbox / f"{name}.eml").write_bytes(message.as_bytes())
        return
    parts = urlsplit(url)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    try:
        with smtp_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=30) as smtp:
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        _raise_for_code(code, reply)
    except smtplib.SMTPResponseException as error:
        _raise_for_code(error.smtp_code, error.smtp_error)
    except (TimeoutError, smtplib.SMTPException, OSError) as error:
        raise TemporaryFailure(f"{type(error).__name__}: {error}") from error


def _raise_for_code(code: int, reply: bytes | str) -> None:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"SMTP {code}: {text}"
    if 500 <= code < 600:
        raise PermanentFailure(message)
    raise TemporaryFailure(message)
