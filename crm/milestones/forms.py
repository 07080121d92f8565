from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, SelectField, TextAreaField
from wtforms.validators import Length, Optional

from crm.milestones.models import MilestoneOwner, MilestoneStatus


class CompleteForm(FlaskForm):
    evidence = FileField(
        _l("Evidence"),
        description=_l(
            "The report, minutes or other proof (PDF, HWP, HWPX, DOCX, XLSX, JPG, PNG; up to 20 MB)."
        ),
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class WaiveForm(FlaskForm):
    reason = TextAreaField(_l("Why it is waived"), validators=[Optional(), Length(max=2000)])


class MilestoneFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[("", _l("All")), *[(s.value, s.title) for s in MilestoneStatus]],
        validators=[Optional()],
    )
    owner = SelectField(
        _l("Owner"), choices=[("", _l("All")), *MilestoneOwner.choices()], validators=[Optional()]
    )
    due_before = DateField(_l("Due before"), validators=[Optional()])
