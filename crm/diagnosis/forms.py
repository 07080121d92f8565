"""Forms of the diagnosis pages. The questionnaire form is built from the questionnaire: one set of 1–5
radio buttons per question."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from crm.diagnosis.operations import answer_field
from crm.diagnosis.questionnaire import Question, Questionnaire


class AnswerField(RadioField):
    """A 1–5 answer. Left blank it is simply not answered yet (a draft may have gaps; submitting names each
    one), so only a value outside the scale is an error here."""

    def pre_validate(self, form: Any) -> None:
        if self.data is None:
            return
        super().pre_validate(form)


class DiagnosisFormBase(FlaskForm):
    save = SubmitField(_l("Save draft"))
    submit = SubmitField(_l("Submit the diagnosis"))

    questions: tuple[Question, ...] = ()

    def answer(self, question: Question) -> AnswerField:
        return self[answer_field(question.id)]

    def answers(self) -> dict[str, int | None]:
        """{question id: 1–5 or None} for every question on the form."""
        return {q.id: self.answer(q).data for q in self.questions}


def diagnosis_form(questionnaire: Questionnaire, answers: dict[str, Any] | None = None) -> DiagnosisFormBase:
    """The questionnaire form; `answers` (the saved ones) preselect the buttons when the page is shown. Pass
    none on a POST: only what was sent counts there, so a question left empty is blank, not the old value
    (WTForms would keep `data` for a radio group missing from the request)."""
    scale = [(step.value, f"{step.value} · {step.label}") for step in questionnaire.scale]
    attributes: dict[str, Any] = {"questions": questionnaire.questions}
    for question in questionnaire.questions:
        attributes[answer_field(question.id)] = AnswerField(
            question.text,
            choices=scale,
            coerce=int,
            validators=[Optional()],
            invalid_choice_message=_l("Choose an answer from 1 to 5."),
            invalid_value_message=_l("Choose an answer from 1 to 5."),
        )
    form_class = type("DiagnosisForm", (DiagnosisFormBase,), attributes)
    data = {answer_field(qid): value for qid, value in (answers or {}).items()}
    return form_class(data=data)


class StartForm(FlaskForm):
    """Starting creates the year's row, so it is a POST (with its CSRF token), never a link."""


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for reopening"),
        validators=[DataRequired(_l("Enter why the diagnosis is reopened.")), Length(max=2000)],
        description=_l("E.g. the firm answered for the wrong site, or an answer was entered by mistake."),
        render_kw={"rows": 3},
    )
