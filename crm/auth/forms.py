from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from crm.core.forms import StrippedStringField


class LoginForm(FlaskForm):
    email = StrippedStringField(
        _l("E-mail"),
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired()],
        description=_l("12 to 128 characters. A passphrase of several words is easiest."),
        render_kw={"autocomplete": "new-password"},
    )


class LanguageForm(FlaskForm):
    locale = SelectField(
        _l("Language"), choices=[SelectChoice("ko", "한국어"), SelectChoice("en", "English")]
    )
    next = HiddenField()


class EmailField(StrippedStringField):
    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(
            label, validators=[DataRequired(), Email(), Length(max=254), *(validators or [])], **kwargs
        )
