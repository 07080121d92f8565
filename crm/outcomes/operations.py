"""KPI rows of engagements (staff add, edit and delete them; the firm fills in the actuals) and the yearly
outcome-survey rounds after closing (scheduled when the engagement closes, answered by the firm). Never
commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from crm.audit.operations import diff, record_audit
from crm.auth.models import User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, OperationError, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.documents.operations import upload_engagement_document
from crm.engagements.models import Engagement, EngagementStatus
from crm.engagements.operations import is_firm_of, may_work_on
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.milestones.operations import add_milestone, complete
from crm.outcomes.models import KpiRow, OutcomeSurvey, SurveyStatus

E = EngagementStatus
# Numbers come as Decimals from the forms and as ints or floats from the API and the demo.
Number = Decimal | int | float | str
# The firm fills in actuals from the agreement on, and keeps doing so in the follow-up years.
KPI_FILL_STATUSES = frozenset(
    {E.agreed, E.in_progress, E.final_report, E.final_check, E.settlement, E.closed, E.follow_up}
)
SUGGESTED_INDICATORS = ("매출", "고용", "생산성", "불량률", "원가", "납기준수율")
KPI_EVIDENCE_KIND = "kpi"
# Numeric(20, 2): 18 digits before the decimal point.
_KPI_LIMIT = Decimal("1e18")
_CENT = Decimal("0.01")
INDICATOR_MAX = 100
UNIT_MAX = 30


@dataclass
class KpiData:
    indicator: str = ""
    unit: str = ""
    baseline: Number | None = None
    target: Number | None = None
    actual: Number | None = None
    measured_on: date | None = None


@dataclass
class ActualData:
    """What the firm reports for one KPI row."""

    actual: Number | None = None
    measured_on: date | None = None
    evidence: FileStorage | None = None


@dataclass
class SurveyAnswers:
    revenue_krw: int | None = None
    employees: int | None = None
    # One value per programme indicator, in the programme's order (None: not answered yet).
    indicators: list[Number | None] = field(default_factory=list)


# --- permissions ------------------------------------------------------------------------------------------


def may_edit_kpis(engagement: Engagement, actor: User) -> bool:
    return may_work_on(engagement, actor)


def may_fill_actuals(engagement: Engagement, actor: User) -> bool:
    return is_firm_of(engagement, actor) and engagement.status in KPI_FILL_STATUSES


def may_answer(survey: OutcomeSurvey, actor: User) -> bool:
    return is_firm_of(survey.engagement, actor) and survey.status is SurveyStatus.open


# --- KPI values -------------------------------------------------------------------------------------------


def achievement(row: KpiRow) -> Decimal | None:
    """Per cent of the way from baseline to target that the actual got: (actual − baseline) / (target −
    baseline). Works for indicators that should fall (불량률, 원가) too, since both differences are negative.
    None when a value is missing or target equals baseline."""
    if row.actual is None or row.baseline is None or row.target is None or row.target == row.baseline:
        return None
    share = (Decimal(row.actual) - Decimal(row.baseline)) / (Decimal(row.target) - Decimal(row.baseline))
    return (share * 100).quantize(Decimal("0.1"))


def as_decimal(value: Number | None) -> Decimal | None:
    """A number however the caller has it (a form gives Decimals, the API ints or floats); ValueError when it
    is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(value) from None


def _number_problem(raw: Number | None) -> Any:
    try:
        value = as_decimal(raw)
    except ValueError:
        return _l("Enter a number, e.g. 1,200 or 3.5.")
    if value is None:
        return None
    if not value.is_finite() or abs(value) >= _KPI_LIMIT:
        return _l("The number is too large.")
    if value != value.quantize(_CENT):
        return _l("Enter at most two decimal places.")
    return None


def _actual_problems(actual: Number | None, measured_on: date | None, today: date) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    number = _number_problem(actual)
    if number is not None:
        problems["actual"] = [number]
    if measured_on is not None and measured_on > today:
        problems["measured_on"] = [_l("The measurement date cannot be in the future.")]
    elif actual not in (None, "") and measured_on is None:
        problems["measured_on"] = [_l("Enter the date the actual value was measured.")]
    return problems


def kpi_problems(data: KpiData, today: date | None = None) -> dict[str, list[Any]]:
    """{field: [message]} for a KPI row's values; shared by the form and the operations."""
    problems: dict[str, list[Any]] = {}
    indicator = (data.indicator or "").strip()
    if not indicator:
        problems["indicator"] = [_l("Enter the indicator, e.g. 매출 or 불량률.")]
    elif len(indicator) > INDICATOR_MAX:
        problems["indicator"] = [_l("The indicator can be at most %(n)s characters.", n=INDICATOR_MAX)]
    if len((data.unit or "").strip()) > UNIT_MAX:
        problems["unit"] = [_l("The unit can be at most %(n)s characters.", n=UNIT_MAX)]
    for name in ("baseline", "target"):
        number = _number_problem(getattr(data, name))
        if number is not None:
            problems[name] = [number]
    problems.update(_actual_problems(data.actual, data.measured_on, today or today_kst()))
    return problems


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    """The audit log is JSON: decimals go in as text."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return {key: convert(value) for key, value in changes.items()}


def _apply(obj: Any, values: dict[str, Any], action: str, actor: User) -> dict[str, Any]:
    changes = diff(obj, values)
    for key, value in values.items():
        setattr(obj, key, value)
    db.session.flush()
    if changes:
        record_audit(action, obj, _plain(changes), actor=actor)
    return changes


def _upload_evidence(engagement: Engagement, upload: FileStorage | None, actor: User, field_name: str) -> Any:
    """The evidence file as an engagement document (kind "kpi"), or None when no file was chosen. The upload's
    own messages (type, size) are put under the form's evidence field."""
    if upload is None or not upload.filename:
        return None
    try:
        return upload_engagement_document(engagement, KPI_EVIDENCE_KIND, upload, actor)
    except OperationError as error:
        messages = [m for ms in error.fields.values() for m in ms] or [error.message]
        error.fields = {field_name: messages}
        raise


def _kpi_values(data: KpiData) -> dict[str, Any]:
    problems = kpi_problems(data)
    if problems:
        raise ValidationFailed(problems)
    return {
        "indicator": data.indicator.strip(),
        "unit": (data.unit or "").strip(),
        "baseline": as_decimal(data.baseline),
        "target": as_decimal(data.target),
        "actual": as_decimal(data.actual),
        "measured_on": data.measured_on,
    }


# --- KPI verbs --------------------------------------------------------------------------------------------


def add_kpi_row(
    engagement: Engagement, data: KpiData, actor: User, evidence: FileStorage | None = None
) -> KpiRow:
    if not may_edit_kpis(engagement, actor):
        raise NotPermitted()
    values = _kpi_values(data)
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(KpiRow.position), 0)).where(
            KpiRow.engagement_id == engagement.id
        )
    )
    row = KpiRow(
        engagement_id=engagement.id, position=int(position or 0) + 1, updated_by_id=actor.id, **values
    )
    db.session.add(row)
    db.session.flush()
    document = _upload_evidence(engagement, evidence, actor, "evidence")
    if document is not None:
        row.evidence_document_id = document.id
        db.session.flush()
    record_audit(
        "kpi.add",
        row,
        _plain({"engagement_id": engagement.id, **values, "evidence_document_id": row.evidence_document_id}),
        actor=actor,
    )
    return row


def update_kpi_row(row: KpiRow, data: KpiData, actor: User, evidence: FileStorage | None = None) -> KpiRow:
    """Staff correct any value; a new evidence file takes the place of the old one (which stays among the
    engagement's documents)."""
    if not may_edit_kpis(row.engagement, actor):
        raise NotPermitted()
    values = _kpi_values(data)
    document = _upload_evidence(row.engagement, evidence, actor, "evidence")
    if document is not None:
        values["evidence_document_id"] = document.id
    if diff(row, values):
        values["updated_by_id"] = actor.id
    _apply(row, values, "kpi.update", actor)
    return row


def delete_kpi_row(row: KpiRow, actor: User) -> None:
    if not may_edit_kpis(row.engagement, actor):
        raise NotPermitted()
    record_audit(
        "kpi.delete",
        row,
        _plain(
            {
                "engagement_id": row.engagement_id,
                "indicator": row.indicator,
                "unit": row.unit,
                "baseline": row.baseline,
                "target": row.target,
                "actual": row.actual,
                "measured_on": row.measured_on,
                "evidence_document_id": row.evidence_document_id,
            }
        ),
        actor=actor,
    )
    db.session.delete(row)
    db.session.flush()


def fill_actuals(engagement: Engagement, entries: dict[int, ActualData], actor: User) -> list[KpiRow]:
    """The firm reports measured values for its engagement's KPI rows ({row id: ActualData}), all or
    nothing. Errors are named `actual_<id>`, `measured_on_<id>` and `evidence_<id>`. A row keeps its evidence
    when no new file comes with it. Returns the rows that changed."""
    if not is_firm_of(engagement, actor):
        raise NotPermitted()
    if engagement.status not in KPI_FILL_STATUSES:
        raise RuleViolation(
            "kpi_closed",
            _l(
                "Actual values can be reported once the agreement is signed, not while the engagement "
                "is: %(status)s.",
                status=engagement.status.title,
            ),
        )
    rows = {
        row.id: row
        for row in db.session.scalars(sa.select(KpiRow).where(KpiRow.engagement_id == engagement.id))
    }
    today = today_kst()
    problems: dict[str, list[Any]] = {}
    for row_id, entry in entries.items():
        if row_id not in rows:
            raise ValidationFailed({}, _l("This indicator was removed meanwhile. Reload the page."))
        for name, messages in _actual_problems(entry.actual, entry.measured_on, today).items():
            problems[f"{name}_{row_id}"] = messages
    if problems:
        raise ValidationFailed(problems)
    changed: list[KpiRow] = []
    for row_id, entry in entries.items():
        row = rows[row_id]
        values: dict[str, Any] = {"actual": as_decimal(entry.actual), "measured_on": entry.measured_on}
        document = _upload_evidence(engagement, entry.evidence, actor, f"evidence_{row_id}")
        if document is not None:
            values["evidence_document_id"] = document.id
        if diff(row, values):
            values["updated_by_id"] = actor.id
            _apply(row, values, "kpi.fill_actual", actor)
            changed.append(row)
    return changed


# --- KPI queries ------------------------------------------------------------------------------------------


def kpi_rows(engagement: Engagement) -> list[KpiRow]:
    return list(
        db.session.scalars(
            sa.select(KpiRow)
            .where(KpiRow.engagement_id == engagement.id)
            .order_by(KpiRow.position, KpiRow.id)
        )
    )


# --- outcome surveys --------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def survey_milestone_kind(round_number: int) -> str:
    return f"outcome_survey_{round_number}"


def schedule_survey_rounds(engagement: Engagement, actor: User | None) -> list[OutcomeSurvey]:
    """Called when the engagement closes: rounds 1..programme.survey_rounds, round k due k years after the
    closing day, each with a firm-owned milestone. Rounds (and milestones) that exist are left alone, so a
    second call adds nothing. Returns the rounds created."""
    if actor is not None and not may_work_on(engagement, actor):
        raise NotPermitted()
    if engagement.closed_on is None:
        raise RuleViolation(
            "not_closed", _l("Outcome surveys are scheduled from the closing day; this engagement has none.")
        )
    rounds = engagement.programme.survey_rounds or 0
    existing = set(
        db.session.scalars(sa.select(OutcomeSurvey.round).where(OutcomeSurvey.engagement_id == engagement.id))
    )
    milestone_kinds = set(
        db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id))
    )
    created: list[OutcomeSurvey] = []
    for k in range(1, rounds + 1):
        due_on = add_years(engagement.closed_on, k)
        if k not in existing:
            survey = OutcomeSurvey(
                engagement_id=engagement.id, round=k, due_on=due_on, status=SurveyStatus.open, answers={}
            )
            db.session.add(survey)
            created.append(survey)
        if survey_milestone_kind(k) not in milestone_kinds:
            add_milestone(
                engagement,
                kind=survey_milestone_kind(k),
                title=f"성과조사 {k}차",
                due_on=due_on,
                owner=MilestoneOwner.firm,
                actor=actor,
            )
    db.session.flush()
    if created:
        record_audit(
            "outcome_survey.schedule",
            engagement,
            {"rounds": [{"round": s.round, "due_on": s.due_on} for s in created]},
            actor=actor,
        )
    return created


def indicators_of(survey: OutcomeSurvey) -> list[str]:
    """The indicators the round asks for: the programme's now while open; what was answered once submitted
    (the programme's list may have changed since)."""
    if survey.status is SurveyStatus.submitted:
        return list((survey.answers or {}).keys())
    return [str(name) for name in survey.engagement.programme.survey_indicators or []]


def _json_number(raw: Number | None) -> int | float | None:
    value = as_decimal(raw)
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _survey_problems(survey: OutcomeSurvey, answers: SurveyAnswers, complete_: bool) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    if answers.revenue_krw is not None and answers.revenue_krw < 0:
        problems["revenue_krw"] = [_l("An amount cannot be negative.")]
    elif answers.revenue_krw is None and complete_:
        problems["revenue_krw"] = [_l("Enter the revenue of the last business year (원).")]
    if answers.employees is not None and answers.employees < 0:
        problems["employees"] = [_l("The number of employees cannot be negative.")]
    elif answers.employees is None and complete_:
        problems["employees"] = [_l("Enter the number of employees.")]
    names = indicators_of(survey)
    values = list(answers.indicators) + [None] * (len(names) - len(answers.indicators))
    for index, (_name, value) in enumerate(zip(names, values, strict=False)):
        key = f"indicator_{index}"
        number = _number_problem(value)
        if number is not None:
            problems[key] = [number]
        elif value is None and complete_:
            problems[key] = [_l("Enter a value for this indicator.")]
    return problems


def _save_answers(survey: OutcomeSurvey, answers: SurveyAnswers, actor: User, complete_: bool) -> None:
    if not is_firm_of(survey.engagement, actor):
        raise NotPermitted()
    # Two browser tabs submitting at once take turns (a row lock on PostgreSQL); the second sees the round
    # submitted and is refused instead of overwriting the answers.
    db.session.execute(sa.select(OutcomeSurvey.id).where(OutcomeSurvey.id == survey.id).with_for_update())
    db.session.refresh(survey, ["status"])
    if survey.status is SurveyStatus.submitted:
        raise RuleViolation(
            "survey_submitted", _l("This survey was already submitted; it can no longer change.")
        )
    problems = _survey_problems(survey, answers, complete_)
    if problems:
        raise ValidationFailed(problems)
    names = indicators_of(survey)
    values = list(answers.indicators) + [None] * (len(names) - len(answers.indicators))
    _apply(
        survey,
        {
            "revenue_krw": answers.revenue_krw,
            "employees": answers.employees,
            "answers": {name: _json_number(value) for name, value in zip(names, values, strict=False)},
        },
        "outcome_survey.save",
        actor,
    )


def save_survey(survey: OutcomeSurvey, answers: SurveyAnswers, actor: User) -> OutcomeSurvey:
    """Keeps what the firm typed so far; the round stays open. Errors name `revenue_krw`, `employees` and
    `indicator_<index>` (the indicator's place in the programme's list)."""
    _save_answers(survey, answers, actor, complete_=False)
    return survey


def submit_survey(survey: OutcomeSurvey, answers: SurveyAnswers, actor: User) -> OutcomeSurvey:
    """Saves the answers, which must be complete, and submits the round for good: it becomes read-only and
    the round's milestone is done."""
    _save_answers(survey, answers, actor, complete_=True)
    submitted_at = utcnow()
    survey.status = SurveyStatus.submitted
    survey.submitted_at = submitted_at
    survey.submitted_by_id = actor.id
    db.session.flush()
    record_audit(
        "outcome_survey.submit",
        survey,
        {"status": [SurveyStatus.open, SurveyStatus.submitted], "submitted_at": submitted_at},
        actor=actor,
    )
    milestone = db.session.scalar(
        sa.select(Milestone).where(
            Milestone.engagement_id == survey.engagement_id,
            Milestone.kind == survey_milestone_kind(survey.round),
            Milestone.open_clause(),
        )
    )
    if milestone is not None:
        complete(milestone, actor, None, evidence_required=False)
    return survey


def engagement_surveys(engagement: Engagement) -> list[OutcomeSurvey]:
    return list(
        db.session.scalars(
            sa.select(OutcomeSurvey)
            .where(OutcomeSurvey.engagement_id == engagement.id)
            .order_by(OutcomeSurvey.round)
        )
    )
