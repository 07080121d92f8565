"""Engagements (지원과제): a firm supported by a programme. Created in `pending_agreement` when an
application is selected; the Engagements issue adds agreements, funding, milestones and the rest."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.programmes.models import Programme

if TYPE_CHECKING:
    from crm.applications.models import Application
    from crm.auth.models import User
    from crm.firms.models import Firm


class EngagementStatus(LabelledEnum):
    pending_agreement = "pending_agreement"
    agreed = "agreed"
    in_progress = "in_progress"
    final_report = "final_report"
    final_check = "final_check"
    settlement = "settlement"
    closed = "closed"
    follow_up = "follow_up"
    cancelled = "cancelled"
    terminated = "terminated"

    @classmethod
    def _titles(cls):
        return {
            cls.pending_agreement: _l("Awaiting agreement"),
            cls.agreed: _l("Agreed"),
            cls.in_progress: _l("In progress"),
            cls.final_report: _l("Final report"),
            cls.final_check: _l("Final check"),
            cls.settlement: _l("Settlement"),
            cls.closed: _l("Closed"),
            cls.follow_up: _l("Follow-up"),
            cls.cancelled: _l("Selection cancelled"),
            cls.terminated: _l("Terminated"),
        }


E = EngagementStatus
ENGAGEMENT_TRANSITIONS: dict[EngagementStatus, frozenset[EngagementStatus]] = {
    E.pending_agreement: frozenset({E.agreed, E.cancelled}),
    E.agreed: frozenset({E.in_progress, E.terminated}),
    E.in_progress: frozenset({E.final_report, E.terminated}),
    E.final_report: frozenset({E.final_check, E.terminated}),
    E.final_check: frozenset({E.settlement, E.closed}),  # tracks without money skip settlement
    E.settlement: frozenset({E.closed}),
    E.closed: frozenset({E.follow_up}),
    E.follow_up: frozenset(),
    E.cancelled: frozenset(),
    E.terminated: frozenset(),
}
# Still running: a firm with one of these in a track cannot be selected again in that track.
RUNNING_STATUSES = frozenset(
    {E.pending_agreement, E.agreed, E.in_progress, E.final_report, E.final_check, E.settlement}
)


class Engagement(TimestampMixin, db.Model):
    __tablename__ = "engagements"

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("applications.id"), unique=True)
    status: Mapped[EngagementStatus] = mapped_column(
        enum_type(EngagementStatus, "engagement_status"), default=EngagementStatus.pending_agreement
    )
    coordinator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    agreed_on: Mapped[date | None]
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    gov_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    local_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    self_cash_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    self_inkind_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    supplier_firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id"))
    solution: Mapped[str] = mapped_column(sa.String(300), default="")
    # Set when a consortium manager overrode the duplicate-support guard to create this engagement.
    duplicate_override_reason: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    firm: Mapped[Firm] = relationship(foreign_keys=[firm_id])
    programme: Mapped[Programme] = relationship()
    application: Mapped[Application | None] = relationship()
    coordinator: Mapped[User | None] = relationship()
    supplier_firm: Mapped[Firm | None] = relationship(foreign_keys=[supplier_firm_id])
    history: Mapped[list[EngagementHistory]] = relationship(
        back_populates="engagement", order_by="EngagementHistory.id", cascade="all, delete-orphan"
    )

    @property
    def period_end(self) -> date:
        """When the support ends: the agreement's end, else the programme year's."""
        return self.ends_on or self.programme.programme_year.ends_on

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins all; managers their consortium's; coordinators their institution's; firm users their own."""
        from crm.auth.models import Role
        from crm.programmes.models import ProgrammeYear

        if user.role is Role.admin:
            return sa.true()
        if user.role is Role.consortium_manager and user.scope_consortium_id:
            return cls.programme_id.in_(
                sa.select(Programme.id)
                .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
                .where(ProgrammeYear.consortium_id == user.scope_consortium_id)
            )
        if user.role is Role.coordinator and user.institution_id:
            return cls.programme_id.in_(
                sa.select(Programme.id).where(Programme.institution_id == user.institution_id)
            )
        if user.role is Role.firm_user and user.firm_id:
            return cls.firm_id == user.firm_id
        return sa.false()

    def __str__(self) -> str:
        return f"#{self.id} {self.firm.name} · {self.programme.name}"


class EngagementHistory(db.Model):
    __tablename__ = "engagement_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[EngagementStatus | None] = mapped_column(
        enum_type(EngagementStatus, "from_engagement_status")
    )
    to_status: Mapped[EngagementStatus] = mapped_column(enum_type(EngagementStatus, "to_engagement_status"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    engagement: Mapped[Engagement] = relationship(back_populates="history")
