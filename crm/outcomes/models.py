"""KPI rows and outcome-survey rounds of engagements."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.documents.models import Document
    from crm.engagements.models import Engagement


class KpiRow(TimestampMixin, db.Model):
    """One indicator of an engagement (매출, 고용, 생산성, 불량률 …): baseline, target, measured actual."""

    __tablename__ = "kpi_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    indicator: Mapped[str] = mapped_column(sa.String(100))
    unit: Mapped[str] = mapped_column(sa.String(30), default="")
    baseline: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 2))
    target: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 2))
    actual: Mapped[Decimal | None] = mapped_column(sa.Numeric(20, 2))
    measured_on: Mapped[date | None]
    evidence_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("documents.id"))
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    engagement: Mapped[Engagement] = relationship()
    evidence: Mapped[Document | None] = relationship()
    updated_by: Mapped[User | None] = relationship()


class SurveyStatus(LabelledEnum):
    open = "open"
    submitted = "submitted"

    @classmethod
    def _titles(cls):
        return {cls.open: _l("Awaiting answers"), cls.submitted: _l("Submitted")}


class OutcomeSurvey(TimestampMixin, db.Model):
    """Round N of the follow-up survey, N years after the engagement closed, answered by the firm."""

    __tablename__ = "outcome_surveys"
    __table_args__ = (
        sa.UniqueConstraint("engagement_id", "round", name="uq_outcome_surveys_round"),
        sa.CheckConstraint("round >= 1", name="round_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    round: Mapped[int]
    due_on: Mapped[date]
    status: Mapped[SurveyStatus] = mapped_column(
        enum_type(SurveyStatus, "survey_status"), default=SurveyStatus.open
    )
    revenue_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    employees: Mapped[int | None]
    # {indicator: value} for the programme's chosen indicators
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    engagement: Mapped[Engagement] = relationship()
    submitted_by: Mapped[User | None] = relationship()
