"""GPU hours granted to an engagement and the usage recorded against them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin
from crm.extensions import db

if TYPE_CHECKING:
    from crm.engagements.models import Engagement


class GpuAllocation(TimestampMixin, db.Model):
    __tablename__ = "gpu_allocations"
    __table_args__ = (sa.CheckConstraint("hours_granted >= 0", name="hours_granted_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), unique=True
    )
    hours_granted: Mapped[Decimal] = mapped_column(sa.Numeric(10, 1))
    granted_on: Mapped[date]
    # What was granted, e.g. "A100 80GB × 2, 광주 AI 데이터센터"
    resource: Mapped[str] = mapped_column(sa.String(200), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    granted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    engagement: Mapped[Engagement] = relationship()
    usages: Mapped[list[GpuUsage]] = relationship(
        back_populates="allocation", order_by="GpuUsage.used_on", cascade="all, delete-orphan"
    )


class GpuUsage(TimestampMixin, db.Model):
    __tablename__ = "gpu_usages"
    __table_args__ = (sa.CheckConstraint("hours > 0", name="hours_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("gpu_allocations.id", ondelete="CASCADE"), index=True
    )
    used_on: Mapped[date]
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(10, 1))
    purpose: Mapped[str] = mapped_column(sa.String(300), default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    allocation: Mapped[GpuAllocation] = relationship(back_populates="usages")
