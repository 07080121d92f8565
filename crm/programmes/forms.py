from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation
from wtforms.widgets import CheckboxInput, ListWidget

from crm.core.forms import MoneyField, StrippedStringField
from crm.programmes import operations
from crm.programmes.models import CountingPoint, ReviewStage, TargetUnit, Track

Parser = Callable[[str], tuple[list[Any], list[Any]]]


class WonField(MoneyField):
    """MoneyField shown with thousands separators, so 6,000,000,000 is readable when editing."""

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:,}" if isinstance(self.data, int) else ""


class ParsedTextMixin:
    """A text input holding a list: parsed on submit (each bad line becomes its own error, with its line
    number), shown back exactly as typed on error, and rendered from the stored list otherwise."""

    def __init__(self, *args: Any, parse: Parser, render: Callable[[Any], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parse = parse
        self.render = render
        self.typed: str | None = None
        self.line_errors: list[Any] = []

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:
            self.typed = valuelist[0]
            self.data, self.line_errors = self.parse(self.typed)

    def _value(self) -> str:
        return self.typed if self.typed is not None else self.render(self.data or [])

    def pre_validate(self, form: Any) -> None:
        if self.line_errors:
            self.errors.extend(str(e) for e in self.line_errors)
            raise StopValidation()


class ParsedTextAreaField(ParsedTextMixin, TextAreaField):
    pass


class ParsedStringField(ParsedTextMixin, StringField):
    pass


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _money(label: Any, description: Any = None) -> WonField:
    return WonField(
        label, validators=[Optional()], description=description, render_kw={"inputmode": "numeric"}
    )


class BudgetFields:
    budget_gov_krw = _money(
        _l("National funds (국비), won"),
        _l("At most %(limit)s%% of the total.", limit=operations.GOV_MAX_PERCENT),
    )
    budget_local_krw = _money(
        _l("Local funds (지방비), won"),
        _l("At least %(limit)s%% of the total.", limit=operations.LOCAL_MIN_PERCENT),
    )
    budget_self_krw = _money(_l("Own share (자부담), won"))


class ProgrammeYearForm(BudgetFields, FlaskForm):
    consortium_id = SelectField(_l("Consortium"), coerce=int, validators=[InputRequired()])
    ordinal = IntegerField(
        _l("Year number (연차)"),
        validators=[
            InputRequired(_l("Enter a whole number of 1 or more.")),
            NumberRange(min=1, message=_l("Enter a whole number of 1 or more.")),
        ],
        description=_l("1 for the first programme year, 2 for the second …"),
    )
    starts_on = DateField(_l("Starts on"), validators=[InputRequired(_l("Enter a date."))])
    ends_on = DateField(_l("Ends on"), validators=[InputRequired(_l("Enter a date."))])


class ProgrammeForm(BudgetFields, FlaskForm):
    name = StrippedStringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=200)])
    institution_id = SelectField(
        _l("Institution"), coerce=int, validators=[InputRequired(_l("Choose an institution."))]
    )
    track = SelectField(_l("Track"), validators=[DataRequired()])
    target = IntegerField(
        _l("Target"),
        validators=[
            InputRequired(_l("The target must be a whole number above 0.")),
            NumberRange(min=1, message=_l("The target must be a whole number above 0.")),
        ],
    )
    unit = SelectField(
        _l("Unit"),
        description=_l("Left empty: people for training, GPU hours for GPU infrastructure, firms otherwise."),
    )
    counting_point = SelectField(
        _l("Counts towards the target when"),
        description=_l("Left empty: the usual point for the track."),
    )
    per_firm_cap_krw = WonField(
        _l("Cap per firm, won"),
        validators=[
            Optional(),
            NumberRange(min=1, message=_l("Leave the cap empty or enter an amount above 0.")),
        ],
        render_kw={"inputmode": "numeric"},
    )
    exclusivity_years = IntegerField(
        _l("Exclusivity window, years"),
        default=0,
        validators=[
            InputRequired(
                _l("Enter a number of years from 0 to %(max)s.", max=operations.MAX_EXCLUSIVITY_YEARS)
            ),
            NumberRange(
                min=0,
                max=operations.MAX_EXCLUSIVITY_YEARS,
                message=_l(
                    "Enter a number of years from 0 to %(max)s.", max=operations.MAX_EXCLUSIVITY_YEARS
                ),
            ),
        ],
        description=_l(
            "A firm supported in the same track within this many years may not be selected again."
        ),
    )
    requires_sme_certificate = BooleanField(_l("Requires a valid SME certificate (중소기업확인서)"))
    excluded_ksic_prefixes = ParsedStringField(
        _l("Excluded industries (KSIC prefixes)"),
        parse=operations.parse_ksic_prefixes,
        render=operations.format_ksic_prefixes,
        description=_l("Separated by commas or spaces, 1 to 5 digits each, e.g. 55, 56, 681."),
    )
    review_stages = CheckboxesField(_l("Review stages used"))
    milestone_templates = ParsedTextAreaField(
        _l("Milestone templates"),
        parse=operations.parse_milestone_templates,
        render=operations.format_milestone_templates,
        description=_l(
            "One per line: kind | title | anchor | offset_days | owner. Anchor: start, mid, end or closed; "
            "owner: staff or firm; offset in days, may be negative. "
            "Example: interim_check | 중간점검 | mid | 0 | staff"
        ),
        render_kw={"rows": 6},
    )
    sla_days = ParsedTextAreaField(
        _l("SLA (days per status)"),
        parse=operations.parse_sla_days,
        render=operations.format_sla_days,
        description=_l(
            "One per line: status | days, from 1 to %(max)s; the pipeline board flags an engagement that "
            "stays longer. Statuses: pending_agreement, agreed, in_progress, final_report, final_check, "
            "settlement (Korean status names work too). "
            "Left empty: %(defaults)s (settlement only for tracks that pay out money).",
            max=operations.MAX_SLA_DAYS,
            defaults=", ".join(f"{status} {days}" for status, days in operations.DEFAULT_SLA_DAYS.items()),
        ),
        render_kw={"rows": 6},
    )
    survey_rounds = IntegerField(
        _l("Outcome-survey rounds"),
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=operations.MAX_SURVEY_ROUNDS,
                message=_l("Enter a number of rounds from 0 to %(max)s.", max=operations.MAX_SURVEY_ROUNDS),
            ),
        ],
        description=_l(
            "Yearly surveys of the firms' results after closing. "
            "Left empty: 3 for adoption, validation and incubation, 0 otherwise."
        ),
        render_kw={"inputmode": "numeric"},
    )
    survey_indicators = ParsedTextAreaField(
        _l("Survey indicators"),
        parse=operations.parse_survey_indicators,
        render=operations.format_survey_indicators,
        description=_l(
            "One indicator per line, at most %(count)s, each up to %(length)s characters, e.g. 매출. "
            "Left empty: 매출 and 고용 for adoption, validation and incubation.",
            count=operations.MAX_SURVEY_INDICATORS,
            length=operations.MAX_INDICATOR_LENGTH,
        ),
        render_kw={"rows": 4},
    )
    reminders_on_business_days = BooleanField(
        _l("Send reminders on business days only"),
        description=_l(
            "Reminders due on a Saturday, a Sunday or a Korean public holiday go out on the next business "
            "day instead."
        ),
    )

    def __init__(self, *args: Any, institutions: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per request so enum titles come out in the reader's language.
        self.institution_id.choices = institutions or []
        self.track.choices = Track.choices()
        self.unit.choices = [("", _l("Default for the track")), *TargetUnit.choices()]
        self.counting_point.choices = [("", _l("Default for the track")), *CountingPoint.choices()]
        self.review_stages.choices = ReviewStage.choices()


class CallForm(FlaskForm):
    title = StrippedStringField(_l("Title"), validators=[DataRequired(_l("Enter a title.")), Length(max=200)])
    cohort = StrippedStringField(
        _l("Cohort"),
        validators=[DataRequired(_l("Enter a cohort label, e.g. 2026-1차.")), Length(max=50)],
        description=_l("For example 2026-1차."),
    )
    opens_at = DateTimeLocalField(
        _l("Opens at (Korea time)"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Enter a date and time."))],
    )
    closes_at = DateTimeLocalField(
        _l("Closes at (Korea time)"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(_l("Enter a date and time."))],
    )
    capacity = IntegerField(
        _l("Capacity (firms to select)"),
        validators=[
            InputRequired(_l("The capacity must be a whole number above 0.")),
            NumberRange(min=1, message=_l("The capacity must be a whole number above 0.")),
        ],
    )
    eligibility_text = TextAreaField(_l("Eligibility"), render_kw={"rows": 4})
    required_documents = ParsedTextAreaField(
        _l("Required documents"),
        parse=operations.parse_required_documents,
        render=lambda rows: operations.format_lines(rows, ("kind", "label")),
        description=_l("One per line: kind | label, e.g. business_plan | 사업계획서. Kind: a–z, 0–9 and _."),
        render_kw={"rows": 4},
    )
    questions = ParsedTextAreaField(
        _l("Questions"),
        parse=operations.parse_questions,
        render=lambda rows: operations.format_lines(rows, ("key", "label", "required")),
        description=_l(
            "One per line: key | question | required or optional, e.g. goal | 도입 목표 | required."
        ),
        render_kw={"rows": 4},
    )
    criteria = ParsedTextAreaField(
        _l("Evaluation criteria"),
        parse=operations.parse_criteria,
        render=lambda rows: operations.format_lines(rows, ("key", "label", "weight", "max_score")),
        description=_l(
            "One per line: key | label | weight | max score, e.g. feasibility | 실현가능성 | 60 | 10. "
            "Evaluators score each criterion from 0 to its max score; "
            "the weights decide how much each counts."
        ),
        render_kw={"rows": 4},
    )
