"""A milestone is a dated duty of an engagement, owned by staff or by the firm. Its status is derived:
done and waived are recorded; overdue is an open milestone whose due day (KST) has passed."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type
from crm.core.enums import LabelledEnum
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.documents.models import Document


class MilestoneOwner(LabelledEnum):
    staff = "staff"
    firm = "firm"

    @classmethod
    def _titles(cls):
        return {cls.staff: _l("Staff"), cls.firm: _l("Firm")}


class MilestoneStatus(LabelledEnum):
    """Derived, never stored: API.md filters by open, done and overdue."""

    open = "open"
    overdue = "overdue"
    done = "done"
    waived = "waived"

    @classmethod
    def _titles(cls):
        return {
            cls.open: _l("Open"),
            cls.overdue: _l("Overdue"),
            cls.done: _l("Done"),
            cls.waived: _l("Waived"),
        }

    @property
    def badge(self) -> str:
        return {
            MilestoneStatus.open: "",
            MilestoneStatus.overdue: "badge-danger",
            MilestoneStatus.done: "badge-ok",
            MilestoneStatus.waived: "",
        }[self]


class Milestone(TimestampMixin, db.Model):
    __tablename__ = "milestones"
    __table_args__ = (
        sa.CheckConstraint("NOT (done_at IS NOT NULL AND waived_at IS NOT NULL)", name="done_or_waived"),
        sa.Index("ix_milestones_due_on", "due_on"),
        # Open milestones by due day, for the daily reminder sweep (due within a week or overdue) and the
        # open/overdue lists: a small share of all milestones once most are done.
        sa.Index(
            "ix_milestones_open_due_on",
            "due_on",
            postgresql_where=sa.text("done_at IS NULL AND waived_at IS NULL"),
            sqlite_where=sa.text("done_at IS NULL AND waived_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(50))
    title: Mapped[str] = mapped_column(sa.String(200))
    # Where the due day came from, so a change of agreement dates can re-plan it; None when added by hand.
    anchor: Mapped[str | None] = mapped_column(sa.String(10))
    offset_days: Mapped[int | None]
    due_on: Mapped[date]
    owner: Mapped[MilestoneOwner] = mapped_column(enum_type(MilestoneOwner, "milestone_owner"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    evidence_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id"))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    waived_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    waive_reason: Mapped[str] = mapped_column(sa.Text, default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")

    engagement: Mapped[Engagement] = relationship()
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    waived_by: Mapped[User | None] = relationship(foreign_keys=[waived_by_id])
    evidence: Mapped[Document | None] = relationship()

    @property
    def is_closed(self) -> bool:
        return self.done_at is not None or self.waived_at is not None

    def status_on(self, day: date) -> MilestoneStatus:
        if self.done_at is not None:
            return MilestoneStatus.done
        if self.waived_at is not None:
            return MilestoneStatus.waived
        return MilestoneStatus.overdue if self.due_on < day else MilestoneStatus.open

    @property
    def status(self) -> MilestoneStatus:
        return self.status_on(today_kst())

    def days_left(self, day: date | None = None) -> int:
        """D-N: positive before the due day, 0 on it, negative once overdue (KST)."""
        return (self.due_on - (day or today_kst())).days

    @classmethod
    def open_clause(cls) -> sa.ColumnElement[bool]:
        return sa.and_(cls.done_at.is_(None), cls.waived_at.is_(None))

    @classmethod
    def status_clause(cls, status: MilestoneStatus, day: date | None = None) -> sa.ColumnElement[bool]:
        day = day or today_kst()
        if status is MilestoneStatus.done:
            return cls.done_at.is_not(None)
        if status is MilestoneStatus.waived:
            return cls.waived_at.is_not(None)
        if status is MilestoneStatus.overdue:
            return sa.and_(cls.open_clause(), cls.due_on < day)
        return sa.and_(cls.open_clause(), cls.due_on >= day)

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Through the engagement: whoever sees the engagement sees its milestones."""
        return cls.engagement_id.in_(sa.select(Engagement.id).where(Engagement.visible_to(user)))

    def __str__(self) -> str:
        return f"{self.title} ({self.due_on.isoformat()})"
