"""Forms of the engagement pages. The operations hold the rules; forms only parse."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from crm.core.forms import MoneyField, StrippedStringField
from crm.engagements import operations
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Track

NONE = ""


def _optional_int(value: Any) -> int | None:
    return int(value) if value not in (None, "", "None") else None


class _TermsForm(FlaskForm):
    starts_on = DateField(_l("Agreement starts on"), validators=[Optional()])
    ends_on = DateField(_l("Agreement ends on"), validators=[Optional()])
    gov_krw = MoneyField(_l("National funds (국비, 원)"), validators=[InputRequired()], default=0)
    local_krw = MoneyField(_l("Local funds (지방비, 원)"), validators=[InputRequired()], default=0)
    self_cash_krw = MoneyField(
        _l("Own share in cash (자부담 현금, 원)"), validators=[InputRequired()], default=0
    )
    self_inkind_krw = MoneyField(
        _l("Own share in kind (자부담 현물, 원)"), validators=[InputRequired()], default=0
    )
    supplier_firm_id = SelectField(_l("Supplier (공급기업)"), coerce=_optional_int, validate_choice=False)
    solution = StrippedStringField(_l("AI solution"), validators=[Optional(), Length(max=300)])

    def __init__(self, engagement: Engagement, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engagement = engagement
        self.is_adoption = engagement.programme.track is Track.adoption
        if self.is_adoption:
            suppliers = db.session.execute(
                sa.select(Firm.id, Firm.name)
                .where(Firm.is_supplier.is_(True))
                .order_by(Firm.name)
                .limit(1000)
            ).all()
            self.supplier_firm_id.choices = [(NONE, _l("— choose —")), *[(str(i), n) for i, n in suppliers]]
        else:
            del self.supplier_firm_id
            del self.solution

    def terms(self, base: operations.AgreementData) -> operations.AgreementData:
        for name in ("starts_on", "ends_on", *operations.AMOUNT_FIELDS):
            setattr(base, name, self[name].data)
        if self.is_adoption:
            base.supplier_firm_id = self.supplier_firm_id.data
            base.solution = self.solution.data or ""
        return base


class AgreementForm(_TermsForm):
    agreed_on = DateField(_l("Signed on"), validators=[Optional()])
    coordinator_id = SelectField(_l("Coordinator"), coerce=_optional_int, validate_choice=False)
    version = HiddenField()

    def __init__(self, engagement: Engagement, *args: Any, **kwargs: Any) -> None:
        super().__init__(engagement, *args, obj=engagement, **kwargs)
        self.coordinator_id.choices = [
            (NONE, _l("— not assigned —")),
            *[(str(u.id), u.name) for u in operations.coordinator_choices(engagement)],
        ]
        if not self.is_submitted():
            self.version.data = str(engagement.version)

    def to_data(self) -> operations.AgreementData:
        data = self.terms(operations.AgreementData.of(self.engagement))
        data.agreed_on = self.agreed_on.data
        data.coordinator_id = self.coordinator_id.data
        return data


class ChangeForm(_TermsForm):
    reason = TextAreaField(_l("Reason for the change"), validators=[Optional(), Length(max=5000)])

    def __init__(self, engagement: Engagement, *args: Any, **kwargs: Any) -> None:
        super().__init__(engagement, *args, obj=engagement, **kwargs)
        if not self.is_submitted():
            self.reason.data = ""

    def to_data(self) -> operations.AgreementData:
        return self.terms(operations.AgreementData.of(self.engagement))


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[("approve", _l("Approve: the new terms apply")), ("refuse", _l("Refuse"))],
        validators=[InputRequired(message=_l("Choose approve or refuse."))],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=5000)])


class TransitionForm(FlaskForm):
    to = HiddenField(validators=[DataRequired()])
    reason = TextAreaField(_l("Reason or note"), validators=[Optional(), Length(max=5000)])
    version = HiddenField()


class TerminationForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=5000)],
        description=_l("e.g. 협약 위반 (제12조), 기업 사정에 의한 중도포기"),
    )
    ban_until = DateField(
        _l("Participation ban until (참여제한)"),
        validators=[Optional()],
        description=_l("Leave empty for no ban. Only consortium managers may impose sanctions."),
    )
    clawback_krw = MoneyField(
        _l("Clawback (환수, 원)"), validators=[Optional()], description=_l("Leave empty for no clawback.")
    )
    confirm = BooleanField(
        _l("I understand that terminating ends the agreement and cannot be undone."),
        validators=[DataRequired(message=_l("Tick to confirm the termination."))],
    )
    version = HiddenField()

    def to_data(self) -> operations.TerminationData:
        return operations.TerminationData(
            reason=self.reason.data or "",
            ban_until=self.ban_until.data,
            clawback_krw=self.clawback_krw.data,
            expected_version=_optional_int(self.version.data),
        )


class SettlementForm(FlaskForm):
    settlement_spent_krw = MoneyField(
        _l("Amount spent of the public funds (원)"), validators=[InputRequired()]
    )


class DirectEngagementForm(FlaskForm):
    brn = StrippedStringField(
        _l("Business registration number"),
        validators=[DataRequired(message=_l("Enter the firm's business registration number."))],
        description=_l("The firm must already be registered; e.g. 123-45-67890."),
    )
    override_reason = TextAreaField(
        _l("Duplicate-support override (managers only)"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Only when the firm already has support of this track and a manager allows it."),
    )


class EngagementFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StrippedStringField(_l("Firm name or BRN"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()])
    track = SelectField(_l("Track"), validators=[Optional()])
    programme_id = IntegerField(validators=[Optional()])
