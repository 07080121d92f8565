"""Applications (신청) to calls, their status history and the other government support firms declare."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.programmes.models import Call, Programme, Track

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.documents.models import Document
    from crm.firms.models import Firm


class ApplicationStatus(LabelledEnum):
    draft = "draft"
    submitted = "submitted"
    eligibility = "eligibility"
    supplement_requested = "supplement_requested"
    ineligible = "ineligible"
    document_review = "document_review"
    presentation = "presentation"
    selected = "selected"
    reserve = "reserve"
    rejected = "rejected"
    withdrawn = "withdrawn"

    @classmethod
    def _titles(cls):
        return {
            cls.draft: _l("Draft"),
            cls.submitted: _l("Submitted"),
            cls.eligibility: _l("Eligibility check"),
            cls.supplement_requested: _l("Supplement requested"),
            cls.ineligible: _l("Ineligible"),
            cls.document_review: _l("Document review"),
            cls.presentation: _l("Presentation review"),
            cls.selected: _l("Selected"),
            cls.reserve: _l("Reserve"),
            cls.rejected: _l("Rejected"),
            cls.withdrawn: _l("Withdrawn"),
        }

    @property
    def public_title(self) -> str:
        """The stage name firms see (작성중, 접수완료 … 취소); ineligible reads as not selected (탈락)."""
        public = {
            ApplicationStatus.draft: _l("Draft"),
            ApplicationStatus.submitted: _l("Received"),
            ApplicationStatus.eligibility: _l("Eligibility check"),
            ApplicationStatus.supplement_requested: _l("Supplement requested"),
            ApplicationStatus.ineligible: _l("Not selected"),
            ApplicationStatus.document_review: _l("Document review"),
            ApplicationStatus.presentation: _l("Presentation review"),
            ApplicationStatus.selected: _l("Selected"),
            ApplicationStatus.reserve: _l("Reserve"),
            ApplicationStatus.rejected: _l("Not selected"),
            ApplicationStatus.withdrawn: _l("Cancelled"),
        }
        return str(public[self])

    @property
    def badge(self) -> str:
        if self in (ApplicationStatus.selected,):
            return "badge-ok"
        if self in (ApplicationStatus.supplement_requested, ApplicationStatus.reserve):
            return "badge-warn"
        if self in (ApplicationStatus.ineligible, ApplicationStatus.rejected):
            return "badge-danger"
        return ""

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


S = ApplicationStatus
DECISIONS = frozenset({S.selected, S.reserve, S.rejected})
FINAL_STATUSES = frozenset({S.ineligible, S.selected, S.rejected, S.withdrawn})
# The lifecycle of DESIGN.md §4. Stages a programme does not use are skipped, so the table allows the
# shortcuts and `next_review_stages` narrows them per programme.
APPLICATION_TRANSITIONS: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    S.draft: frozenset({S.submitted, S.withdrawn}),
    S.submitted: frozenset({S.eligibility, S.withdrawn}),
    S.eligibility: frozenset({S.supplement_requested, S.ineligible, S.document_review, S.presentation})
    | DECISIONS
    | {S.withdrawn},
    S.supplement_requested: frozenset({S.submitted, S.withdrawn}),
    S.document_review: frozenset({S.presentation}) | DECISIONS,
    S.presentation: DECISIONS,
    S.reserve: frozenset({S.selected, S.rejected}),
    S.ineligible: frozenset(),
    S.selected: frozenset(),
    S.rejected: frozenset(),
    S.withdrawn: frozenset(),
}
# Moves a firm user makes on its own application; staff make every other move.
FIRM_MOVES = frozenset({S.submitted, S.withdrawn})
# Where a firm may still change answers and documents.
EDITABLE_BY_FIRM = frozenset({S.draft, S.supplement_requested})


class Application(TimestampMixin, db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        sa.UniqueConstraint("firm_id", "call_id", name="uq_applications_firm_call"),
        # submitted_at rides along so the dashboard's "applied" count reads no table rows.
        sa.Index("ix_applications_call_status", "call_id", "status", postgresql_include=["submitted_at"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("calls.id"))
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_type(ApplicationStatus, "application_status"), default=ApplicationStatus.draft
    )
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    supplement_message: Mapped[str] = mapped_column(sa.Text, default="")
    supplement_due_on: Mapped[date | None]
    # The last automatic eligibility check: {"checked_at": iso, "problems": [{"code", "message"}]}.
    eligibility_result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Optimistic concurrency: a form carries the version it was loaded with, and SQLAlchemy refuses an
    # UPDATE whose row moved on in between (StaleDataError).
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    call: Mapped[Call] = relationship()
    firm: Mapped[Firm] = relationship()
    created_by: Mapped[User | None] = relationship()
    history: Mapped[list[ApplicationHistory]] = relationship(
        back_populates="application", order_by="ApplicationHistory.id", cascade="all, delete-orphan"
    )
    declared_supports: Mapped[list[DeclaredSupport]] = relationship(
        back_populates="application", order_by="DeclaredSupport.id", cascade="all, delete-orphan"
    )
    documents: Mapped[list[Document]] = relationship(order_by="Document.id")

    @property
    def programme(self) -> Programme:
        return self.call.programme

    @property
    def current_documents(self) -> list[Document]:
        return [d for d in self.documents if d.superseded_at is None]

    def current_document(self, kind: str) -> Document | None:
        return next((d for d in self.current_documents if d.kind == kind), None)

    @property
    def missing_document_kinds(self) -> list[dict[str, str]]:
        have = {d.kind for d in self.current_documents}
        return [doc for doc in self.call.required_documents or [] if doc["kind"] not in have]

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins all; a consortium manager its consortium's calls; a coordinator its institution's
        programmes; a firm user its own firm's; an evaluator those assigned to it, once it has declared no
        conflict of interest."""
        from crm.auth.models import Role
        from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment
        from crm.programmes.models import ProgrammeYear

        if user.role is Role.admin:
            return sa.true()
        if user.role is Role.consortium_manager and user.scope_consortium_id:
            return cls.call_id.in_(
                sa.select(Call.id)
                .join(Programme, Call.programme_id == Programme.id)
                .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
                .where(ProgrammeYear.consortium_id == user.scope_consortium_id)
            )
        if user.role is Role.coordinator and user.institution_id:
            return cls.call_id.in_(
                sa.select(Call.id)
                .join(Programme, Call.programme_id == Programme.id)
                .where(Programme.institution_id == user.institution_id)
            )
        if user.role is Role.firm_user and user.firm_id:
            return cls.firm_id == user.firm_id
        if user.role is Role.evaluator:
            return cls.id.in_(
                sa.select(EvaluatorAssignment.application_id).where(
                    EvaluatorAssignment.evaluator_id == user.id,
                    EvaluatorAssignment.status.in_(AssignmentStatus.may_see_application()),
                )
            )
        return sa.false()

    def __str__(self) -> str:
        return f"#{self.id} {self.firm.name} · {self.call.title}"


class ApplicationHistory(db.Model):
    """One row per status move: from, to, by, at, why. Never edited."""

    __tablename__ = "application_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[ApplicationStatus | None] = mapped_column(
        enum_type(ApplicationStatus, "from_application_status")
    )
    to_status: Mapped[ApplicationStatus] = mapped_column(
        enum_type(ApplicationStatus, "to_application_status")
    )
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")

    application: Mapped[Application] = relationship(back_populates="history")
    actor: Mapped[User | None] = relationship()


class DeclaredSupport(db.Model):
    """Other government support the firm declares (received or ongoing); the duplicate-support guard
    counts it like an engagement of the same track."""

    __tablename__ = "declared_supports"
    __table_args__ = (
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    agency: Mapped[str] = mapped_column(sa.String(200))  # 지원기관, e.g. 중소벤처기업진흥공단
    programme_name: Mapped[str] = mapped_column(sa.String(200))
    track: Mapped[Track | None] = mapped_column(enum_type(Track, "track"))
    started_on: Mapped[date]
    ended_on: Mapped[date | None]  # None: still running
    amount_krw: Mapped[int | None] = mapped_column(sa.BigInteger)

    application: Mapped[Application] = relationship(back_populates="declared_supports")
