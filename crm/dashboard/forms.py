"""The dashboard's filters (a GET form: bookmarkable, no CSRF)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.validators import Optional

from crm.dashboard.quotas import YearOption
from crm.programmes.models import Track


def _year_label(year: YearOption, with_consortium: bool) -> str:
    label = str(
        _l("Year %(n)s (%(start)s – %(end)s)", n=year.ordinal, start=year.starts_on, end=year.ends_on)
    )
    return f"{year.consortium_name} · {label}" if with_consortium else label


class DashboardFilterForm(FlaskForm):
    class Meta:
        csrf = False

    year = SelectField(_l("Programme year"), validators=[Optional()])
    consortium = SelectField(_l("Consortium"), validators=[Optional()])
    track = SelectField(_l("Track"), validators=[Optional()])

    def fill(self, years: list[YearOption], consortia: list[tuple[int, str]], many_consortia: bool) -> None:
        self.year.choices = [
            ("", str(_l("Current year of each consortium") if many_consortia else _l("Current year"))),
            *((str(y.id), _year_label(y, many_consortia)) for y in years),
        ]
        self.consortium.choices = [("", str(_l("All consortia"))), *((str(i), n) for i, n in consortia)]
        self.track.choices = [("", str(_l("All tracks"))), *Track.choices()]

    @staticmethod
    def _int(raw: Any) -> int | None:
        return int(raw) if isinstance(raw, str) and raw.isdigit() else None

    @property
    def year_id(self) -> int | None:
        return self._int(self.year.data)

    @property
    def consortium_id(self) -> int | None:
        return self._int(self.consortium.data)

    @property
    def track_value(self) -> Track | None:
        return Track(self.track.data) if self.track.data in Track._value2member_map_ else None
