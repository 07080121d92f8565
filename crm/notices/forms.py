from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from crm.applications.models import ApplicationStatus
from crm.core.db import utcnow
from crm.core.exceptions import ValidationFailed
from crm.core.forms import StrippedStringField, add_problems
from crm.core.time import kst_to_utc
from crm.engagements.models import EngagementStatus
from crm.firms import regions
from crm.milestones.models import MilestoneStatus
from crm.notices import audience as audiences
from crm.notices.cohort import PAST_TOLERANCE, NoticeData, text_problems
from crm.programmes.models import Track


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _variables_help() -> str:
    return str(
        _l(
            "Variables: %(names)s. {due_on} is the milestone's due day, the application's supplement or the "
            "call's closing day, or the end of the agreement. Write {{ and }} for a literal brace.",
            names=", ".join("{" + name + "}" for name in audiences.VARIABLES),
        )
    )


class ComposeForm(FlaskForm):
    """The audience (the fields that matter depend on the source; the operation checks them), the text,
    and when to send. The choices come from what the composer may reach; the operation checks posted ids
    again, so a forged one is refused with the same message as an empty choice."""

    source = RadioField(
        _l("Who is it for?"),
        choices=[
            ("call", _l("Applicants of a call")),
            ("programme", _l("Engagements of a programme")),
            ("milestone", _l("Firms with a milestone open or overdue")),
        ],
        default="call",
        validate_choice=False,
    )
    call_id = SelectField(_l("Call"), validate_choice=False)
    application_statuses = CheckboxesField(
        _l("Application status"),
        validate_choice=False,
        description=_l("None ticked: every status."),
    )
    programme_id = SelectField(
        _l("Programme"),
        validate_choice=False,
        description=_l("Required for engagements; optional for milestones."),
    )
    engagement_statuses = CheckboxesField(
        _l("Engagement status"),
        validate_choice=False,
        description=_l("None ticked: every status."),
    )
    milestone_kind = SelectField(_l("Milestone kind"), validate_choice=False)
    milestone_state = RadioField(
        _l("Milestone state"),
        choices=[
            (MilestoneStatus.open.value, _l("Open (not yet due)")),
            (MilestoneStatus.overdue.value, _l("Overdue")),
        ],
        default=MilestoneStatus.open.value,
        validate_choice=False,
    )
    sido = SelectField(_l("Region (시도)"), validate_choice=False)
    track = SelectField(_l("Track"), validate_choice=False)

    subject = StrippedStringField(_l("Subject"), validators=[Optional()])
    body = TextAreaField(_l("Text"), validators=[Optional()], render_kw={"rows": 10})
    marketing = BooleanField(
        _l("Marketing (promotion of events or programmes)"),
        description=_l(
            "Goes only to primary contacts who agreed to marketing, never between 21:00 and 08:00 Korea time."
        ),
    )
    send_mode = RadioField(
        _l("When"),
        choices=[("now", _l("Send now")), ("later", _l("Send at a time"))],
        default="now",
        validate_choice=False,
    )
    send_at = DateTimeLocalField(_l("Send at (Korea time)"), format="%Y-%m-%dT%H:%M", validators=[Optional()])

    preview = SubmitField(_l("Preview"))
    send = SubmitField(_l("Send"))

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        blank = [("", "—")]
        self.call_id.choices = blank + audiences.call_choices(actor)
        self.programme_id.choices = blank + audiences.programme_choices(actor)
        self.milestone_kind.choices = blank + audiences.milestone_kind_choices(actor)
        self.application_statuses.choices = ApplicationStatus.choices()
        self.engagement_statuses.choices = EngagementStatus.choices()
        self.sido.choices = [("", _l("Every region")), *regions.sido_choices()]
        self.track.choices = [("", _l("Every track")), *Track.choices()]
        self.body.description = _variables_help()

    def prefill(self, args: Any) -> None:
        """Opened from a call or programme page (?call_id= / ?programme_id=): that audience chosen."""
        if args.get("call_id"):
            self.source.data, self.call_id.data = "call", args["call_id"]
        elif args.get("programme_id"):
            self.source.data, self.programme_id.data = "programme", args["programme_id"]

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        problems = text_problems(self.subject.data, self.body.data)
        try:
            audiences.clean_audience(self.audience(), self.actor)
        except ValidationFailed as error:
            problems.update(error.fields)
        when = self.send_at.data
        if self.send_mode.data == "later" and when is None and not self.send_at.errors:
            problems["send_at"] = [_l("Enter the date and time to send at.")]
        elif (
            self.send_mode.data == "later"
            and when is not None
            and kst_to_utc(when) < utcnow() - PAST_TOLERANCE
        ):
            problems["send_at"] = [_l("This time has passed. Choose a time in the future, or send now.")]
        return add_problems(self, problems) and valid

    def audience(self) -> dict[str, Any]:
        source = self.source.data
        raw: dict[str, Any] = {"source": source, "sido": self.sido.data or "", "track": self.track.data or ""}
        if source == "call":
            raw.update(call_id=self.call_id.data, statuses=self.application_statuses.data or [])
        elif source == "programme":
            raw.update(programme_id=self.programme_id.data, statuses=self.engagement_statuses.data or [])
        elif source == "milestone":
            raw.update(
                programme_id=self.programme_id.data or None,
                kind=self.milestone_kind.data or "",
                state=self.milestone_state.data,
            )
        return raw

    def to_data(self) -> NoticeData:
        send_at = None
        if self.send_mode.data == "later" and self.send_at.data is not None:
            send_at = kst_to_utc(self.send_at.data)
        return NoticeData(
            audience=self.audience(),
            subject=self.subject.data or "",
            body=self.body.data or "",
            marketing=bool(self.marketing.data),
            send_at=send_at,
        )


class CancelForm(FlaskForm):
    confirm = BooleanField(_l("Yes, cancel this notice: none of its deliveries will be sent."))

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if not self.confirm.data:
            self.confirm.errors = [*self.confirm.errors, str(_l("Tick the box to confirm the cancellation."))]
            return False
        return valid


class RetryForm(FlaskForm):
    """Only the CSRF token: the delivery is in the URL."""
