"""Forms of the user administration screens."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from crm.auth.forms import EmailField
from crm.auth.models import Role, User
from crm.auth.operations import UserData, password_problems
from crm.core.forms import StrippedStringField
from crm.extensions import db
from crm.firms.models import Firm
from crm.organisation.models import Consortium, Institution


def optional_int(value: Any) -> int | None:
    """Coerce for selects whose first option is "none": '' becomes None instead of a coercion error."""
    if value in (None, ""):
        return None
    return int(value)


def optional_role(value: Any) -> Role | None:
    if value in (None, ""):
        return None
    return Role(value)


def find_firm(text: str) -> Firm | None:
    """A firm by its BRN (any of 123-45-67890, 1234567890) or by its numeric id.

    A 10-digit input is always read as a BRN: ids never reach ten digits, and a BRN is what staff have
    on paper.
    """
    digits = re.sub(r"[\s-]", "", text or "")
    if not digits.isdigit():
        return None
    if len(digits) == 10:
        return db.session.scalar(sa.select(Firm).where(Firm.brn == digits))
    if len(digits) > 9:  # not a BRN, and too big for an id column (SQLite would raise on it)
        return None
    return db.session.get(Firm, int(digits))


# WTForms 3.3 deprecates (value, label) tuples as choices; SelectChoice is what 3.4 will require.
def _choices(pairs: list[tuple[Any, Any]]) -> list[SelectChoice]:
    return [SelectChoice(value=str(value), label=label) for value, label in pairs]


def _consortium_choices() -> list[SelectChoice]:
    consortia = db.session.scalars(sa.select(Consortium).order_by(Consortium.name)).all()
    return _choices([("", _l("— none —"))] + [(c.id, c.name) for c in consortia])


def _institution_choices() -> list[SelectChoice]:
    rows = db.session.execute(
        sa.select(Institution.id, Consortium.name, Institution.name)
        .join(Institution.consortium)
        .order_by(Consortium.name, Institution.name)
    ).all()
    return _choices([("", _l("— none —"))] + [(i, f"{c} · {n}") for i, c, n in rows])


class UserForm(FlaskForm):
    """Create or edit a user; `with_password` adds the initial password (create only)."""

    email = EmailField(_l("E-mail"), render_kw={"autocomplete": "off"})
    name = StrippedStringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), coerce=optional_role, validators=[DataRequired()])
    consortium_id = SelectField(
        _l("Consortium"),
        coerce=optional_int,
        description=_l("Needed for a consortium manager."),
    )
    institution_id = SelectField(
        _l("Institution"),
        coerce=optional_int,
        description=_l("Needed for a coordinator; the consortium follows from the institution."),
    )
    firm_id = StrippedStringField(
        _l("Firm"),
        validators=[Length(max=20)],
        description=_l("Needed for a firm user: the business registration number (123-45-67890) or firm ID."),
    )
    locale = SelectField(_l("Language"), default="")
    password = PasswordField(
        _l("Initial password"),
        validators=[DataRequired()],
        description=_l("12 to 128 characters. Tell it to the user through a separate channel."),
        render_kw={"autocomplete": "new-password"},
    )

    def __init__(self, *args: Any, with_password: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not with_password:
            del self.password
        # Choices are built per request: role titles follow the user's language and scopes come from the DB.
        self.role.choices = _choices([("", _l("— choose —")), *Role.choices()])
        self.consortium_id.choices = _consortium_choices()
        self.institution_id.choices = _institution_choices()
        self.locale.choices = _choices([("", _l("Browser default")), ("ko", "한국어"), ("en", "English")])
        self.firm: Firm | None = None

    def validate_firm_id(self, field: StrippedStringField) -> None:
        # Only a firm user needs a firm; text left over from switching roles is ignored otherwise.
        if self.role.data is not Role.firm_user or not field.data:
            return
        self.firm = find_firm(field.data)
        if self.firm is None:
            raise ValidationError(_l("No firm has this business registration number or ID."))

    def validate_password(self, field: PasswordField) -> None:
        if problems := password_problems(field.data):
            raise ValidationError(str(problems[0]))

    def user_data(self) -> UserData:
        return UserData(
            email=self.email.data,
            name=self.name.data,
            role=self.role.data,
            consortium_id=self.consortium_id.data,
            institution_id=self.institution_id.data,
            firm_id=self.firm.id if self.firm is not None else None,
            locale=self.locale.data or None,
        )

    def fill_from(self, user: User) -> None:
        """Pre-fills an edit form; the firm is shown as its BRN, the way staff look it up."""
        self.email.data = user.email
        self.name.data = user.name
        self.role.data = user.role
        self.consortium_id.data = user.consortium_id if user.role is Role.consortium_manager else None
        self.institution_id.data = user.institution_id
        self.firm_id.data = user.firm.brn_display if user.firm is not None else ""
        self.locale.data = user.locale or ""


class PasswordSetForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[DataRequired()],
        description=_l("12 to 128 characters. The user's open sessions end when it is saved."),
        render_kw={"autocomplete": "new-password"},
    )


class DeactivateForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, deactivate this account and sign it out everywhere."),
        validators=[DataRequired(message=_l("Tick the box to confirm."))],
    )


class ActionForm(FlaskForm):
    """Only the CSRF token: for one-button actions such as activating an account."""


class UserFilterForm(FlaskForm):
    """The list's search and filters, read from the query string (GET, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StrippedStringField(_l("Search"), render_kw={"placeholder": _l("E-mail or name")})
    role = SelectField(_l("Role"))
    active = SelectField(_l("State"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = _choices([("", _l("All roles")), *Role.choices()])
        self.active.choices = _choices(
            [("", _l("All users")), ("1", _l("Active users")), ("0", _l("Deactivated users"))]
        )
