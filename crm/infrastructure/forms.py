from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, DecimalField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from crm.core.forms import StrippedStringField, add_problems
from crm.infrastructure.models import GpuAllocation
from crm.infrastructure.operations import AllocationData, UsageData, allocation_problems, usage_problems


class AllocationForm(FlaskForm):
    hours_granted = DecimalField(
        _l("GPU hours granted"),
        places=None,
        validators=[Optional()],
        render_kw={"inputmode": "decimal"},
        description=_l("The hours the firm may use in all, e.g. 500."),
    )
    granted_on = DateField(_l("Granted on"), validators=[Optional()])
    resource = StrippedStringField(
        _l("Resource"),
        validators=[Optional(), Length(max=200)],
        description=_l("What was granted, e.g. A100 80GB × 2, 광주 AI 데이터센터."),
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 3})

    def __init__(self, *args: Any, allocation: GpuAllocation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allocation = allocation

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return add_problems(self, allocation_problems(self.to_data(), self.allocation)) and valid

    def to_data(self) -> AllocationData:
        return AllocationData(
            hours_granted=self.hours_granted.data,
            granted_on=self.granted_on.data,
            resource=self.resource.data or "",
            note=self.note.data or "",
        )


class UsageForm(FlaskForm):
    used_on = DateField(_l("Used on"), validators=[Optional()])
    hours = DecimalField(
        _l("Hours used"), places=None, validators=[Optional()], render_kw={"inputmode": "decimal"}
    )
    purpose = StrippedStringField(
        _l("Purpose"),
        validators=[Optional(), Length(max=300)],
        description=_l("E.g. 불량 검출 모델 학습 (ResNet-50 파인튜닝)."),
    )

    def __init__(self, *args: Any, allocation: GpuAllocation | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allocation = allocation

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        return add_problems(self, usage_problems(self.to_data(), self.allocation)) and valid

    def to_data(self) -> UsageData:
        return UsageData(used_on=self.used_on.data, hours=self.hours.data, purpose=self.purpose.data or "")


class ConfirmDeleteForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, delete it"), validators=[DataRequired(_l("Tick the box to confirm the deletion."))]
    )
