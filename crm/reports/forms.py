"""The reports' filter: consortium and programme year (by ordinal, so "year 1" compares consortia)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField

from crm.reports.scope import FilterChoices


class ReportFilterForm(FlaskForm):
    class Meta:
        csrf = False

    consortium = SelectField(_l("Consortium"))
    year = SelectField(_l("Programme year"))

    def set_choices(self, choices: FilterChoices) -> None:
        self.consortium.choices = [
            ("", _l("All consortia")),
            *((str(i), name) for i, name in choices.consortia),
        ]
        self.year.choices = [
            ("", _l("All programme years")),
            *((str(n), _l("Year %(n)s", n=n)) for n in choices.ordinals),
        ]

    @staticmethod
    def chosen(field: SelectField) -> int | bool | None:
        """The chosen id as an int, None for "all", False for a value that is not one of the choices (a
        consortium the user may not see: the page answers 404)."""
        raw = field.data or ""
        if raw == "":
            return None
        if raw not in {value for value, _label in field.choices}:
            return False
        return int(raw)
