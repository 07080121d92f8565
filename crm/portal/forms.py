from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from crm.auth.operations import password_problems
from crm.core.forms import StrippedStringField
from crm.firms import regions
from crm.firms.forms import FirmEditForm
from crm.firms.models import Firm
from crm.firms.operations import brn_problem, sigungu_problem
from crm.portal.models import ClaimStatus
from crm.portal.operations import SignupData

_EMAIL_INPUT = {"type": "email", "autocomplete": "email"}


def _email_field(label: Any, **kwargs: Any) -> StrippedStringField:
    return StrippedStringField(
        label,
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Email(_l("Enter a valid e-mail address.")),
            Length(max=254),
        ],
        render_kw=_EMAIL_INPUT,
        **kwargs,
    )


def _choices_with_blank(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", str(_l("— choose —"))), *choices]


class SignupForm(FlaskForm):
    email = _email_field(
        _l("E-mail"), description=_l("You sign in with it; we send a confirmation link to it.")
    )
    name = StrippedStringField(
        _l("Your name"),
        validators=[DataRequired(_l("Enter your name.")), Length(max=100)],
        render_kw={"autocomplete": "name"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Choose a password."))],
        description=_l("12 to 128 characters. A passphrase of several words is easiest."),
        render_kw={"autocomplete": "new-password"},
    )
    password_confirm = PasswordField(
        _l("Password again"),
        validators=[
            DataRequired(_l("Enter the password a second time.")),
            EqualTo("password", _l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    brn = StrippedStringField(
        _l("Business registration number (사업자등록번호)"),
        validators=[DataRequired(_l("Enter the business registration number.")), Length(max=20)],
        description=_l("10 digits, with or without dashes, e.g. 124-81-00998."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    firm_name = StrippedStringField(
        _l("Firm name"),
        validators=[Optional(), Length(max=200)],
        description=_l("Needed when the firm is not registered yet."),
        render_kw={"autocomplete": "organization"},
    )
    ceo_name = StrippedStringField(_l("CEO"), validators=[Optional(), Length(max=100)])
    sido_code = SelectField(_l("시도"), validators=[Optional()])
    sigungu_code = SelectField(_l("시군구"), validators=[Optional()])
    phone = StrippedStringField(
        _l("Phone"), validators=[Optional(), Length(max=30)], render_kw={"type": "tel", "autocomplete": "tel"}
    )
    message = TextAreaField(
        _l("Note for the programme staff"),
        validators=[Optional(), Length(max=2000)],
        description=_l(
            "If the firm is already registered, staff approve your account first: "
            "say who you are at the firm."
        ),
    )
    consent_privacy = BooleanField(
        _l("I consent to the collection and use of my personal data (required)"),
        validators=[
            DataRequired(_l("An account needs your consent to the collection and use of personal data."))
        ],
    )
    consent_admin_info = BooleanField(
        _l("I consent to the shared use of administrative information (optional)")
    )
    consent_marketing = BooleanField(
        _l("I agree to receive programme news and marketing messages (optional)")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sido_code.choices = _choices_with_blank(regions.sido_choices())
        self.sigungu_code.choices = _choices_with_blank(regions.sigungu_choices())
        if self.sido_code.data is None:
            self.sido_code.data = ""
        if self.sigungu_code.data is None:
            self.sigungu_code.data = ""

    # The operation checks these too; here as well so that one submit shows every problem at once.
    def validate_password(self, field: Any) -> None:
        if field.data and (problems := password_problems(field.data)):
            raise ValidationError(str(problems[0]))

    def validate_brn(self, field: Any) -> None:
        if field.data and (message := brn_problem(field.data)):
            raise ValidationError(str(message))

    def validate_sigungu_code(self, field: Any) -> None:
        if message := sigungu_problem(field.data, self.sido_code.data):
            raise ValidationError(str(message))

    def to_data(self) -> SignupData:
        return SignupData(
            email=self.email.data or "",
            name=self.name.data or "",
            password=self.password.data or "",
            brn=self.brn.data or "",
            firm_name=self.firm_name.data or "",
            ceo_name=self.ceo_name.data or "",
            sido_code=self.sido_code.data or "",
            sigungu_code=self.sigungu_code.data or "",
            phone=self.phone.data or "",
            message=self.message.data or "",
            consent_privacy=bool(self.consent_privacy.data),
            consent_admin_info=bool(self.consent_admin_info.data),
            consent_marketing=bool(self.consent_marketing.data),
        )


class ResendForm(FlaskForm):
    email = _email_field(_l("E-mail"))


class ClaimDecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[
            ("approve", _l("Approve: this person may act for the firm")),
            ("refuse", _l("Refuse")),
        ],
        validators=[DataRequired(_l("Choose approve or refuse."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Required for a refusal; the applicant receives it by e-mail."),
    )

    def validate_reason(self, field: Any) -> None:
        if self.decision.data == "refuse" and not (field.data or "").strip():
            raise ValidationError(str(_l("Give the reason for the refusal; the applicant receives it.")))


class ClaimFilterForm(FlaskForm):
    """The list filter, sent with GET so a filtered list can be bookmarked."""

    class Meta:
        csrf = False

    status = SelectField(_l("Status"), validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = [*ClaimStatus.choices(), ("all", str(_l("All")))]

    @property
    def chosen(self) -> ClaimStatus | None:
        """The status to list (pending unless another is chosen); None lists all."""
        if self.status.data == "all":
            return None
        try:
            return ClaimStatus(self.status.data)
        except ValueError:
            return ClaimStatus.pending


class PortalFirmForm(FirmEditForm):
    """The staff's firm form without what the firm may not change: the corporate registration number and the
    business status are not shown; they carry the registered values so the shared `to_data()` still works
    (and the operation ignores them anyway)."""

    def __init__(self, firm: Firm, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, obj=firm, **kwargs)
        self.corp_no.data = firm.corp_no_display
        self.corp_no.raw_data = []
        self.business_status.data = firm.business_status.value
