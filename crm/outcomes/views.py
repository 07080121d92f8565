"""Pages of the outcomes feature: the staff's KPI rows (add, edit, delete after a confirmation page), the
firm's actuals and outcome-survey answers in the portal, and what the engagement and portal panels show."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage

from crm.auth.models import STAFF_ROLES, Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.engagements.views import workable_engagement
from crm.extensions import db
from crm.firms.models import Firm
from crm.outcomes import operations
from crm.outcomes.forms import KpiForm, actuals_form, format_number, survey_form
from crm.outcomes.models import KpiRow, OutcomeSurvey, SurveyStatus

bp = Blueprint("outcomes", __name__)


def _chosen_file(form: KpiForm) -> FileStorage | None:
    """The uploaded file, if one was chosen: loaded with `obj=row`, the field would otherwise hold the row's
    current evidence document."""
    data = form.evidence.data
    return data if isinstance(data, FileStorage) and data.filename else None


def _engagement_page(engagement_id: int) -> Any:
    return redirect(url_for("engagements.detail", engagement_id=engagement_id, _anchor="outcomes"))


def _workable_kpi(kpi_id: int) -> KpiRow:
    """404 unless the user sees the row's engagement; 403 when it sees it but may not do case work."""
    row = db.session.scalar(
        sa.select(KpiRow)
        .join(Engagement, KpiRow.engagement_id == Engagement.id)
        .where(KpiRow.id == kpi_id, Engagement.visible_to(current_user))
    )
    if row is None:
        abort(404)
    if not operations.may_edit_kpis(row.engagement, current_user):
        abort(403)
    return row


def _own_engagement(engagement_id: int) -> Engagement:
    """The signed-in firm user's own engagement, else 404."""
    engagement = db.session.scalar(
        sa.select(Engagement).where(
            Engagement.id == engagement_id,
            Engagement.firm_id == current_user.firm_id,
            Engagement.visible_to(current_user),
        )
    )
    if engagement is None:
        abort(404)
    return engagement


def _own_survey(survey_id: int) -> OutcomeSurvey:
    survey = db.session.scalar(
        sa.select(OutcomeSurvey)
        .join(Engagement, OutcomeSurvey.engagement_id == Engagement.id)
        .where(
            OutcomeSurvey.id == survey_id,
            Engagement.firm_id == current_user.firm_id,
            Engagement.visible_to(current_user),
        )
    )
    if survey is None:
        abort(404)
    return survey


# --- staff: KPI rows --------------------------------------------------------------------------------------


@bp.route("/engagements/<int:engagement_id>/kpis/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def kpi_new(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = KpiForm()
    if form.validate_on_submit():
        try:
            row = operations.add_kpi_row(engagement, form.to_data(), current_user, _chosen_file(form))
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The indicator %(indicator)s was added.", indicator=row.indicator), "success")
            return _engagement_page(engagement.id)
    return render_form(
        "outcomes/kpi_form.html",
        form=form,
        engagement=engagement,
        row=None,
        suggestions=operations.SUGGESTED_INDICATORS,
    )


@bp.route("/kpis/<int:kpi_id>/edit", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def kpi_edit(kpi_id: int):
    row = _workable_kpi(kpi_id)
    form = KpiForm(obj=row)
    if form.validate_on_submit():
        try:
            operations.update_kpi_row(row, form.to_data(), current_user, _chosen_file(form))
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The indicator %(indicator)s was saved.", indicator=row.indicator), "success")
            return _engagement_page(row.engagement_id)
    return render_form(
        "outcomes/kpi_form.html",
        form=form,
        engagement=row.engagement,
        row=row,
        suggestions=operations.SUGGESTED_INDICATORS,
    )


@bp.route("/kpis/<int:kpi_id>/delete", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def kpi_delete(kpi_id: int):
    row = _workable_kpi(kpi_id)
    form = FlaskForm()
    if form.validate_on_submit():
        engagement_id, indicator = row.engagement_id, row.indicator
        try:
            operations.delete_kpi_row(row, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The indicator %(indicator)s was deleted.", indicator=indicator), "success")
            return _engagement_page(engagement_id)
    return render_form("outcomes/kpi_delete.html", form=form, row=row)


# --- the firm's portal ------------------------------------------------------------------------------------


@bp.route("/portal/engagements/<int:engagement_id>/kpis", methods=["GET", "POST"])
@allow(Role.firm_user)
def portal_kpis(engagement_id: int):
    engagement = _own_engagement(engagement_id)
    rows = operations.kpi_rows(engagement)
    may_fill = operations.may_fill_actuals(engagement, current_user)
    form = actuals_form(rows)
    if form.validate_on_submit():
        try:
            changed = operations.fill_actuals(engagement, form.entries(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if changed:
                flash(_("The actual values were saved."), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("outcomes.portal_kpis", engagement_id=engagement.id))
    return render_form(
        "outcomes/portal_kpis.html",
        engagement=engagement,
        rows=[{"row": row, "achievement": operations.achievement(row)} for row in rows],
        form=form,
        may_fill=may_fill,
    )


@bp.route("/portal/surveys/<int:survey_id>", methods=["GET", "POST"])
@allow(Role.firm_user)
def portal_survey(survey_id: int):
    survey = _own_survey(survey_id)
    form = survey_form(survey)
    if request.method == "POST":
        submitting = request.form.get("action") == "submit"
        if form.validate_on_submit():
            verb = operations.submit_survey if submitting else operations.save_survey
            try:
                verb(survey, form.answers(), current_user)
            except OperationError as error:
                show_operation_error(form, error)
            else:
                db.session.commit()
                if submitting:
                    flash(_("Thank you. The outcome survey was submitted."), "success")
                else:
                    flash(
                        _("Your answers were saved. Submit the survey once every answer is there."), "success"
                    )
                return redirect(url_for("outcomes.portal_survey", survey_id=survey.id))
        elif survey.status is SurveyStatus.submitted:
            flash(_("This survey was already submitted; it can no longer change."), "error")
    names = operations.indicators_of(survey)
    return render_form(
        "outcomes/portal_survey.html",
        survey=survey,
        engagement=survey.engagement,
        form=form,
        indicator_fields=[(name, form[f"indicator_{i}"]) for i, name in enumerate(names)],
        answers=_answer_lines(survey),
        today=today_kst(),
    )


def _answer_lines(survey: OutcomeSurvey) -> list[tuple[str, str]]:
    return [(name, format_number(value)) for name, value in (survey.answers or {}).items()]


# --- what the panels of other pages show ------------------------------------------------------------------


@bp.app_template_global("engagement_outcomes_panel")
def engagement_outcomes_panel(engagement: Engagement) -> dict[str, Any]:
    return {
        "rows": [
            {"row": row, "achievement": operations.achievement(row)}
            for row in operations.kpi_rows(engagement)
        ],
        "surveys": [
            {"survey": survey, "answers": _answer_lines(survey)}
            for survey in operations.engagement_surveys(engagement)
        ],
        "programme_rounds": engagement.programme.survey_rounds or 0,
        "today": today_kst(),
    }


@bp.app_template_global("portal_engagement_outcomes")
def portal_engagement_outcomes(engagement: Engagement) -> dict[str, Any]:
    return {
        "rows": [
            {"row": row, "achievement": operations.achievement(row)}
            for row in operations.kpi_rows(engagement)
        ],
        "surveys": operations.engagement_surveys(engagement),
        "may_fill": operations.may_fill_actuals(engagement, current_user),
        "today": today_kst(),
    }


@bp.app_template_global("portal_outcomes_todo")
def portal_outcomes_todo(firm: Firm) -> dict[str, Any]:
    """Across the firm's engagements: the next open survey round of each (later rounds wait their turn, or a
    firm that closed last year would see three years of surveys at once), and per engagement open for actuals
    the KPI rows still without one."""
    open_rounds = db.session.scalars(
        sa.select(OutcomeSurvey)
        .join(Engagement, OutcomeSurvey.engagement_id == Engagement.id)
        .where(Engagement.firm_id == firm.id, OutcomeSurvey.status == SurveyStatus.open)
        .order_by(OutcomeSurvey.engagement_id, OutcomeSurvey.round)
    )
    next_rounds: dict[int, OutcomeSurvey] = {}
    for survey in open_rounds:
        next_rounds.setdefault(survey.engagement_id, survey)
    surveys = sorted(next_rounds.values(), key=lambda survey: (survey.due_on, survey.id))
    missing = list(
        db.session.scalars(
            sa.select(KpiRow)
            .join(Engagement, KpiRow.engagement_id == Engagement.id)
            .where(
                Engagement.firm_id == firm.id,
                Engagement.status.in_(operations.KPI_FILL_STATUSES),
                KpiRow.actual.is_(None),
            )
            .order_by(Engagement.ends_on, Engagement.id, KpiRow.position, KpiRow.id)
        )
    )
    by_engagement: dict[int, dict[str, Any]] = {}
    for row in missing:
        entry = by_engagement.setdefault(row.engagement_id, {"engagement": row.engagement, "indicators": []})
        entry["indicators"].append(row.indicator)
    return {"surveys": surveys, "kpis": list(by_engagement.values()), "today": today_kst()}


@bp.app_template_global("kpi_achievement")
def kpi_achievement(row: KpiRow) -> Any:
    return operations.achievement(row)


@bp.app_template_filter("kpi_number")
def kpi_number(value: Any) -> str:
    return format_number(value)
