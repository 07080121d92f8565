"""The notice outbox (DESIGN.md §6): the web request writes a Notice and one Delivery per recipient in its
own transaction; a sender claims each Delivery atomically before sending, so nothing is lost or doubled."""

from __future__ import annotations

from datetime import datetime
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
    pending = "pending"
    sending = "sending"  # claimed by a sender
    sent = "sent"
    failed = "failed"  # gave up after retries; can be retried by hand

    @classmethod
    def _titles(cls):
        return {
            cls.pending: _l("Pending"),
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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(254))  # an e-mail address for the e-mail channel
    recipient_name: Mapped[str] = mapped_column(sa.String(100), default="")
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_type(DeliveryStatus, "delivery_status"), default=DeliveryStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    notice: Mapped[Notice] = relationship(back_populates="deliveries")
