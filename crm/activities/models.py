"""One consulting session, visit, call or meeting with a firm, optionally within an engagement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.engagements.models import Engagement
    from crm.firms.models import Firm


class ActivityKind(LabelledEnum):
    consulting_session = "consulting_session"
    visit = "visit"
    call = "call"
    meeting = "meeting"

    @classmethod
    def _titles(cls):
        return {
            cls.consulting_session: _l("Consulting session"),
            cls.visit: _l("Site visit"),
            cls.call: _l("Phone call"),
            cls.meeting: _l("Meeting"),
        }


class Activity(TimestampMixin, db.Model):
    __tablename__ = "activities"
    __table_args__ = (sa.CheckConstraint("hours >= 0", name="hours_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    engagement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ActivityKind] = mapped_column(enum_type(ActivityKind, "activity_kind"))
    occurred_on: Mapped[date]
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(6, 1), default=Decimal("0"))
    participants: Mapped[str] = mapped_column(sa.Text, default="")
    summary: Mapped[str] = mapped_column(sa.Text)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    firm: Mapped[Firm] = relationship()
    engagement: Mapped[Engagement | None] = relationship()
    recorded_by: Mapped[User | None] = relationship()
