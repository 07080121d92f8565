from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.organisation.models import Consortium, Institution


class Track(LabelledEnum):
    diagnosis = "diagnosis"
    consulting = "consulting"
    adoption = "adoption"
    validation = "validation"
    incubation = "incubation"
    training = "training"
    infrastructure = "infrastructure"

    @classmethod
    def _titles(cls):
        return {
            cls.diagnosis: _l("AI readiness diagnosis"),
            cls.consulting: _l("Consulting"),
            cls.adoption: _l("AI solution adoption"),
            cls.validation: _l("Validation / PoC"),
            cls.incubation: _l("Incubation"),
            cls.training: _l("AI training"),
            cls.infrastructure: _l("GPU infrastructure"),
        }


class CountingPoint(LabelledEnum):
    selected = "selected"
    agreed = "agreed"
    completed = "completed"

    @classmethod
    def _titles(cls):
        return {
            cls.selected: _l("Selected"),
            cls.agreed: _l("Agreed"),
            cls.completed: _l("Completed"),
        }


class TargetUnit(LabelledEnum):
    firms = "firms"
    people = "people"
    gpu_hours = "gpu_hours"

    @classmethod
    def _titles(cls):
        return {cls.firms: _l("firms"), cls.people: _l("people"), cls.gpu_hours: _l("GPU hours")}


class ReviewStage(LabelledEnum):
    """Optional application stages; eligibility is always used."""

    document_review = "document_review"
    presentation = "presentation"

    @classmethod
    def _titles(cls):
        return {cls.document_review: _l("Document review"), cls.presentation: _l("Presentation review")}


# Where each track counts towards its quota unless the programme says otherwise (DESIGN.md §3).
DEFAULT_COUNTING_POINT = {
    Track.diagnosis: CountingPoint.completed,
    Track.consulting: CountingPoint.completed,
    Track.adoption: CountingPoint.agreed,
    Track.validation: CountingPoint.agreed,
    Track.incubation: CountingPoint.selected,
    Track.training: CountingPoint.completed,
    Track.infrastructure: CountingPoint.agreed,
}
DEFAULT_UNIT = {Track.training: TargetUnit.people, Track.infrastructure: TargetUnit.gpu_hours}


class BudgetMixin:
    """A budget by source, in 원: 국비 (national), 지방비 (local), 자부담 (firms' own share)."""

    budget_gov_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    budget_local_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    budget_self_krw: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")

    @property
    def budget_total_krw(self) -> int:
        return self.budget_gov_krw + self.budget_local_krw + self.budget_self_krw


class ProgrammeYear(BudgetMixin, TimestampMixin, db.Model):
    """A programme year (연차); not a calendar year."""

    __tablename__ = "programme_years"
    __table_args__ = (
        sa.UniqueConstraint("consortium_id", "ordinal", name="uq_programme_years_consortium_ordinal"),
        sa.CheckConstraint("ends_on > starts_on", name="dates_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(sa.ForeignKey("consortia.id"), index=True)
    ordinal: Mapped[int]
    starts_on: Mapped[date]
    ends_on: Mapped[date]

    consortium: Mapped[Consortium] = relationship(back_populates="programme_years")
    programmes: Mapped[list[Programme]] = relationship(
        back_populates="programme_year", order_by="Programme.id"
    )

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """The same audience as the programmes of the year (see `Programme.visible_to`)."""
        from crm.auth.models import Role

        if user.role in (Role.admin, Role.national_viewer):
            return sa.true()
        if user.role in (Role.consortium_manager, Role.coordinator) and user.scope_consortium_id:
            return cls.consortium_id == user.scope_consortium_id
        return sa.false()

    def can_manage(self, user: Any) -> bool:
        from crm.auth.models import Role

        if user.role is Role.admin:
            return True
        return user.role is Role.consortium_manager and user.scope_consortium_id == self.consortium_id

    @property
    def label(self) -> str:
        return str(
            _l("Year %(n)s (%(start)s – %(end)s)", n=self.ordinal, start=self.starts_on, end=self.ends_on)
        )

    def __str__(self) -> str:
        return f"{self.consortium.name} · {self.label}"


class Programme(BudgetMixin, TimestampMixin, db.Model):
    """A sub-programme (세부사업) run by one institution in one programme year."""

    __tablename__ = "programmes"
    __table_args__ = (
        sa.CheckConstraint("target > 0", name="target_positive"),
        sa.CheckConstraint("exclusivity_years >= 0", name="exclusivity_not_negative"),
        sa.CheckConstraint("survey_rounds >= 0", name="survey_rounds_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_year_id: Mapped[int] = mapped_column(sa.ForeignKey("programme_years.id"), index=True)
    institution_id: Mapped[int] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    track: Mapped[Track] = mapped_column(enum_type(Track, "track"), index=True)
    target: Mapped[int]
    unit: Mapped[TargetUnit] = mapped_column(enum_type(TargetUnit, "target_unit"))
    counting_point: Mapped[CountingPoint] = mapped_column(enum_type(CountingPoint, "counting_point"))
    per_firm_cap_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    exclusivity_years: Mapped[int] = mapped_column(default=0, server_default="0")
    requires_sme_certificate: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    excluded_ksic_prefixes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    review_stages: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # [{"kind", "title", "anchor": "start"|"mid"|"end"|"closed", "offset_days", "owner": "staff"|"firm"}]
    milestone_templates: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # Days an engagement may stay in a status before the pipeline board flags it: {"agreed": 30, ...}
    sla_days: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)
    # Yearly outcome-survey rounds after closing (성과조사), and the KPI indicators each round asks for.
    survey_rounds: Mapped[int] = mapped_column(default=0, server_default="0")
    survey_indicators: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Reminders due on a Saturday, Sunday or Korean public holiday wait for the next business day's sweep.
    reminders_on_business_days: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    programme_year: Mapped[ProgrammeYear] = relationship(back_populates="programmes")
    institution: Mapped[Institution] = relationship()
    calls: Mapped[list[Call]] = relationship(back_populates="programme", order_by="Call.opens_at")

    @property
    def consortium_id(self) -> int:
        return self.programme_year.consortium_id

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins and national viewers see every programme; a consortium's managers and coordinators see
        that consortium's; evaluators and firm users see programmes only through calls and applications."""
        from crm.auth.models import Role

        if user.role in (Role.admin, Role.national_viewer):
            return sa.true()
        if user.role in (Role.consortium_manager, Role.coordinator) and user.scope_consortium_id:
            return cls.programme_year_id.in_(
                sa.select(ProgrammeYear.id).where(ProgrammeYear.consortium_id == user.scope_consortium_id)
            )
        return sa.false()

    def can_manage(self, user: Any) -> bool:
        """Managers edit their consortium's programmes and calls; admins any."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return True
        return user.role is Role.consortium_manager and user.scope_consortium_id == self.consortium_id

    def uses_stage(self, stage: ReviewStage) -> bool:
        return stage.value in (self.review_stages or [])

    def __str__(self) -> str:
        return self.name


class CallStatus(LabelledEnum):
    """Derived from the clock, never stored."""

    upcoming = "upcoming"
    open = "open"
    closed = "closed"

    @classmethod
    def _titles(cls):
        return {
            cls.upcoming: _l("Opens soon"),
            cls.open: _l("Accepting applications"),
            cls.closed: _l("Applications closed"),
        }

    @property
    def badge(self) -> str:
        return {"upcoming": "badge-warn", "open": "badge-ok", "closed": ""}[self.value]


class Call(TimestampMixin, db.Model):
    """A call for applications (모집공고) of one programme and cohort."""

    __tablename__ = "calls"
    __table_args__ = (
        sa.CheckConstraint("closes_at > opens_at", name="dates_in_order"),
        sa.CheckConstraint("capacity > 0", name="capacity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(sa.ForeignKey("programmes.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    cohort: Mapped[str] = mapped_column(sa.String(50))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    capacity: Mapped[int]
    eligibility_text: Mapped[str] = mapped_column(sa.Text, default="")
    # [{"kind": "business_plan", "label": "사업계획서"}]
    required_documents: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    # [{"key": "q1", "label": "...", "required": true}]
    questions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # Evaluation criteria: [{"key": "feasibility", "label": "실현가능성", "weight": 30, "max_score": 10}]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    programme: Mapped[Programme] = relationship(back_populates="calls")

    def is_open(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.opens_at <= now < self.closes_at

    def status(self, now: datetime | None = None) -> CallStatus:
        now = now or utcnow()
        if now < self.opens_at:
            return CallStatus.upcoming
        return CallStatus.open if now < self.closes_at else CallStatus.closed

    @property
    def closes_on_kst(self) -> date:
        """The closing day as Koreans read it; a call closing at 00:30 KST closes "today", not yesterday."""
        from crm.core.time import to_kst

        return to_kst(self.closes_at).date()

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Staff see the calls of the programmes they see (the firm portal lists open calls on its own)."""
        return cls.programme_id.in_(sa.select(Programme.id).where(Programme.visible_to(user)))

    def __str__(self) -> str:
        return f"{self.title} ({self.cohort})"
