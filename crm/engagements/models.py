"""Engagements (지원과제): a firm supported by a programme, from the agreement to follow-up. Created in
`pending_agreement` when an application is selected, or directly by a coordinator for tracks without calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.programmes.models import Programme, Track

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
            cls.closed: _l("Case closed"),
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
# Tracks that move no money to the firm: they close straight after the final check (DESIGN.md §4).
TRACKS_WITHOUT_SETTLEMENT = frozenset({Track.diagnosis, Track.consulting, Track.training})
# The agreement binds money from `agreed` on; a terminated engagement keeps what it committed until settled.
COMMITTED_STATUSES = frozenset(
    {E.agreed, E.in_progress, E.final_report, E.final_check, E.settlement, E.closed, E.follow_up}
    | {E.terminated}
)
# Still running: a firm with one of these in a track cannot be selected again in that track.
RUNNING_STATUSES = frozenset(
    {E.pending_agreement, E.agreed, E.in_progress, E.final_report, E.final_check, E.settlement}
)


class Engagement(TimestampMixin, db.Model):
    __tablename__ = "engagements"
    __table_args__ = (
        # The quota dashboard counts a programme's engagements by status, with the timestamps its pace and
        # SLA figures compare, from this index alone (crm.dashboard.quotas); it also serves programme_id.
        sa.Index(
            "ix_engagements_programme_status",
            "programme_id",
            "status",
            postgresql_include=["status_changed_at", "created_at", "id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"))
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
    settlement_spent_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    settlement_returned_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    closed_on: Mapped[date | None]  # KST day it closed: the anchor of "closed" milestones and surveys
    # When the status last changed: the pipeline board's days in status and SLA flag.
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
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

    changes: Mapped[list[AgreementChange]] = relationship(
        back_populates="engagement", order_by="AgreementChange.id", cascade="all, delete-orphan"
    )

    @property
    def total_krw(self) -> int:
        """The engagement total the 60 % rule is measured against: every source, cash and in kind."""
        return self.gov_krw + self.local_krw + self.self_cash_krw + self.self_inkind_krw

    @property
    def public_krw(self) -> int:
        """국비 + 지방비: the public money the programme's per-firm cap limits."""
        return self.gov_krw + self.local_krw

    @property
    def has_settlement(self) -> bool:
        return self.programme.track not in TRACKS_WITHOUT_SETTLEMENT

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
    __table_args__ = (
        # When an engagement first reached a set of statuses (the dashboard's arrivals) is read from the
        # index alone; it also serves engagement_id.
        sa.Index("ix_engagement_history_engagement_status_at", "engagement_id", "to_status", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagements.id", ondelete="CASCADE"))
    from_status: Mapped[EngagementStatus | None] = mapped_column(
        enum_type(EngagementStatus, "from_engagement_status")
    )
    to_status: Mapped[EngagementStatus] = mapped_column(enum_type(EngagementStatus, "to_engagement_status"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    engagement: Mapped[Engagement] = relationship(back_populates="history")


class ChangeStatus(LabelledEnum):
    requested = "requested"
    approved = "approved"
    refused = "refused"
    withdrawn = "withdrawn"

    @classmethod
    def _titles(cls):
        return {
            cls.requested: _l("Awaiting approval"),
            cls.approved: _l("Approved"),
            cls.refused: _l("Refused"),
            cls.withdrawn: _l("Withdrawn"),
        }


CHANGE_TRANSITIONS: dict[ChangeStatus, frozenset[ChangeStatus]] = {
    ChangeStatus.requested: frozenset({ChangeStatus.approved, ChangeStatus.refused, ChangeStatus.withdrawn}),
    ChangeStatus.approved: frozenset(),
    ChangeStatus.refused: frozenset(),
    ChangeStatus.withdrawn: frozenset(),
}


class AgreementChange(db.Model):
    """A 협약변경: proposed new agreement values with a reason, applied only when approved."""

    __tablename__ = "agreement_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[ChangeStatus] = mapped_column(
        enum_type(ChangeStatus, "agreement_change_status"), default=ChangeStatus.requested
    )
    reason: Mapped[str] = mapped_column(sa.Text)
    # Only the fields that change: {"ends_on": "2026-12-31", "gov_krw": 30000000, ...}
    proposed: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # The same fields' values before the change, written when it is approved.
    previous: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")

    engagement: Mapped[Engagement] = relationship(back_populates="changes")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
