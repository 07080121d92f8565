"""The activity form; the operation's checks run in `validate` so one submit shows every problem."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from crm.activities.models import ActivityKind
from crm.activities.operations import ActivityData, activity_problems
from crm.core.forms import add_problems


class HoursField(StringField):
    """Hours as typed ("1.5", "2"); a text input with a decimal keypad, parsed to a Decimal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_hours(self.data) if isinstance(self.data, Decimal) else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        raw = valuelist[0].replace(",", ".").strip()
        if raw == "":
            self.data = None
            return
        try:
            self.data = Decimal(raw)
        except InvalidOperation:
            self.data = None
            raise ValueError(str(_l("Enter the hours as a number, e.g. 1.5."))) from None
        if not self.data.is_finite():
            self.data = None
            raise ValueError(str(_l("Enter the hours as a number, e.g. 1.5.")))


def format_hours(value: Decimal | int | None) -> str:
    """2.0 → "2", 1.5 → "1.5"."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ActivityForm(FlaskForm):
    kind = SelectField(_l("Kind"))
    occurred_on = DateField(_l("Date"), validators=[Optional()])
    hours = HoursField(
        _l("Hours"), description=_l("Time spent with the firm, 0 to 24, e.g. 1.5. Enter 0 for a short call.")
    )
    participants = TextAreaField(
        _l("Participants"),
        description=_l("Optional. Who took part, e.g. 대표이사 김OO, 컨설턴트 이OO."),
        render_kw={"rows": 2},
    )
    summary = TextAreaField(
        _l("Summary"),
        description=_l("What was discussed or done, and the next steps."),
        render_kw={"rows": 6},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = ActivityKind.choices()

    def to_data(self) -> ActivityData:
        return ActivityData(
            kind=self.kind.data,
            occurred_on=self.occurred_on.data,
            hours=self.hours.data,
            participants=self.participants.data or "",
            summary=self.summary.data or "",
        )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return add_problems(self, activity_problems(self.to_data())) and valid


class ConfirmDeleteForm(FlaskForm):
    """The confirmation page's button: the CSRF token only (the page itself is the confirmation)."""
