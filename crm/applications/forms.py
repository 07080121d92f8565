"""Forms of the application pages: the firm's answers and declared support, confirmations, the staff's status
moves, bulk decisions and the list filters. The operations check the content; these only parse it."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget

from crm.applications.models import ApplicationStatus
from crm.applications.operations import SupportData, TransitionOptions
from crm.core.forms import MoneyField, StrippedStringField
from crm.programmes.models import Call, Track

S = ApplicationStatus
# Moves that end an application for good: the page asks for a ticked confirmation first.
DESTRUCTIVE_MOVES = frozenset({S.ineligible, S.rejected, S.withdrawn})
OUT_OF_DATE = _l("The form is out of date. Reload the page and try again.")


def _version_field() -> IntegerField:
    """The version the page was loaded with; the operation refuses the change if the row moved on since."""
    return IntegerField(widget=HiddenInput(), validators=[InputRequired(OUT_OF_DATE)])


def set_version(field: IntegerField, version: int) -> None:
    """Shows `version` in a re-rendered form; what the browser sent would otherwise win."""
    field.raw_data = None
    field.data = version


class ActionForm(FlaskForm):
    """A button that posts (apply, run the check again): the CSRF token only."""


class AnswersForm(FlaskForm):
    """One text area per question of the call (named `answer_<key>`, as the operation names its errors)."""

    version = _version_field()

    def answers(self) -> dict[str, str]:
        return {
            name.removeprefix("answer_"): field.data or ""
            for name, field in self._fields.items()
            if name.startswith("answer_")
        }


def answers_form(call: Call, answers: dict[str, Any] | None, version: int) -> AnswersForm:
    fields: dict[str, Any] = {}
    for question in call.questions or []:
        fields[f"answer_{question['key']}"] = TextAreaField(
            question["label"],
            description=_l("Required to submit.") if question.get("required") else _l("Optional."),
            render_kw={"rows": 5},
        )
    form_class = type("CallAnswersForm", (AnswersForm,), fields)
    data = {f"answer_{key}": value for key, value in (answers or {}).items()}
    return form_class(data={**data, "version": version})


class SupportForm(FlaskForm):
    """Other government support the firm declares (타 정부지원사업 수혜 이력)."""

    agency = StrippedStringField(
        _l("Agency"),
        validators=[Length(max=200)],
        description=_l("Who gave the support, e.g. 중소벤처기업진흥공단."),
    )
    programme_name = StrippedStringField(_l("Programme name"), validators=[Length(max=200)])
    track = SelectField(_l("Kind of support"))
    started_on = DateField(_l("Started on"), validators=[Optional()])
    ended_on = DateField(
        _l("Ended on"), validators=[Optional()], description=_l("Leave empty while it is still running.")
    )
    amount_krw = MoneyField(_l("Amount (원)"), validators=[Optional()], description=_l("Optional."))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per request so the titles come out in the reader's language.
        self.track.choices = [("", str(_l("Other or unknown"))), *Track.choices()]

    def to_data(self) -> SupportData:
        return SupportData(
            agency=self.agency.data or "",
            programme_name=self.programme_name.data or "",
            track=Track(self.track.data) if self.track.data else None,
            started_on=self.started_on.data,
            ended_on=self.ended_on.data,
            amount_krw=self.amount_krw.data,
        )


class RemoveSupportForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes, remove this declared support"),
        validators=[DataRequired(_l("Tick the box to confirm the removal."))],
    )


class WithdrawForm(FlaskForm):
    version = _version_field()
    reason = TextAreaField(
        _l("Reason"), description=_l("Optional. The programme's staff will see it."), render_kw={"rows": 3}
    )
    confirm = BooleanField(
        _l("Yes, withdraw this application. It cannot be submitted again."),
        validators=[DataRequired(_l("Tick the box to confirm the withdrawal."))],
    )


# Per move: the label and help of the reason box, and whether the firm reads it.
_REASON_TEXT: dict[ApplicationStatus, tuple[Any, Any]] = {
    S.supplement_requested: (
        _l("Message to the firm"),
        _l("What the firm must supplement; it is sent to the firm."),
    ),
    S.ineligible: (_l("Reason"), _l("Required. The firm is told this reason.")),
    S.rejected: (_l("Reason"), _l("Required. The firm is told this reason.")),
}


class TransitionForm(FlaskForm):
    """One status move on the staff page; every move on the page is its own copy of this form."""

    to = HiddenField()
    version = _version_field()
    reason = TextAreaField(
        _l("Note"), description=_l("Optional; kept in the history."), render_kw={"rows": 3}
    )
    supplement_due_on = DateField(_l("Supplement due on"), validators=[Optional()])
    confirm_over_capacity = BooleanField(_l("Select beyond the call's capacity"))
    override_reason = TextAreaField(
        _l("Reason for overriding the duplicate-support guard"),
        description=_l("Required to select despite the support listed above; it is audited."),
        render_kw={"rows": 3},
    )
    confirm = BooleanField(_l("Yes, I confirm. This ends the application and the firm is told."))

    @property
    def target(self) -> ApplicationStatus | None:
        try:
            return ApplicationStatus(self.to.data or "")
        except ValueError:
            return None

    def for_target(self, target: ApplicationStatus) -> TransitionForm:
        """Labels for the move, and ids of its own: several copies of the form share one page."""
        label, description = _REASON_TEXT.get(target, (None, None))
        if label is not None:
            self.reason.label.text = label
            self.reason.description = description
        for field in self:
            field.id = f"{target.value}-{field.name}"
            field.label.field_id = field.id
        return self

    def validate_confirm(self, field: BooleanField) -> None:
        if self.target in DESTRUCTIVE_MOVES and not field.data:
            raise ValidationError(str(_l("Tick the box to confirm; this cannot be undone.")))

    def options(self) -> TransitionOptions:
        return TransitionOptions(
            reason=self.reason.data or "",
            expected_version=self.version.data,
            supplement_due_on=self.supplement_due_on.data,
            confirm_over_capacity=bool(self.confirm_over_capacity.data),
            override_reason=self.override_reason.data or "",
        )


class BulkDecisionForm(FlaskForm):
    """Posted by the ranking page: one decision for the ticked applications of a call."""

    application_ids = SelectMultipleField(coerce=int, validate_choice=False)
    decision = StringField()
    reason = TextAreaField()
    confirm_over_capacity = BooleanField()
    confirm = BooleanField()  # required for a rejection, which is final
    next = HiddenField()


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApplicationFilterForm(FlaskForm):
    """The list filters, sent with GET so a filtered list can be bookmarked."""

    class Meta:
        csrf = False

    q = StringField(
        _l("Search"),
        description=_l("Firm name or business registration number"),
        render_kw={"type": "search"},
    )
    call = SelectField(_l("Call"), validate_choice=False)
    status = CheckboxesField(_l("Status"), validate_choice=False)
    problems = BooleanField(_l("Eligibility problems only"))

    def __init__(self, *args: Any, calls: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.status.choices = ApplicationStatus.choices()
        if calls is None:
            del self.call
        else:
            self.call.choices = [("", str(_l("All calls"))), *calls]

    @property
    def statuses(self) -> list[ApplicationStatus]:
        known = {s.value for s in ApplicationStatus}
        return [ApplicationStatus(v) for v in self.status.data or [] if v in known]

    @property
    def is_filtered(self) -> bool:
        return bool(self.q.data or self.statuses or self.problems.data or ("call" in self and self.call.data))
