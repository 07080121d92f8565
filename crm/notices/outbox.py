"""Writing notices to the outbox, and the sender that delivers them.

`queue_notice` adds a Notice and its Delivery rows to the caller's transaction and arranges delivery after
commit. Each Delivery is claimed with one conditional UPDATE (pending → sending) before anything is sent,
so two senders never send the same one. Until the Celery worker of the Workers issue takes over, delivery
runs in-process right after the commit; a delivery that fails stays in the table with its error.
"""

from __future__ import annotations

import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from crm.core.db import utcnow
from crm.core.effects import after_commit
from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    user_id: int | None = None
    contact_id: int | None = None


def firm_recipients(firm: Any) -> list[Recipient]:
    """Who hears about a firm's applications and engagements: its active, verified portal accounts and
    its primary contacts with an e-mail address, each address once."""
    from crm.auth.models import Role, User

    users = db.session.scalars(
        sa.select(User).where(
            User.firm_id == firm.id,
            User.role == Role.firm_user,
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
    ).all()
    recipients = [Recipient(u.email, u.name, user_id=u.id) for u in users]
    recipients += [
        Recipient(c.email, c.name, contact_id=c.id) for c in firm.contacts if c.is_primary and c.email
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
) -> Notice:
    """Adds the notice and one delivery per recipient to the current transaction (never commits)."""
    notice = Notice(
        kind=kind,
        subject=subject,
        body=body,
        firm_id=firm_id,
        subject_type=type(about).__tablename__ if about is not None else None,
        subject_id=getattr(about, "id", None),
        created_by_id=getattr(created_by, "id", None),
        send_at=send_at or utcnow(),
    )
    notice.deliveries = [
        Delivery(recipient=r.email, recipient_name=r.name, user_id=r.user_id, contact_id=r.contact_id)
        for r in recipients
    ]
    db.session.add(notice)
    db.session.flush()
    if notice.send_at <= utcnow():
        notice_id = notice.id
        after_commit(lambda: deliver_notice(notice_id))
    return notice


def notify_firm(firm: Any, kind: NoticeKind, subject: str, body: str, about: Any = None) -> Notice:
    return queue_notice(
        kind=kind, subject=subject, body=body, recipients=firm_recipients(firm), firm_id=firm.id, about=about
    )


def _sender_session() -> Session:
    """A session of its own: delivery runs after the request's commit, when that session may not emit SQL,
    and a worker has no request session at all. Bound like the request session (an engine in production,
    the test's connection in tests), so it sees what was just committed."""
    return Session(
        bind=db.session.get_bind(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def deliver_notice(notice_id: int) -> int:
    """Sends every pending delivery of the notice; returns how many were sent now."""
    with _sender_session() as session:
        ids = session.scalars(
            sa.select(Delivery.id).where(
                Delivery.notice_id == notice_id, Delivery.status == DeliveryStatus.queued
            )
        ).all()
        return sum(1 for delivery_id in ids if deliver(session, delivery_id))


def claim(session: Session, delivery_id: int) -> bool:
    """pending → sending in one conditional UPDATE, committed: True only for the one caller that won."""
    result = session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.queued)
        .values(status=DeliveryStatus.sending, claimed_at=utcnow(), attempts=Delivery.attempts + 1)
    )
    session.commit()
    return result.rowcount == 1


def deliver(session: Session, delivery_id: int) -> bool:
    if not claim(session, delivery_id):
        return False
    delivery = session.get(Delivery, delivery_id, populate_existing=True)
    try:
        send_email(delivery.recipient, delivery.recipient_name, delivery.notice.subject, delivery.notice.body)
    except (OSError, smtplib.SMTPException) as error:
        delivery.status = DeliveryStatus.queued  # kept for the next attempt; the error says why
        delivery.last_error = f"{type(error).__name__}: {error}"[:2000]
        session.commit()
        current_app.logger.warning("delivery %s failed: %s", delivery_id, delivery.last_error)
        return False
    delivery.status = DeliveryStatus.sent
    delivery.sent_at = utcnow()
    delivery.last_error = ""
    session.commit()
    return True


def build_message(to_email: str, to_name: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = formataddr((to_name, to_email)) if to_name else to_email
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="axcrm.local")
    message.set_content(body)
    return message


def send_email(to_email: str, to_name: str, subject: str, body: str) -> None:
    """Over SMTP when SMTP_URL is set (smtp://user:pass@host:port, smtps:// for TLS), else into OUTBOX_DIR
    as an .eml file, which is how `make run` "sends" mail on a bare machine."""
    message = build_message(to_email, to_name, subject, body)
    url = current_app.config.get("SMTP_URL")
    if not url:
        outbox = Path(current_app.config["OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
        (outbox / name).write_bytes(message.as_bytes())
        return
    parts = urlsplit(url)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=30) as smtp:
        if parts.scheme == "smtp+starttls":
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)
