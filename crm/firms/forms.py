from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, ValidationError

from crm.core.forms import MoneyField, StrippedStringField
from crm.firms import ksic, regions
from crm.firms.models import BusinessStatus
from crm.firms.operations import (
    ContactData,
    FirmData,
    brn_problem,
    corp_no_problem,
    founded_on_problem,
    ksic_problem,
    sigungu_problem,
)


def _brn_ok(form: FlaskForm, field: Any) -> None:
    if field.data and (message := brn_problem(field.data)):
        raise ValidationError(str(message))


def _corp_no_ok(form: FlaskForm, field: Any) -> None:
    if field.data and (message := corp_no_problem(field.data)):
        raise ValidationError(str(message))


def _blank(label: Any) -> tuple[str, str]:
    return ("", str(label))


def _ksic_revision_choices() -> list[tuple[int, str]]:
    labels = {11: _l("Revision 11 (2024)"), 10: _l("Revision 10 (2017)")}
    return [(rev, str(labels.get(rev, rev))) for rev in sorted(ksic.KSIC_REVISIONS, reverse=True)]


class FirmEditForm(FlaskForm):
    """Everything about a firm but its BRN, which never changes once registered."""

    corp_no = StrippedStringField(
        _l("Corporate registration number (법인등록번호)"),
        validators=[Optional(), Length(max=20), _corp_no_ok],
        description=_l("Optional. 13 digits, e.g. 110111-0062432."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    name = StrippedStringField(
        _l("Firm name"),
        validators=[DataRequired(_l("Enter the firm's name.")), Length(max=200)],
        render_kw={"autocomplete": "organization"},
    )
    ceo_name = StrippedStringField(_l("CEO"), validators=[Optional(), Length(max=100)])
    founded_on = DateField(_l("Founded on"), validators=[Optional()])
    address = StrippedStringField(
        _l("Address"), validators=[Optional(), Length(max=300)], render_kw={"autocomplete": "street-address"}
    )
    sido_code = SelectField(_l("시도"), validators=[Optional()])
    sigungu_code = SelectField(_l("시군구"), validators=[Optional()])
    ksic_code = StrippedStringField(
        _l("KSIC code"),
        validators=[Optional()],
        description=_l("5-digit industry code (한국표준산업분류), e.g. 26110."),
        render_kw={"inputmode": "numeric"},
    )
    ksic_revision = SelectField(_l("KSIC revision"), coerce=int)
    employees = IntegerField(
        _l("Employees"),
        validators=[
            Optional(),
            NumberRange(min=0, message=_l("The number of employees cannot be negative.")),
        ],
        render_kw={"inputmode": "numeric", "min": 0},
    )
    sme_certificate_expires_on = DateField(
        _l("SME certificate valid until"),
        validators=[Optional()],
        description=_l("Expiry date on the 중소기업 확인서; leave empty if the firm has none."),
    )
    business_status = SelectField(_l("Business status"))
    is_supplier = BooleanField(_l("AI solution supplier (공급기업)"))
    solutions_offered = TextAreaField(
        _l("Solutions offered"),
        validators=[Optional(), Length(max=5000)],
        description=_l("For suppliers: the AI solutions the firm offers, one per line."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sido_code.choices = [_blank(_l("— choose —")), *regions.sido_choices()]
        self.sigungu_code.choices = [_blank(_l("— choose —")), *regions.sigungu_choices()]
        self.ksic_revision.choices = _ksic_revision_choices()
        self.business_status.choices = BusinessStatus.choices()
        if self.sido_code.data is None:
            self.sido_code.data = ""
        if self.sigungu_code.data is None:
            self.sigungu_code.data = ""

    # The same checks the operation makes, here too so that one submit shows every problem at once.
    def validate_sigungu_code(self, field: Any) -> None:
        if message := sigungu_problem(field.data, self.sido_code.data):
            raise ValidationError(str(message))

    def validate_ksic_code(self, field: Any) -> None:
        if message := ksic_problem(field.data):
            raise ValidationError(str(message))

    def validate_founded_on(self, field: Any) -> None:
        if message := founded_on_problem(field.data):
            raise ValidationError(str(message))

    def to_data(self) -> FirmData:
        brn_field = self._fields.get("brn")
        return FirmData(
            name=self.name.data or "",
            brn=brn_field.data if brn_field is not None else "",
            corp_no=self.corp_no.data or "",
            ceo_name=self.ceo_name.data or "",
            founded_on=self.founded_on.data,
            address=self.address.data or "",
            sido_code=self.sido_code.data or "",
            sigungu_code=self.sigungu_code.data or "",
            ksic_code=self.ksic_code.data or "",
            ksic_revision=self.ksic_revision.data if self.ksic_code.data else None,
            employees=self.employees.data,
            sme_certificate_expires_on=self.sme_certificate_expires_on.data,
            business_status=BusinessStatus(self.business_status.data),
            is_supplier=bool(self.is_supplier.data),
            solutions_offered=self.solutions_offered.data or "",
        )


class FirmRegisterForm(FirmEditForm):
    brn = StrippedStringField(
        _l("Business registration number (사업자등록번호)"),
        validators=[DataRequired(_l("Enter the business registration number.")), Length(max=20), _brn_ok],
        description=_l("10 digits, with or without dashes, e.g. 124-81-00998."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )


class ContactForm(FlaskForm):
    name = StrippedStringField(
        _l("Name"), validators=[DataRequired(_l("Enter the contact's name.")), Length(max=100)]
    )
    position = StrippedStringField(_l("Position"), validators=[Optional(), Length(max=100)])
    phone = StrippedStringField(
        _l("Phone"), validators=[Optional(), Length(max=30)], render_kw={"type": "tel", "autocomplete": "tel"}
    )
    email = StrippedStringField(
        _l("E-mail"),
        validators=[Optional(), Email(_l("Enter a valid e-mail address.")), Length(max=254)],
        render_kw={"type": "email", "autocomplete": "email"},
    )
    is_primary = BooleanField(_l("Primary contact"))
    consent_privacy = BooleanField(_l("Consented to the collection and use of personal data"))
    consent_admin_info = BooleanField(_l("Consented to shared use of administrative information"))
    consent_marketing = BooleanField(_l("Consented to receive marketing messages"))

    def to_data(self) -> ContactData:
        return ContactData(
            name=self.name.data or "",
            position=self.position.data or "",
            phone=self.phone.data or "",
            email=self.email.data or "",
            is_primary=bool(self.is_primary.data),
            consent_privacy=bool(self.consent_privacy.data),
            consent_admin_info=bool(self.consent_admin_info.data),
            consent_marketing=bool(self.consent_marketing.data),
        )

    @classmethod
    def for_contact(cls, contact: Any) -> ContactForm:
        """The edit form of a contact, its consent boxes ticked where a consent is on record."""
        return cls(
            obj=contact,
            consent_privacy=contact.consent_privacy_at is not None,
            consent_admin_info=contact.consent_admin_info_at is not None,
            consent_marketing=contact.consent_marketing_at is not None,
        )


class ConfirmDeleteForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete this contact and its personal data"),
        validators=[DataRequired(_l("Tick the box to confirm the deletion."))],
    )


# A text input: a number input would refuse the "1,234,000" that MoneyField accepts.
_AMOUNT_INPUT = {"type": "text", "inputmode": "numeric", "autocomplete": "off"}


class FinancialsForm(FlaskForm):
    year = IntegerField(
        _l("Fiscal year"),
        validators=[DataRequired(_l("Enter the fiscal year, e.g. 2025."))],
        render_kw={"inputmode": "numeric"},
    )
    revenue_krw = MoneyField(_l("Revenue (원)"), validators=[Optional()], render_kw=_AMOUNT_INPUT)
    assets_krw = MoneyField(_l("Total assets (원)"), validators=[Optional()], render_kw=_AMOUNT_INPUT)
    exports_krw = MoneyField(_l("Exports (원)"), validators=[Optional()], render_kw=_AMOUNT_INPUT)


class FirmSearchForm(FlaskForm):
    """The list filters, sent with GET so a filtered list can be bookmarked."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Search"),
        description=_l("Name, initial consonants (e.g. ㅇㅅ) or business registration number"),
        render_kw={"type": "search"},
    )
    sido = SelectField(_l("시도"), validate_choice=False)
    sigungu = SelectField(_l("시군구"), validate_choice=False)
    ksic = StringField(
        _l("Industry (KSIC)"),
        description=_l("Code prefix (e.g. 26) or section letter (e.g. C)"),
        render_kw={"size": 8},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sido.choices = [_blank(_l("All")), *regions.sido_choices()]
        self.sigungu.choices = [_blank(_l("All")), *regions.sigungu_choices()]
