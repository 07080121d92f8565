"""Outcomes per programme: KPI actuals against baselines for the standard indicators, and the outcome-survey
response rate.

Per KPI row with both a baseline and an actual (and, for rates, a positive baseline):
- 매출 (revenue): growth rate % = (actual − baseline) / baseline × 100
- 고용 (employment): increase = actual − baseline (people)
- 생산성 (productivity): improvement % = (actual − baseline) / baseline × 100
- 불량률 (defect rate): reduction in percentage points = baseline − actual (the rate itself is in %)
Each programme shows n, the mean and the median of these. Indicators are matched by name with spaces removed
and case ignored, through the small alias table below (매출액 counts as 매출, 상시근로자수 as 고용 …).

Survey response rate = rounds submitted / rounds due, counting only rounds due on or before today (KST).

Two queries: KPI statistics (per programme and overall, in one UNION ALL) and survey counts per programme.
PostgreSQL computes the medians with percentile_cont; SQLite returns each group's values in one string and
the median is taken in Python — the same single query either way.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.engagements.models import Engagement
from crm.extensions import db
from crm.outcomes.models import KpiRow, OutcomeSurvey, SurveyStatus
from crm.reports.scope import ProgrammeLabel, ReportScope, is_postgresql, programme_labels


@dataclass(frozen=True)
class Indicator:
    key: str
    title: Any  # lazy: Korean name first, what the figure measures
    measure: Any
    unit: str
    aliases: tuple[str, ...]


INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "revenue",
        _l("Revenue (매출)"),
        _l("growth rate"),
        "%",
        ("매출", "매출액", "연매출", "연매출액", "revenue", "sales"),
    ),
    Indicator(
        "employment",
        _l("Employment (고용)"),
        _l("increase in people"),
        "",
        (
            "고용",
            "고용인원",
            "고용인원수",
            "상시근로자",
            "상시근로자수",
            "종업원수",
            "employment",
            "employees",
        ),
    ),
    Indicator(
        "productivity",
        _l("Productivity (생산성)"),
        _l("improvement"),
        "%",
        ("생산성", "노동생산성", "productivity"),
    ),
    Indicator(
        "defect_rate",
        _l("Defect rate (불량률)"),
        _l("reduction in percentage points"),
        "%p",
        ("불량률", "불량율", "공정불량률", "defectrate"),
    ),
)
INDICATOR_BY_KEY = {indicator.key: indicator for indicator in INDICATORS}
RATE_INDICATORS = ("revenue", "productivity")


def normalise_indicator(name: str) -> str:
    """The same normalisation as the SQL below, for tests and callers in Python."""
    return "".join(name.split()).lower()


def indicator_key(name: str) -> str | None:
    normalised = normalise_indicator(name)
    return next((i.key for i in INDICATORS if normalised in i.aliases), None)


@dataclass(frozen=True)
class Stat:
    n: int
    mean: float
    median: float


@dataclass(frozen=True)
class SurveyRate:
    due: int
    submitted: int

    @property
    def percent(self) -> float | None:
        return round(self.submitted * 100 / self.due, 1) if self.due else None


@dataclass
class OutcomeRow:
    programme: ProgrammeLabel
    stats: dict[str, Stat] = field(default_factory=dict)
    surveys: SurveyRate = field(default_factory=lambda: SurveyRate(0, 0))


@dataclass
class OutcomeReport:
    today: date
    rows: list[OutcomeRow]
    overall: dict[str, Stat]

    @property
    def surveys(self) -> SurveyRate:
        return SurveyRate(
            due=sum(row.surveys.due for row in self.rows),
            submitted=sum(row.surveys.submitted for row in self.rows),
        )


def _normalised(column: Any) -> Any:
    # Ordinary and ideographic (full-width) spaces: Korean input methods type both.
    return sa.func.lower(sa.func.replace(sa.func.replace(column, " ", ""), "\u3000", ""))


def _key_expression() -> Any:
    name = _normalised(KpiRow.indicator)
    return sa.case(*((name.in_(i.aliases), i.key) for i in INDICATORS), else_=sa.null())


def _metric_expression(key: Any) -> Any:
    baseline = sa.cast(KpiRow.baseline, sa.Float)
    actual = sa.cast(KpiRow.actual, sa.Float)
    return sa.case(
        (key.in_(RATE_INDICATORS), (actual - baseline) * 100.0 / baseline),
        (key == "employment", actual - baseline),
        (key == "defect_rate", baseline - actual),
    )


def _kpi_stats(scope: ReportScope) -> tuple[dict[tuple[int, str], Stat], dict[str, Stat]]:
    key = _key_expression()
    measured = (
        sa.select(
            Engagement.programme_id.label("programme_id"),
            key.label("key"),
            _metric_expression(key).label("value"),
        )
        .join(Engagement, KpiRow.engagement_id == Engagement.id)
        .where(
            Engagement.programme_id.in_(scope.programme_ids()),
            KpiRow.baseline.is_not(None),
            KpiRow.actual.is_not(None),
            key.is_not(None),
            # A growth rate needs something to grow from.
            sa.or_(key.not_in(RATE_INDICATORS), KpiRow.baseline > 0),
        )
        .subquery()
    )
    if is_postgresql():
        middle = sa.func.percentile_cont(0.5).within_group(measured.c.value).label("median")
    else:
        middle = sa.func.group_concat(measured.c.value).label("median")
    columns = (
        measured.c.key,
        sa.func.count().label("n"),
        sa.func.avg(measured.c.value).label("mean"),
        middle,
    )
    per_programme = sa.select(measured.c.programme_id, *columns).group_by(
        measured.c.programme_id, measured.c.key
    )
    overall = sa.select(sa.null().label("programme_id"), *columns).group_by(measured.c.key)
    by_programme: dict[tuple[int, str], Stat] = {}
    totals: dict[str, Stat] = {}
    for programme_id, indicator, n, mean, median in db.session.execute(sa.union_all(per_programme, overall)):
        if isinstance(median, str):
            median = statistics.median(float(value) for value in median.split(","))
        stat = Stat(n=int(n), mean=float(mean), median=float(median))
        if programme_id is None:
            totals[indicator] = stat
        else:
            by_programme[programme_id, indicator] = stat
    return by_programme, totals


def _survey_counts(scope: ReportScope, today: date) -> dict[int, SurveyRate]:
    rows = db.session.execute(
        sa.select(
            Engagement.programme_id,
            sa.func.count().label("due"),
            sa.func.count(sa.case((OutcomeSurvey.status == SurveyStatus.submitted, 1))).label("submitted"),
        )
        .join(Engagement, OutcomeSurvey.engagement_id == Engagement.id)
        .where(Engagement.programme_id.in_(scope.programme_ids()), OutcomeSurvey.due_on <= today)
        .group_by(Engagement.programme_id)
    )
    return {row.programme_id: SurveyRate(due=int(row.due), submitted=int(row.submitted)) for row in rows}


def outcome_report(scope: ReportScope, today: date) -> OutcomeReport:
    labels = programme_labels(scope)
    stats, overall = _kpi_stats(scope)
    surveys = _survey_counts(scope, today)
    rows = [
        OutcomeRow(
            programme=label,
            stats={i.key: stats[label.id, i.key] for i in INDICATORS if (label.id, i.key) in stats},
            surveys=surveys.get(label.id, SurveyRate(0, 0)),
        )
        for label in labels
    ]
    return OutcomeReport(today=today, rows=rows, overall=overall)
