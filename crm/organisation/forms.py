from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField
from wtforms.validators import DataRequired, Length

from crm.core.forms import StrippedStringField
from crm.firms.regions import sido_choices
from crm.organisation.models import InstitutionRole


class ConsortiumForm(FlaskForm):
    name = StrippedStringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), Length(max=120)],
        description=_l("For example 울산 AI 사업단."),
    )
    sido_code = SelectField(_l("Region (시도)"), validators=[DataRequired(_l("Choose a region."))])
    is_active = BooleanField(_l("In operation"), default=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sido_code.choices = [("", _l("Choose…")), *sido_choices()]


class InstitutionForm(FlaskForm):
    name = StrippedStringField(_l("Name"), validators=[DataRequired(_l("Enter a name.")), Length(max=120)])
    role = SelectField(
        _l("Role in the consortium"), default=InstitutionRole.performing.value, validators=[DataRequired()]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per request: enum titles are translated into the reader's language.
        self.role.choices = InstitutionRole.choices()
