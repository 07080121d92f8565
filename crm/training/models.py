"""Training sessions and the people registered for them."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime
from crm.extensions import db
from crm.privacy.retention import registration_retention_until

if TYPE_CHECKING:
    from crm.engagements.models import Engagement
    from crm.firms.models import Firm
    from crm.programmes.models import Programme


class TrainingSession(TimestampMixin, db.Model):
    __tablename__ = "training_sessions"
    __table_args__ = (
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
        sa.CheckConstraint("hours >= 0", name="hours_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    course: Mapped[str] = mapped_column(sa.String(200))
    held_on: Mapped[date]
    starts_at: Mapped[time | None]
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(5, 1), default=Decimal("0"))
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    capacity: Mapped[int]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    programme: Mapped[Programme] = relationship()
    registrations: Mapped[list[TrainingRegistration]] = relationship(
        back_populates="session", order_by="TrainingRegistration.id", cascade="all, delete-orphan"
    )


class TrainingRegistration(TimestampMixin, db.Model):
    """A person registered for a session; `attended` stays None until attendance is taken."""

    __tablename__ = "training_registrations"
    __table_args__ = (sa.UniqueConstraint("session_id", "email", name="uq_training_registrations_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("training_sessions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str] = mapped_column(sa.String(254))
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagements.id"))
    attended: Mapped[bool | None]
    attendance_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Registration day + 3 years (crm.privacy.retention); the purge anonymises the person afterwards.
    retention_until: Mapped[date | None] = mapped_column(
        sa.Date, index=True, default=lambda: registration_retention_until()
    )

    session: Mapped[TrainingSession] = relationship(back_populates="registrations")
    firm: Mapped[Firm | None] = relationship()
    engagement: Mapped[Engagement | None] = relationship()
