"""Diagnosis results: one per firm per year."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.programmes.models import Track

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.engagements.models import Engagement
    from crm.firms.models import Firm


class ReadinessLevel(LabelledEnum):
    """AI 전환 수준."""

    pre_adoption = "pre_adoption"
    initial = "initial"
    expanding = "expanding"
    advanced = "advanced"

    @classmethod
    def _titles(cls):
        return {
            cls.pre_adoption: _l("Before adoption"),
            cls.initial: _l("Initial"),
            cls.expanding: _l("Expanding"),
            cls.advanced: _l("Advanced"),
        }

    @property
    def badge(self) -> str:
        return {
            "pre_adoption": "badge-danger",
            "initial": "badge-warn",
            "expanding": "",
            "advanced": "badge-ok",
        }[self.value]


class DiagnosisStatus(LabelledEnum):
    draft = "draft"
    submitted = "submitted"

    @classmethod
    def _titles(cls):
        return {cls.draft: _l("Draft"), cls.submitted: _l("Submitted")}


class DiagnosisResult(TimestampMixin, db.Model):
    __tablename__ = "diagnosis_results"
    __table_args__ = (sa.UniqueConstraint("firm_id", "year", name="uq_diagnosis_results_firm_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    year: Mapped[int]
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagements.id"))
    questionnaire_version: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[DiagnosisStatus] = mapped_column(
        enum_type(DiagnosisStatus, "diagnosis_status"), default=DiagnosisStatus.draft
    )
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # {question_id: 1..5}
    dimension_scores: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # {dimension: 0..100}
    overall_score: Mapped[float | None]
    level: Mapped[ReadinessLevel | None] = mapped_column(enum_type(ReadinessLevel, "readiness_level"))
    recommended_track: Mapped[Track | None] = mapped_column(enum_type(Track, "recommended_track"))
    filled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    firm: Mapped[Firm] = relationship()
    engagement: Mapped[Engagement | None] = relationship()
    filled_by: Mapped[User | None] = relationship()

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Whoever sees the firm's company data sees its diagnoses: staff of a related consortium, admins, and
        the firm's own users (see `Firm.visible_to`)."""
        from crm.firms.models import Firm

        return cls.firm_id.in_(sa.select(Firm.id).where(Firm.visible_to(user)))

    @property
    def is_submitted(self) -> bool:
        return self.status is DiagnosisStatus.submitted

    def __str__(self) -> str:
        return f"{self.firm.name} · {self.year}"
