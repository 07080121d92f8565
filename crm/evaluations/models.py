"""Evaluator assignments, conflict-of-interest declarations and scores."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.applications.models import Application
    from crm.auth.models import User


class AssignmentStatus(LabelledEnum):
    awaiting_declaration = "awaiting_declaration"  # must declare no conflict before seeing the application
    scoring = "scoring"
    submitted = "submitted"
    recused = "recused"  # declared a conflict of interest: the assignment no longer counts

    @classmethod
    def _titles(cls):
        return {
            cls.awaiting_declaration: _l("Awaiting declaration"),
            cls.scoring: _l("Scoring"),
            cls.submitted: _l("Scores submitted"),
            cls.recused: _l("Conflict of interest — removed"),
        }

    @classmethod
    def may_see_application(cls) -> frozenset[AssignmentStatus]:
        """An evaluator sees the application only after declaring no conflict of interest."""
        return frozenset({cls.scoring, cls.submitted})


ASSIGNMENT_TRANSITIONS: dict[AssignmentStatus, frozenset[AssignmentStatus]] = {
    AssignmentStatus.awaiting_declaration: frozenset({AssignmentStatus.scoring, AssignmentStatus.recused}),
    AssignmentStatus.scoring: frozenset({AssignmentStatus.submitted}),
    AssignmentStatus.submitted: frozenset(),
    AssignmentStatus.recused: frozenset(),
}


class EvaluatorAssignment(db.Model):
    __tablename__ = "evaluator_assignments"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "evaluator_id", name="uq_evaluator_assignments_app_evaluator"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    evaluator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[AssignmentStatus] = mapped_column(
        enum_type(AssignmentStatus, "assignment_status"), default=AssignmentStatus.awaiting_declaration
    )
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    conflict_statement: Mapped[str] = mapped_column(sa.Text, default="")
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    application: Mapped[Application] = relationship()
    evaluator: Mapped[User] = relationship(foreign_keys=[evaluator_id])
    assigned_by: Mapped[User | None] = relationship(foreign_keys=[assigned_by_id])
    scores: Mapped[list[Score]] = relationship(
        back_populates="assignment", order_by="Score.id", cascade="all, delete-orphan"
    )


class Score(db.Model):
    """One criterion's score from one evaluator, between 0 and the criterion's max_score."""

    __tablename__ = "scores"
    __table_args__ = (
        sa.UniqueConstraint("assignment_id", "criterion_key", name="uq_scores_assignment_criterion"),
        sa.CheckConstraint("value >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evaluator_assignments.id", ondelete="CASCADE"), index=True
    )
    criterion_key: Mapped[str] = mapped_column(sa.String(50))
    value: Mapped[float] = mapped_column(sa.Numeric(6, 2, asdecimal=False))

    assignment: Mapped[EvaluatorAssignment] = relationship(back_populates="scores")
