"""Form helpers: operation errors onto fields, and shared field types."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField

from crm.core.exceptions import OperationError


def show_operation_error(form: FlaskForm | None, error: OperationError) -> None:
    """Puts each field's messages under that field; anything else becomes a flash message. What the user
    typed stays in the form because the view re-renders it instead of redirecting."""
    unplaced: list[Any] = []
    for name, messages in error.fields.items():
        field = form._fields.get(name) if form is not None else None
        if field is None:
            unplaced.extend(messages)
        else:
            field.errors = list(field.errors or []) + [str(m) for m in messages]
    if not error.fields or unplaced:
        flash(str(error.message) if not unplaced else " ".join(str(m) for m in unplaced), "error")


def add_problems(form: FlaskForm, problems: dict[str, list[Any]]) -> bool:
    """Puts an operation's checks under the fields, so one submit shows every problem at once; a field that
    did not even parse keeps that message. False when any problem was placed."""
    valid = True
    for name, messages in problems.items():
        field = form._fields.get(name)
        if field is not None and not field.errors:
            field.errors = [*field.errors, *(str(m) for m in messages)]
            valid = False
    return valid


def render_form(template: str, **context: Any) -> tuple[str, int]:
    """A form page. Rendered in answer to a POST it means the submission was refused: 422, with the
    errors and everything that was typed."""
    return render_template(template, **context), 422 if request.method == "POST" else 200


class StrippedStringField(StringField):
    def process_formdata(self, valuelist: list[str]) -> None:
        super().process_formdata(valuelist)
        if isinstance(self.data, str):
            self.data = self.data.strip()


class MoneyField(IntegerField):
    """Whole 원; accepts '1,234,000' and '1234000'. A text input (numeric keypad on phones), because a number
    input refuses the thousands separators people type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        render_kw = {"inputmode": "numeric", "type": "text", **(kwargs.pop("render_kw", None) or {})}
        super().__init__(*args, render_kw=render_kw, **kwargs)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:,}" if isinstance(self.data, int) else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:
            raw = valuelist[0].replace(",", "").replace("원", "").strip()
            if raw == "":
                self.data = None
                return
            try:
                self.data = int(raw)
            except ValueError:
                self.data = None
                raise ValueError(str(_l("Enter a whole number of won, e.g. 1,000,000."))) from None
            if self.data < 0:
                raise ValueError(str(_l("An amount cannot be negative.")))
