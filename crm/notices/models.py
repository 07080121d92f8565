"""The notice outbox (DESIGN.md §6): the web request writes a Notice and one Delivery per recipient in its
own transaction; a sender claims each Delivery atomically before sending, so nothing is lost or doubled."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db


class NoticeKind(LabelledEnum):
    account = "account"  # e-mail verification and other account mail
    status_change = "status_change"  # 접수 완료, 보완 요청, 선정 결과 …
    reminder = "reminder"
    cohort = "cohort"  # written by a coordinator for an audience

    @classmethod
    def _titles(cls):
        return {
            cls.account: _l("Account"),
            cls.status_change: _l("Status change"),
            cls.reminder: _l("Reminder"),
            cls.cohort: _l("Cohort notice"),
        }


class NoticeStatus(LabelledEnum):
    scheduled = "scheduled"
    sending = "sending"
    done = "done"
    cancelled = "cancelled"

    @classmethod
    def _titles(cls):
        return {
            cls.scheduled: _l("Scheduled"),
            cls.sending: _l("Sending"),
            cls.done: _l("Done"),
            cls.cancelled: _l("Cancelled"),
        }


class DeliveryStatus(LabelledEnum):
    queued = "queued"  # waiting for a sender (first try, or a retry after a temporary failure)
    sending = "sending"  # claimed by a sender, under a lease
    sent = "sent"
    failed = "failed"  # a permanent refusal, or retries used up; staff can retry it by hand

    @classmethod
    def _titles(cls):
        return {
            cls.queued: _l("Queued"),
            cls.sending: _l("Sending"),
            cls.sent: _l("Sent"),
            cls.failed: _l("Failed"),
        }


class Notice(db.Model):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[NoticeKind] = mapped_column(enum_type(NoticeKind, "notice_kind"))
    channel: Mapped[str] = mapped_column(sa.String(20), default="email", server_default="email")
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    # What the notice is about, for the firm's notice list and for tracing: ("application", 12).
    subject_type: Mapped[str | None] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    audience: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[NoticeStatus] = mapped_column(
        enum_type(NoticeStatus, "notice_status"), default=NoticeStatus.scheduled
    )
    send_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Marketing-type notices go only to contacts who opted in, and never 21:00–08:00 KST.
    marketing: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="notice", order_by="Delivery.id", cascade="all, delete-orphan"
    )


class Delivery(db.Model):
    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("notice_id", "recipient", name="uq_deliveries_notice_recipient"),
        sa.Index("ix_deliveries_status", "status"),
        sa.UniqueConstraint("message_id", name="uq_deliveries_message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(254))  # an e-mail address for the e-mail channel
    recipient_name: Mapped[str] = mapped_column(sa.String(100), default="")
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, "delivery_status"), default=DeliveryStatus.queued
    )
    channel: Mapped[str] = mapped_column(sa.String(20), default="email", server_default="email")
    locale: Mapped[str] = mapped_column(sa.String(5), default="ko", server_default="ko")
    # Rendered for this recipient (variables, language); empty means the notice's own subject and body.
    subject: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    body: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # Deterministic, so a resend after a lost acknowledgement carries the same Message-ID.
    message_id: Mapped[str | None] = mapped_column(sa.String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notice: Mapped[Notice] = relationship(back_populates="deliveries")


class ReminderRule(LabelledEnum):
    d7 = "d7"
    d1 = "d1"
    overdue = "overdue"  # the first overdue day, then weekly

    @classmethod
    def _titles(cls):
        return {cls.d7: _l("7 days before"), cls.d1: _l("1 day before"), cls.overdue: _l("Overdue")}


class Reminder(db.Model):
    """One reminder of one milestone for one rule and day: the unique key makes a sweep that runs twice, or
    a task that is redelivered, send nothing new."""

    __tablename__ = "reminders"
    __table_args__ = (
        sa.UniqueConstraint("milestone_id", "rule", "due_on", name="uq_reminders_milestone_rule_day"),
        # For deleting a notice (ON DELETE SET NULL looks its reminder up), e.g. those a sweep takes back
        # when a concurrent sweep sent the same reminders: without it, a scan of all reminders per notice.
        sa.Index(
            "ix_reminders_notice_id",
            "notice_id",
            postgresql_where=sa.text("notice_id IS NOT NULL"),
            sqlite_where=sa.text("notice_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique key's leading column serves lookups by milestone and the cascade.
    milestone_id: Mapped[int] = mapped_column(sa.ForeignKey("milestones.id", ondelete="CASCADE"))
    rule: Mapped[ReminderRule] = mapped_column(enum_type(ReminderRule, "reminder_rule"))
    due_on: Mapped[date]  # the day this reminder is for (the milestone's due day, or the overdue week's day)
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Heartbeat(db.Model):
    """The last sign of life of beat, the reminder sweep and each worker, for the health page."""

    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)  # "beat", "sweep", "worker@host"
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
