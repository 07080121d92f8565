from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from crm.core.forms import MoneyField, add_problems
from crm.sanctions.models import AppealStatus, Sanction, SanctionKind
from crm.sanctions.operations import SanctionData, SanctionUpdate, sanction_problems


class SanctionEditForm(FlaskForm):
    """What may change on an imposed sanction. The operation's checks run here too, so one submit shows
    every problem at once."""

    basis = TextAreaField(
        _l("Basis"),
        validators=[Optional(), Length(max=5000)],
        description=_l(
            "The rule that was breached and what happened, e.g. 협약 위반 (제12조), 사업비 목적 외 사용."
        ),
    )
    ends_on = DateField(
        _l("Ends on"),
        validators=[Optional()],
        description=_l("Leave empty for a sanction without an end date."),
    )
    amount_krw = MoneyField(
        _l("Amount (원)"),
        validators=[Optional()],
        description=_l("Required for a clawback: the sum to recover."),
    )
    appeal_status = SelectField(_l("Appeal (이의신청)"), default=AppealStatus.none.value)

    def __init__(self, *args: Any, sanction: Sanction | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sanction = sanction
        self.appeal_status.choices = AppealStatus.choices()

    def _kind(self) -> SanctionKind | None:
        return self.sanction.kind if self.sanction is not None else None

    def _starts_on(self) -> Any:
        return self.sanction.starts_on if self.sanction is not None else None

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        problems = sanction_problems(
            self._kind(), self.basis.data, self._starts_on(), self.ends_on.data, self.amount_krw.data
        )
        return add_problems(self, problems) and valid

    def to_update(self) -> SanctionUpdate:
        return SanctionUpdate(
            basis=self.basis.data or "",
            ends_on=self.ends_on.data,
            amount_krw=self.amount_krw.data,
            appeal_status=self.appeal_status.data or "",
        )


class SanctionForm(SanctionEditForm):
    kind = SelectField(_l("Kind"))
    starts_on = DateField(_l("Starts on"), validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = SanctionKind.choices()

    def _kind(self) -> SanctionKind | None:
        try:
            return SanctionKind(self.kind.data)
        except ValueError:
            return None

    def _starts_on(self) -> Any:
        return self.starts_on.data

    def to_data(self) -> SanctionData:
        return SanctionData(
            kind=self.kind.data,
            basis=self.basis.data or "",
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            amount_krw=self.amount_krw.data,
            appeal_status=self.appeal_status.data or "",
        )


class LiftForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for lifting"),
        validators=[DataRequired(_l("Enter why the sanction is lifted.")), Length(max=2000)],
        description=_l("E.g. the court annulled the decision, or the amount was fully recovered."),
    )
