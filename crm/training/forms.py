from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.core.forms import StrippedStringField, add_problems
from crm.engagements.models import Engagement
from crm.firms.operations import brn_problem
from crm.programmes.models import Programme
from crm.training.models import TrainingSession
from crm.training.operations import RegistrationData, SessionData, session_problems


class SessionForm(FlaskForm):
    """The operation's checks run here too, so one submit shows every problem at once."""

    course = StrippedStringField(
        _l("Course"), validators=[Optional()], description=_l("E.g. 재직자 생성형 AI 실무.")
    )
    held_on = DateField(_l("Day"), validators=[Optional()])
    starts_at = TimeField(_l("Starts at"), validators=[Optional()], description=_l("Optional; Korean time."))
    hours = DecimalField(
        _l("Teaching hours"),
        places=None,
        validators=[Optional()],
        render_kw={"inputmode": "decimal"},
        description=_l("E.g. 3 or 3.5."),
    )
    place = StrippedStringField(_l("Place"), validators=[Optional()])
    capacity = IntegerField(
        _l("Capacity (people)"), validators=[Optional()], render_kw={"inputmode": "numeric", "min": 1}
    )

    def __init__(
        self, *args: Any, programme: Programme, session: TrainingSession | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.programme = programme
        self.session = session

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return add_problems(self, session_problems(self.programme, self.to_data(), self.session)) and valid

    def to_data(self) -> SessionData:
        return SessionData(
            course=self.course.data or "",
            held_on=self.held_on.data,
            starts_at=self.starts_at.data,
            hours=self.hours.data,
            place=self.place.data or "",
            capacity=self.capacity.data,
        )


def _brn_ok(form: FlaskForm, field: Any) -> None:
    if field.data and (message := brn_problem(field.data)):
        raise ValidationError(str(message))


class RegistrationForm(FlaskForm):
    name = StrippedStringField(
        _l("Name"), validators=[DataRequired(_l("Enter the person's name.")), Length(max=100)]
    )
    email = StrippedStringField(
        _l("E-mail"),
        validators=[
            DataRequired(_l("Enter the person's e-mail address: it tells people apart in the quota.")),
            Length(max=254),
        ],
        render_kw={"type": "email", "autocomplete": "off"},
    )
    phone = StrippedStringField(
        _l("Phone"), validators=[Optional(), Length(max=30)], render_kw={"type": "tel", "autocomplete": "off"}
    )
    brn = StrippedStringField(
        _l("Firm's business registration number"),
        validators=[Optional(), Length(max=20), _brn_ok],
        description=_l("Optional: the firm the person works for, e.g. 124-81-00998."),
        render_kw={"inputmode": "numeric"},
    )
    engagement_id = SelectField(
        _l("Engagement in this programme"),
        coerce=lambda value: int(value) if value not in (None, "", "None") else None,
        validators=[Optional()],
        description=_l("Optional: links the person to the firm's engagement."),
    )

    def __init__(self, *args: Any, engagements: list[Engagement] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engagement_id.choices = [("", _l("— none —"))] + [
            (e.id, f"{e.firm.name} ({e.firm.brn_display}) · {e.status.title}") for e in engagements or []
        ]

    def to_data(self) -> RegistrationData:
        return RegistrationData(
            name=self.name.data or "",
            email=self.email.data or "",
            phone=self.phone.data or "",
            brn=self.brn.data or "",
            engagement_id=self.engagement_id.data,
        )


class ConfirmDeleteForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete it"), validators=[DataRequired(_l("Tick the box to confirm the deletion."))]
    )


class AttendanceForm(FlaskForm):
    """Rendered by hand: one checkbox per registration (`attended`) and a hidden input per registration the
    page showed (`shown`), so a registration added meanwhile is not marked absent unseen."""

    shown = SelectMultipleField(coerce=int, validate_choice=False)
    attended = SelectMultipleField(coerce=int, validate_choice=False)
