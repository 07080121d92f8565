"""The outbox: notices and their deliveries are written in the caller's transaction; workers send them.

`queue_notice` adds a Notice and one Delivery per recipient (queued) and never talks to the broker, so a
request succeeds with Redis down and a rolled-back transaction sends nothing. The relay (a beat task every
few seconds) enqueues deliveries that are due, again those enqueued long ago that nobody took, and those
whose sender's lease expired (a worker killed mid-send), in batches of DELIVERY_BATCH_SIZE ids per task. A
sender claims its batch with one conditional UPDATE … RETURNING and a lease sized to the batch, so a
redelivered task only takes over stale claims; it sends the batch's e-mail over one SMTP connection and
commits the outcomes every few messages, renewing the lease of what is left while it runs. Each delivery has
a deterministic Message-ID. SMTP 4xx and connection errors are retried with backoff, for that delivery
only; 5xx fails at once; staff can queue a failed one again.
"""

from __future__ import annotations

import base64
import re
import smtplib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import cache
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, selectinload

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
    return unique_addresses(recipients)


def unique_addresses(recipients: list[Recipient]) -> list[Recipient]:
    """Each address once (case and surrounding blanks ignored), the first mention kept; no empty ones."""
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

# Deliveries a relay run hands over at most (a backlog beyond it goes on the next run); the UPDATEs that mark
# them go in slices so no statement carries thousands of parameters.
RELAY_LIMIT = 20_000
RELAY_SLICE = 1_000
# Added to DELIVERY_LEASE_SECONDS for each message a batch still has to send: a batch's lease covers its own
# size, not the worst case of the largest batch.
LEASE_PER_MESSAGE = timedelta(seconds=0.5)
# Outcomes are committed at least this often, so a worker killed mid-batch resends (with the same Message-ID)
# at most the last twenty messages it sent, and the lease of what is left is renewed before it runs out.
# Fewer commits per batch would save CPU (bench P4) but widen that window.
RECORD_EVERY_MESSAGES = 20
RECORD_EVERY_SECONDS = 0.25


def in_quiet_hours(moment: datetime) -> bool:
    local = to_kst(moment).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


@contextmanager
def _sender_session() -> Iterator[Session]:
    """A session of its own, bound like the request session (an engine in production and in workers, the
    test's connection in tests), committing each step so a claim is visible to every other sender. It keeps
    one connection for all its steps: a batch commits every few messages, and a checkout from the pool (with
    its pre-ping) before each would cost a round trip every time."""
    bind = db.session.get_bind()
    with ExitStack() as stack:
        if isinstance(bind, sa.Engine):
            bind = stack.enter_context(bind.connect())
        yield stack.enter_context(
            Session(bind=bind, join_transaction_mode="create_savepoint", expire_on_commit=False)
        )


def due_for_relay(session: Session, now: datetime, limit: int = RELAY_LIMIT) -> list[int]:
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


def _slices(ids: list[int], size: int) -> list[list[int]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def relay_batches(
    enqueue: Callable[[list[int]], Any], now: datetime | None = None, batch_size: int | None = None
) -> int:
    """Hands the due deliveries to `enqueue` in batches of DELIVERY_BATCH_SIZE ids, in id order (a notice's
    deliveries together). They go slice by slice, so workers start on the first batches while later ones
    are still being marked: each slice is marked as enqueued and committed before its batches are handed
    over (a crash in between only delays them until the re-enqueue time). A broker that is down leaves the
    batch it refused, and every later one, for the next run. Returns how many deliveries were handed over."""
    now = now or utcnow()
    size = batch_size or current_app.config["DELIVERY_BATCH_SIZE"]
    handed = 0
    with _sender_session() as session:
        ids = due_for_relay(session, now)
        for part in _slices(ids, max(RELAY_SLICE // size, 1) * size):
            session.execute(sa.update(Delivery).where(Delivery.id.in_(part)).values(enqueued_at=now))
            session.execute(
                sa.update(Notice)
                .where(Notice.id.in_(sa.select(Delivery.notice_id).where(Delivery.id.in_(part))))
                .where(Notice.status == NoticeStatus.scheduled)
                .values(status=NoticeStatus.sending)
            )
            session.commit()
            for start in range(0, len(part), size):
                try:
                    enqueue(part[start : start + size])
                except Exception as error:  # the broker is away: these wait for the next run
                    current_app.logger.warning("relay: could not enqueue deliveries: %s", error)
                    session.execute(
                        sa.update(Delivery).where(Delivery.id.in_(part[start:])).values(enqueued_at=None)
                    )
                    session.commit()
                    return handed
                handed += len(part[start : start + size])
    return handed


def relay(enqueue: Callable[[int], Any], now: datetime | None = None) -> int:
    """The relay for a sender of one delivery at a time (tests, the bare machine's eager runs): each due id
    goes to `enqueue` on its own."""
    return relay_batches(lambda batch: enqueue(batch[0]), now=now, batch_size=1)


def _lease(now: datetime, messages: int) -> datetime:
    return (
        now + timedelta(seconds=current_app.config["DELIVERY_LEASE_SECONDS"]) + LEASE_PER_MESSAGE * messages
    )


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        Delivery.status == DeliveryStatus.queued,
        sa.and_(Delivery.status == DeliveryStatus.sending, Delivery.lease_expires_at < now),
    )


def claim_batch(session: Session, delivery_ids: list[int], now: datetime | None = None) -> list[int]:
    """queued → sending (or stale sending claims taken over) for every given delivery nobody else holds, in
    one conditional UPDATE … RETURNING, committed; returns the ids this sender won. `claimed_at` is the
    claim's mark: whoever takes over an expired lease writes its own, so a slow sender can tell. The lease
    is sized to the batch."""
    now = now or utcnow()
    if not delivery_ids:
        return []
    won = session.scalars(
        sa.update(Delivery)
        .where(Delivery.id.in_(delivery_ids), _claimable(now))
        .values(
            status=DeliveryStatus.sending,
            claimed_at=now,
            lease_expires_at=_lease(now, len(delivery_ids)),
            attempts=Delivery.attempts + 1,
        )
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return sorted(won)


def claim(session: Session, delivery_id: int, now: datetime | None = None) -> bool:
    """claim_batch for one delivery: True only for the one sender that won."""
    return bool(claim_batch(session, [delivery_id], now))


def _retry_delay(attempts: int) -> timedelta:
    """Exponential, capped at five minutes: retries come from the relay, never from far-future ETAs."""
    base = current_app.config["DELIVERY_RETRY_BASE_SECONDS"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 300))


class _Ledger:
    """What a batch sender has done but not yet committed, and which claims it still holds. Every write is
    conditional on the claim being ours (status sending, our `claimed_at`), so a sender whose lease ran out
    and was taken over records nothing over the new sender's work."""

    def __init__(self, session: Session, claimed_at: datetime, ids: list[int]) -> None:
        self.session = session
        self.claimed_at = claimed_at
        self.held = set(ids)
        self.lease_until = _lease(claimed_at, len(ids))
        self.sent: list[int] = []
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self.recorded_at = monotonic()

    def _ours(self) -> sa.ColumnElement[bool]:
        return sa.and_(Delivery.status == DeliveryStatus.sending, Delivery.claimed_at == self.claimed_at)

    def record(self, delivery_id: int, failure: dict[str, Any] | None = None) -> None:
        if failure is None:
            self.sent.append(delivery_id)
        else:
            self.failures.append((delivery_id, failure))
        self.held.discard(delivery_id)
        if (
            len(self.sent) + len(self.failures) >= RECORD_EVERY_MESSAGES
            or monotonic() - self.recorded_at >= RECORD_EVERY_SECONDS
        ):
            self.commit()

    def commit(self) -> None:
        now = utcnow()
        if self.sent:
            self.session.execute(
                sa.update(Delivery)
                .where(Delivery.id.in_(self.sent), self._ours())
                .values(status=DeliveryStatus.sent, sent_at=now, last_error="", lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
        for delivery_id, values in self.failures:
            self.session.execute(
                sa.update(Delivery)
                .where(Delivery.id == delivery_id, self._ours())
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        base = timedelta(seconds=current_app.config["DELIVERY_LEASE_SECONDS"])
        if self.held and self.lease_until - now < base / 2:
            # Running low: renew what is left, and learn which of it is still ours.
            self.lease_until = _lease(now, len(self.held))
            self.held = set(
                self.session.scalars(
                    sa.update(Delivery)
                    .where(Delivery.id.in_(self.held), self._ours())
                    .values(lease_expires_at=self.lease_until)
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
        self.session.commit()
        self.sent, self.failures = [], []
        self.recorded_at = monotonic()


def send_batch(delivery_ids: list[int]) -> dict[int, str]:
    """Claims the deliveries in one UPDATE, sends them (e-mail over one SMTP connection for the whole batch)
    and records the outcomes a few at a time; returns {delivery id: "sent" | "retry" | "failed" |
    "skipped"}, "skipped" for those another sender holds."""
    outcomes = dict.fromkeys(delivery_ids, "skipped")
    with _sender_session() as session:
        now = utcnow()
        claimed = claim_batch(session, list(delivery_ids), now)
        if not claimed:
            return outcomes
        deliveries = session.scalars(
            sa.select(Delivery)
            .where(Delivery.id.in_(claimed))
            .options(selectinload(Delivery.notice))
            .order_by(Delivery.id)
            .execution_options(populate_existing=True)
        ).all()
        ledger = _Ledger(session, now, claimed)
        with Mailer() as mailer:
            for delivery in deliveries:
                if delivery.id not in ledger.held:
                    continue  # our lease ran out and another sender took it over
                outcomes[delivery.id], failure = _attempt(delivery, mailer)
                ledger.record(delivery.id, failure)
        ledger.commit()
        for notice_id in sorted({d.notice_id for d in deliveries}):
            _finish_notice(session, notice_id)
    return outcomes


def _attempt(delivery: Delivery, mailer: Mailer) -> tuple[str, dict[str, Any] | None]:
    """Sends one delivery of a batch: ("sent", None), or the outcome and the delivery's new values."""
    try:
        if delivery.notice.cancelled_at is not None:
            raise PermanentFailure("The notice was cancelled before this delivery was sent.")
        send(delivery, mailer)
    except TemporaryFailure as failure:
        return _after_failure(delivery, failure, permanent=False)
    except PermanentFailure as failure:
        return _after_failure(delivery, failure, permanent=True)
    except Exception as error:  # a surprise with one message must not strand the rest of the batch
        current_app.logger.exception("delivery %s: unexpected error", delivery.id)
        return _after_failure(delivery, TemporaryFailure(f"{type(error).__name__}: {error}"), permanent=False)
    return "sent", None


def send_delivery(delivery_id: int) -> str:
    """Claims and sends one delivery; returns what happened ("sent", "retry", "failed", "skipped")."""
    return send_batch([delivery_id])[delivery_id]


def _after_failure(
    delivery: Delivery, failure: SendFailure, *, permanent: bool
) -> tuple[str, dict[str, Any]]:
    """The outcome and the delivery's new values: failed for good, or queued again after a backoff."""
    values: dict[str, Any] = {"last_error": failure.message[:2000], "lease_expires_at": None}
    if permanent or delivery.attempts >= current_app.config["DELIVERY_MAX_ATTEMPTS"]:
        current_app.logger.warning("delivery %s failed: %s", delivery.id, values["last_error"])
        return "failed", {**values, "status": DeliveryStatus.failed}
    retry_at = utcnow() + _retry_delay(delivery.attempts)
    return "retry", {
        **values,
        "status": DeliveryStatus.queued,
        "enqueued_at": None,
        "next_attempt_at": retry_at,
    }


def _finish_notice(session: Session, notice_id: int) -> None:
    """A notice is done once none of its deliveries is still queued or sending."""
    # The first open delivery answers; counting them would read a whole large notice after every batch.
    still_open = session.scalar(
        sa.select(Delivery.id)
        .where(
            Delivery.notice_id == notice_id,
            Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending]),
        )
        .limit(1)
    )
    if still_open is None:
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


def send(delivery: Delivery, mailer: Mailer | None = None) -> None:
    """Sends through the delivery's channel (e-mail through `mailer`'s connection when given); raises
    TemporaryFailure or PermanentFailure."""
    subject = delivery.subject or delivery.notice.subject
    body = delivery.body or delivery.notice.body
    if delivery.channel == "email":
        fields = (delivery.recipient, delivery.recipient_name, subject, body)
        message_id = delivery.message_id or message_id_for(delivery)
        if mailer is not None:
            mailer.send(*fields, message_id)
            return
        with Mailer() as own:
            own.send(*fields, message_id)
        return
    from crm.notices.channels import send_text

    send_text(delivery, subject, body)


def build_message(to_email: str, to_name: str, subject: str, body: str, message_id: str = "") -> EmailMessage:
    """The message as an object of the email package (its default policy), for an address that is not
    ASCII: that needs SMTPUTF8, which smtplib's send_message negotiates."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = formataddr((to_name, to_email)) if to_name else to_email
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain=current_app.config["MESSAGE_ID_DOMAIN"])
    message.set_content(body)  # UTF-8; Korean subjects are RFC 2047 encoded by the policy
    return message


# UTF-8 bytes per encoded word: with "=?utf-8?b?" and "?=" a word is 66 characters, so "Subject: " and one
# word stay within 78 per line.
_WORD_BYTES = 42
_LINE_BREAKS = re.compile(r"[\r\n]+")


def render_message(to_email: str, to_name: str, subject: str, body: str, message_id: str) -> bytes:
    """The message exactly as it goes over SMTP (CRLF line ends), for an ASCII address. Written directly
    because the email package's default policy spent about 2 ms of CPU per message folding headers, most of
    a worker's time per delivery. Header text that is not ASCII becomes RFC 2047 encoded words (UTF-8,
    base64, whole characters), one per folded line; the body is UTF-8 in base64, as set_content sends
    Korean text."""
    head = "\r\n".join(
        [
            "From: " + _from_header(current_app.config["MAIL_FROM"]),
            "To: " + _mailbox(to_name, to_email),
            "Subject: " + _header_text(subject),
            "Message-ID: " + message_id,
            "Date: " + formatdate(usegmt=True),
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
        ]
    )
    encoded = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    return head.encode("ascii") + b"\r\n\r\n" + encoded


def _header_text(text: str) -> str:
    """Header text on one logical line: ASCII as it is (a line break becomes a space, so nothing can add a
    header), anything else as encoded words, each on a folded line of its own."""
    text = _LINE_BREAKS.sub(" ", text)
    if text.isascii() and len(text) <= 900:
        return text
    data = text.encode("utf-8")
    words: list[str] = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never split a character's bytes
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return "\r\n ".join(words)


def _mailbox(name: str, address: str) -> str:
    name = _LINE_BREAKS.sub(" ", name or "").strip()
    if not name:
        return address
    if name.isascii():
        return formataddr((name, address))  # quotes a name with specials
    words = _header_text(name)
    # Fold before the address when the last word's line would pass 78 characters with "From: " in front.
    separator = " " if len(words.rsplit("\r\n", 1)[-1]) + len(address) + 9 <= 78 else "\r\n "
    return f"{words}{separator}<{address}>"


@cache
def _from_header(mail_from: str) -> str:
    return _mailbox(*parseaddr(mail_from))


@cache
def _envelope_sender(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


class Mailer:
    """Where e-mail goes: over SMTP when SMTP_URL is set (smtp://user:pass@host:port, smtps:// for TLS,
    smtp+starttls://), else into OUTBOX_DIR as an .eml file named by the Message-ID (a resend overwrites,
    never duplicates), which is how `make run` sends mail on a bare machine.

    One SMTP connection serves every message of a batch. It is opened on the first message and again after
    the server dropped it; a server that cannot be reached at all fails the rest of the batch at once
    (temporarily) instead of waiting out a connection timeout per message."""

    def __init__(self) -> None:
        self.url = current_app.config.get("SMTP_URL")
        self.smtp: smtplib.SMTP | None = None
        self.unreachable: SendFailure | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def _drop(self) -> None:
        """Closes a connection in an unknown state without a QUIT that could wait out another timeout."""
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def _connect(self) -> smtplib.SMTP:
        if self.unreachable is not None:
            raise type(self.unreachable)(self.unreachable.message)
        parts = urlsplit(self.url or "")
        smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        try:
            smtp = smtp_class(parts.hostname or "127.0.0.1", parts.port or 25, timeout=30)
            if parts.scheme == "smtp+starttls":
                smtp.starttls()
            if parts.username:
                smtp.login(unquote(parts.username), unquote(parts.password or ""))
        except smtplib.SMTPResponseException as error:
            self.unreachable = _failure_for_code(error.smtp_code, error.smtp_error)
            raise self.unreachable from error
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            self.unreachable = TemporaryFailure(f"{type(error).__name__}: {error}")
            raise self.unreachable from error
        return smtp

    def send(self, to_email: str, to_name: str, subject: str, body: str, message_id: str) -> None:
        """Raises TemporaryFailure (4xx, connection trouble) or PermanentFailure (5xx)."""
        if to_email.isascii():
            raw, message = render_message(to_email, to_name, subject, body, message_id), None
        else:
            message = build_message(to_email, to_name, subject, body, message_id)
            raw = message.as_bytes()
        if not self.url:
            outbox = Path(current_app.config["OUTBOX_DIR"])
            outbox.mkdir(parents=True, exist_ok=True)
            name = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in message_id.strip("<>"))
            (outbox / f"{name}.eml").write_bytes(raw)
            return
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            if message is None:
                self._transmit(_envelope_sender(current_app.config["MAIL_FROM"]), to_email, raw)
            else:
                self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _failure_for_code(code, reply) from error
        except smtplib.SMTPResponseException as error:
            raise _failure_for_code(error.smtp_code, error.smtp_error) from error
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            # Whether the server took the message is unknown: it is retried later with the same Message-ID,
            # and the next one goes over a new connection.
            self._drop()
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from error
        finally:
            # A connection closed underneath (smtplib closes it after a 421) is opened again for the next one.
            if self.smtp is not None and self.smtp.sock is None:
                self.smtp = None

    def _transmit(self, sender: str, recipient: str, raw: bytes) -> None:
        """smtplib's sendmail for one bare ASCII address, without parsing both addresses again for every
        message (sendmail's quoteaddr was the largest single cost of a worker's CPU per message). Raises
        what sendmail raises, after resetting the transaction (or dropping the connection after a 421)."""
        smtp = self.smtp
        assert smtp is not None
        smtp.ehlo_or_helo_if_needed()
        size = f" SIZE={len(raw)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
        code, reply = smtp.docmd("mail", f"FROM:<{sender}>{size}")
        if code != 250:
            self._abort(code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = smtp.docmd("rcpt", f"TO:<{recipient}>")
        if code not in (250, 251):
            self._abort(code)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        try:
            code, reply = smtp.data(raw)
        except smtplib.SMTPDataError as error:  # refused DATA itself: no message was sent
            self._abort(error.smtp_code)
            raise
        if code != 250:
            self._abort(code)
            raise smtplib.SMTPDataError(code, reply)

    def _abort(self, code: int) -> None:
        """Ends a refused transaction with RSET, or drops the connection a 421 says the server is closing."""
        if code != 421 and self.smtp is not None:
            try:
                self.smtp.rset()
                return
            except smtplib.SMTPServerDisconnected:
                pass
        self._drop()


def send_email(to_email: str, to_name: str, subject: str, body: str, message_id: str = "") -> None:
    """One message on a connection of its own; raises TemporaryFailure or PermanentFailure."""
    message_id = message_id or make_msgid(domain=current_app.config["MESSAGE_ID_DOMAIN"])
    with Mailer() as mailer:
        mailer.send(to_email, to_name, subject, body, message_id)


def _failure_for_code(code: int, reply: bytes | str) -> SendFailure:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    message = f"SMTP {code}: {text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
