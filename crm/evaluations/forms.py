"""Forms of the evaluation pages. The scoring form is built per call, one number field per criterion."""

from __future__ import annotations

import math
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FloatField,
    IntegerField,
    RadioField,
    SelectMultipleField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Optional
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from crm.evaluations.operations import MAX_COMMENT_LENGTH, MAX_STATEMENT_LENGTH, score_field


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AssignForm(FlaskForm):
    # Rendered by hand as one checkbox per row of the applications table; the operation checks each one.
    application_ids = SelectMultipleField(_l("Applications"), coerce=int, validate_choice=False)
    evaluator_ids = CheckboxesField(_l("Evaluators"), coerce=int, validate_choice=False)

    def __init__(self, *args: Any, evaluators: list[tuple[int, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.evaluator_ids.choices = evaluators or []


class ConfirmRemoveForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, remove this evaluator from the application"),
        validators=[DataRequired(_l("Tick the box to confirm the removal."))],
    )


class DeclarationForm(FlaskForm):
    conflict = RadioField(
        _l("Conflict of interest"),
        choices=[
            ("no", _l("I have no conflict of interest with this firm.")),
            ("yes", _l("I have a conflict of interest with this firm.")),
        ],
        validators=[InputRequired(_l("Choose whether you have a conflict of interest."))],
    )
    statement = TextAreaField(
        _l("Describe the conflict"),
        description=_l(
            "Needed only when you have a conflict, e.g. a business, employment or family relationship "
            "with the firm in the last three years."
        ),
        render_kw={"rows": 3, "maxlength": MAX_STATEMENT_LENGTH},
    )


class ScoreField(FloatField):
    """A score: empty means not scored yet; anything typed that is not a number gets a clear message and is
    shown back as typed."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        raw = valuelist[0].strip().replace(",", ".")
        if raw == "":
            self.data = None
            return
        try:
            self.data = float(raw)
        except ValueError:
            self.data = None
            raise ValueError(str(_l("Enter a number, e.g. 7.5."))) from None
        if not math.isfinite(self.data):
            self.data = None
            raise ValueError(str(_l("Enter a number, e.g. 7.5.")))


class ScoringFormBase(FlaskForm):
    version = IntegerField(widget=HiddenInput(), validators=[Optional()])
    comment = TextAreaField(
        _l("Comment"),
        description=_l("Strengths, weaknesses and anything the selection committee should know."),
        render_kw={"rows": 5, "maxlength": MAX_COMMENT_LENGTH},
    )
    save = SubmitField(_l("Save draft"))
    submit = SubmitField(_l("Submit scores"))

    criteria: list[dict[str, Any]] = []

    def score_fields(self) -> list[Any]:
        return [self[score_field(c["key"])] for c in self.criteria]

    def score_values(self) -> dict[str, float | None]:
        return {c["key"]: self[score_field(c["key"])].data for c in self.criteria}


def _number(value: float) -> str:
    return f"{value:g}"


def scoring_form(criteria: list[dict[str, Any]], **kwargs: Any) -> ScoringFormBase:
    """A scoring form for these criteria; `data` may carry saved scores under `score_<key>`."""
    attributes: dict[str, Any] = {"criteria": list(criteria)}
    for criterion in criteria:
        attributes[score_field(criterion["key"])] = ScoreField(
            criterion["label"],
            validators=[Optional()],
            description=_l(
                "Weight %(weight)s · from 0 to %(max)s",
                weight=criterion["weight"],
                max=_number(criterion["max_score"]),
            ),
            render_kw={
                "inputmode": "decimal",
                "step": "0.01",
                "min": "0",
                "max": _number(criterion["max_score"]),
                "autocomplete": "off",
            },
        )
    form_class = type("ScoringForm", (ScoringFormBase,), attributes)
    return form_class(**kwargs)
