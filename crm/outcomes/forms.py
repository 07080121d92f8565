"""Forms of the outcomes pages: the staff's KPI row, the firm's actuals and the survey answers. The
operations check the content; these parse it (and run the same checks so one submit shows every problem)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, StringField
from wtforms.validators import Optional

from crm.core.forms import MoneyField, StrippedStringField, add_problems
from crm.documents.storage import ACCEPT
from crm.outcomes.models import KpiRow, OutcomeSurvey
from crm.outcomes.operations import ActualData, KpiData, SurveyAnswers, indicators_of, kpi_problems

_EVIDENCE_HELP = _l(
    "Optional. PDF, HWP, HWPX, DOCX, XLSX, JPG or PNG, e.g. a sales ledger or an inspection report."
)


def format_number(value: Decimal | int | float | None) -> str:
    """1200.00 → "1,200", 3.50 → "3.5"."""
    if value is None:
        return ""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{number.to_integral_value():,f}"
    text = f"{number:,f}"
    return text.rstrip("0").rstrip(".")


class NumberField(StringField):
    """A decimal as typed ("1,200", "3.5", "-2"); a text input because a number input refuses the thousands
    separators people type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_number(self.data) if self.data is not None else ""

    def process_data(self, value: Any) -> None:
        self.data = Decimal(str(value)) if value is not None and value != "" else None

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        raw = valuelist[0].replace(",", "").strip()
        if raw == "":
            self.data = None
            return
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            self.data = None
            raise ValueError(str(_l("Enter a number, e.g. 1,200 or 3.5.")))
        self.data = number


class CountField(StringField):
    """A whole number such as a head count; accepts "1,200"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        render_kw = {"inputmode": "numeric", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:,}" if isinstance(self.data, int) else ""

    def process_data(self, value: Any) -> None:
        self.data = value if isinstance(value, int) else None

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        raw = valuelist[0].replace(",", "").strip()
        if raw == "":
            self.data = None
            return
        try:
            self.data = int(raw)
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter a whole number, e.g. 25."))) from None


class KpiForm(FlaskForm):
    indicator = StrippedStringField(
        _l("Indicator"),
        description=_l("Pick a usual one or type your own, e.g. 매출, 불량률."),
        render_kw={"list": "kpi-indicators", "autocomplete": "off"},
    )
    unit = StrippedStringField(_l("Unit"), description=_l("E.g. 백만원, 명, %, 건/일."))
    baseline = NumberField(_l("Baseline"), description=_l("The value before the support."))
    target = NumberField(_l("Target"), description=_l("The value the engagement aims at."))
    actual = NumberField(
        _l("Actual"), description=_l("The value measured; the firm can fill it in the portal.")
    )
    measured_on = DateField(_l("Measured on"), validators=[Optional()])
    evidence = FileField(_l("Evidence"), description=_EVIDENCE_HELP, render_kw={"accept": ACCEPT})

    def to_data(self) -> KpiData:
        return KpiData(
            indicator=self.indicator.data or "",
            unit=self.unit.data or "",
            baseline=self.baseline.data,
            target=self.target.data,
            actual=self.actual.data,
            measured_on=self.measured_on.data,
        )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return add_problems(self, kpi_problems(self.to_data())) and valid


class ActualsForm(FlaskForm):
    """One actual, measurement date and evidence file per KPI row: `actual_<id>`, `measured_on_<id>`,
    `evidence_<id>`."""

    row_ids: list[int]

    def entries(self) -> dict[int, ActualData]:
        return {
            row_id: ActualData(
                actual=self[f"actual_{row_id}"].data,
                measured_on=self[f"measured_on_{row_id}"].data,
                evidence=self[f"evidence_{row_id}"].data or None,
            )
            for row_id in self.row_ids
        }


def actuals_form(rows: list[KpiRow], **kwargs: Any) -> ActualsForm:
    fields: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for row in rows:
        label = f"{row.indicator} ({row.unit})" if row.unit else row.indicator
        fields[f"actual_{row.id}"] = NumberField(_l("Actual: %(indicator)s", indicator=label))
        fields[f"measured_on_{row.id}"] = DateField(
            _l("Measured on: %(indicator)s", indicator=row.indicator), validators=[Optional()]
        )
        fields[f"evidence_{row.id}"] = FileField(
            _l("Evidence: %(indicator)s", indicator=row.indicator), render_kw={"accept": ACCEPT}
        )
        data[f"actual_{row.id}"] = row.actual
        data[f"measured_on_{row.id}"] = row.measured_on
    form_class = type("KpiActualsForm", (ActualsForm,), {**fields, "row_ids": [row.id for row in rows]})
    return form_class(data=data, **kwargs)


class SurveyForm(FlaskForm):
    """Revenue, employees and `indicator_<index>` per indicator the round asks for."""

    revenue_krw = MoneyField(
        _l("Revenue of the last business year (원)"), description=_l("As in the financial statements.")
    )
    employees = CountField(_l("Employees"), description=_l("Full-time employees at the end of the year."))
    indicator_count: int = 0

    def answers(self) -> SurveyAnswers:
        return SurveyAnswers(
            revenue_krw=self.revenue_krw.data,
            employees=self.employees.data,
            indicators=[self[f"indicator_{i}"].data for i in range(self.indicator_count)],
        )


def survey_form(survey: OutcomeSurvey, **kwargs: Any) -> SurveyForm:
    names = indicators_of(survey)
    fields: dict[str, Any] = {f"indicator_{i}": NumberField(name) for i, name in enumerate(names)}
    answers = survey.answers or {}
    data: dict[str, Any] = {f"indicator_{i}": answers.get(name) for i, name in enumerate(names)}
    data.update(revenue_krw=survey.revenue_krw, employees=survey.employees)
    form_class = type("OutcomeSurveyForm", (SurveyForm,), {**fields, "indicator_count": len(names)})
    return form_class(data=data, **kwargs)
