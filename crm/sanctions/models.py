"""Sanctions (참여제한 / 환수 / 경고) on firms; an active participation ban makes a firm ineligible."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.firms.models import Firm


class SanctionKind(LabelledEnum):
    participation_ban = "participation_ban"  # 참여제한
    clawback = "clawback"  # 환수
    warning = "warning"  # 경고

    @classmethod
    def _titles(cls):
        return {
            cls.participation_ban: _l("Participation ban"),
            cls.clawback: _l("Clawback"),
            cls.warning: _l("Warning"),
        }


class AppealStatus(LabelledEnum):
    none = "none"
    pending = "pending"
    upheld = "upheld"
    overturned = "overturned"

    @classmethod
    def _titles(cls):
        return {
            cls.none: _l("No appeal"),
            cls.pending: _l("Appeal pending"),
            cls.upheld: _l("Appeal rejected"),
            cls.overturned: _l("Overturned on appeal"),
        }


class Sanction(TimestampMixin, db.Model):
    __tablename__ = "sanctions"
    __table_args__ = (
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="dates_in_order"),
        sa.CheckConstraint("amount_krw IS NULL OR amount_krw >= 0", name="amount_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    kind: Mapped[SanctionKind] = mapped_column(enum_type(SanctionKind, "sanction_kind"))
    basis: Mapped[str] = mapped_column(sa.Text)  # legal basis and facts, e.g. 협약 위반 (제00조)
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    amount_krw: Mapped[int | None] = mapped_column(sa.BigInteger)  # for clawbacks
    appeal_status: Mapped[AppealStatus] = mapped_column(
        enum_type(AppealStatus, "appeal_status"), default=AppealStatus.none, server_default="none"
    )
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagements.id"))
    imposed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lifted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lift_reason: Mapped[str] = mapped_column(sa.Text, default="")

    firm: Mapped[Firm] = relationship()

    def blocks_participation_on(self, day: date) -> bool:
        return (
            self.kind is SanctionKind.participation_ban
            and self.appeal_status is not AppealStatus.overturned
            and self.lifted_at is None
            and self.starts_on <= day
            and (self.ends_on is None or self.ends_on >= day)
        )

    @classmethod
    def active_ban_on(cls, day: date) -> sa.ColumnElement[bool]:
        return sa.and_(
            cls.kind == SanctionKind.participation_ban,
            cls.appeal_status != AppealStatus.overturned,
            cls.lifted_at.is_(None),
            cls.starts_on <= day,
            sa.or_(cls.ends_on.is_(None), cls.ends_on >= day),
        )
