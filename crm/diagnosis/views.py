"""Pages of the diagnosis feature: the staff pages under a firm (years list, the questionnaire, the result
with its radar chart, reopening), the same for the firm itself in the portal, and the data of the journey
panels on the firm page and the portal home."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth.models import Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import today_kst
from crm.diagnosis import operations
from crm.diagnosis.forms import ReopenForm, StartForm, diagnosis_form
from crm.diagnosis.journey import firm_journey
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.questionnaire import (
    Questionnaire,
    QuestionnaireError,
    current_questionnaire,
    questionnaire_for,
)
from crm.diagnosis.radar import RadarChart, radar_chart
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm

bp = Blueprint("diagnosis", __name__)

STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)
COMPARED_YEARS = 5  # the years-over-years table shows the most recent submitted ones


@bp.record_once
def _check_questionnaire(state: BlueprintSetupState) -> None:
    # A broken questionnaire file stops the app at start-up rather than on the first diagnosis.
    current_questionnaire()


# --- loading what the user may see -----------------------------------------------------------------------


def _visible_firm(firm_id: int) -> Firm:
    firm = db.session.scalar(sa.select(Firm).where(Firm.id == firm_id, Firm.visible_to(current_user)))
    if firm is None:
        abort(404)
    return firm


def _visible_result(result_id: int) -> DiagnosisResult:
    result = db.session.scalar(
        sa.select(DiagnosisResult).where(
            DiagnosisResult.id == result_id, DiagnosisResult.visible_to(current_user)
        )
    )
    if result is None:
        abort(404)
    return result


def _portal_firm() -> Firm | None:
    """The firm user's own firm; None while the account still waits for approval."""
    if current_user.firm_id is None:
        return None
    return db.session.scalar(
        sa.select(Firm).where(Firm.id == current_user.firm_id, Firm.visible_to(current_user))
    )


def _portal_result(result_id: int) -> DiagnosisResult:
    result = db.session.scalar(
        sa.select(DiagnosisResult).where(
            DiagnosisResult.id == result_id,
            DiagnosisResult.firm_id == current_user.firm_id,
            DiagnosisResult.visible_to(current_user),
        )
    )
    if result is None:
        abort(404)
    return result


def _waiting_for_approval() -> Any:
    flash(
        _("Your account waits for approval by the programme's staff; this page opens once it is approved."),
        "info",
    )
    return redirect(url_for("portal.home"))


def _is_portal() -> bool:
    return current_user.role is Role.firm_user


@bp.app_template_global("diagnosis_url")
def diagnosis_url(page: str, obj: DiagnosisResult | Firm) -> str:
    """The address of a diagnosis page for the signed-in user: staff pages or the firm's portal pages."""
    if _is_portal():
        if page == "index":
            return url_for("diagnosis.portal_index")
        if page == "start":
            return url_for("diagnosis.portal_start")
        return url_for(f"diagnosis.portal_{page}", result_id=obj.id)
    if page in ("index", "start"):
        return url_for(f"diagnosis.{'firm_index' if page == 'index' else 'start'}", firm_id=obj.id)
    return url_for(f"diagnosis.{page}", result_id=obj.id)


# --- what the pages show ---------------------------------------------------------------------------------


def _questionnaire_or_none(result: DiagnosisResult) -> Questionnaire | None:
    try:
        return questionnaire_for(result.questionnaire_version)
    except QuestionnaireError:
        return None


def _dimension_labels(questionnaire: Questionnaire | None, scores: dict[str, Any]) -> list[tuple[str, str]]:
    """[(dimension id, title)]; a result of a retired questionnaire falls back to its stored ids."""
    if questionnaire is not None:
        return [(d.id, d.title) for d in questionnaire.dimensions]
    return [(key, key) for key in scores]


def _comparison(firm: Firm) -> dict[str, Any]:
    """Dimension scores of the most recent submitted years side by side, oldest first."""
    results = operations.submitted_results(firm, limit=COMPARED_YEARS)
    questionnaire = current_questionnaire()
    rows = [
        {"title": title, "values": [r.dimension_scores.get(dimension_id) for r in results]}
        for dimension_id, title in _dimension_labels(questionnaire, {})
    ]
    return {"results": results, "rows": rows}


def _chart(
    dimensions: list[tuple[str, str]], result: DiagnosisResult, previous: DiagnosisResult | None
) -> RadarChart:
    series = []
    if previous is not None:
        series.append((str(previous.year), previous.dimension_scores or {}, False))
    series.append((str(result.year), result.dimension_scores or {}, True))
    return radar_chart(dimensions, series, summary_prefix=_("Scores by dimension, from 0 to 100"))


def _render_index(firm: Firm, status: int = 200, start_form: StartForm | None = None) -> tuple[str, int]:
    year = today_kst().year
    return render_template(
        "diagnosis/index.html",
        firm=firm,
        year=year,
        this_year=operations.result_for(firm, year),
        page=paginate(operations.results_statement(firm)),
        comparison=_comparison(firm),
        may_fill=operations.may_fill(firm, current_user),
        start_form=start_form or StartForm(),
        questionnaire=current_questionnaire(),
        portal=_is_portal(),
    ), status


def _start(firm: Firm) -> Any:
    form = StartForm()
    if not form.validate_on_submit():
        return _render_index(firm, 422, form)
    try:
        result = operations.start_or_resume(firm, None, current_user)
    except OperationError as error:
        show_operation_error(form, error)
        return _render_index(firm, 422, form)
    db.session.commit()
    if result.status is DiagnosisStatus.submitted:
        flash(_("This year's diagnosis was already submitted; here is its result."), "info")
        return redirect(diagnosis_url("result", result))
    return redirect(diagnosis_url("edit", result))


def _render_result(result: DiagnosisResult) -> str:
    questionnaire = _questionnaire_or_none(result)
    scores = result.dimension_scores or {}
    dimensions = _dimension_labels(questionnaire, scores)
    previous = operations.previous_submitted(result) if result.is_submitted else None
    previous_scores = previous.dimension_scores if previous is not None else {}
    rows = []
    for dimension_id, title in dimensions:
        value, before = scores.get(dimension_id), previous_scores.get(dimension_id)
        change = round(value - before, 1) if value is not None and before is not None else None
        rows.append({"title": title, "value": value, "previous": before, "change": change})
    overall_change = None
    if previous is not None and result.overall_score is not None and previous.overall_score is not None:
        overall_change = round(result.overall_score - previous.overall_score, 1)
    engagement = None
    if result.engagement_id and not _is_portal():
        engagement = db.session.scalar(
            sa.select(Engagement).where(
                Engagement.id == result.engagement_id, Engagement.visible_to(current_user)
            )
        )
    return render_template(
        "diagnosis/result.html",
        result=result,
        firm=result.firm,
        questionnaire=questionnaire,
        previous=previous,
        rows=rows,
        overall_change=overall_change,
        chart=_chart(dimensions, result, previous) if result.is_submitted and scores else None,
        level_rule=questionnaire.level_rule(result.level) if questionnaire and result.level else None,
        answered=len(result.answers or {}),
        engagement=engagement,
        may_reopen=operations.may_reopen(result, current_user),
        portal=_is_portal(),
    )


def _edit(result: DiagnosisResult) -> Any:
    if result.is_submitted:
        flash(_("This diagnosis was already submitted; its answers can no longer change."), "info")
        return redirect(diagnosis_url("result", result))
    try:
        questionnaire = questionnaire_for(result.questionnaire_version)
    except QuestionnaireError:
        flash(_("This diagnosis was filled with an earlier questionnaire and cannot be edited."), "error")
        return redirect(diagnosis_url("result", result))
    form = diagnosis_form(questionnaire, None if request.method == "POST" else result.answers)
    if form.validate_on_submit():
        submitting = bool(form.submit.data)
        try:
            if submitting:
                operations.submit(result, current_user, form.answers())
            else:
                operations.save_answers(result, form.answers(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if submitting:
                flash(_("The diagnosis was submitted. Here are the results."), "success")
                return redirect(diagnosis_url("result", result))
            flash(_("Your answers were saved. You can continue later."), "success")
            return redirect(diagnosis_url("edit", result))
    return render_form(
        "diagnosis/edit.html",
        form=form,
        result=result,
        firm=result.firm,
        questionnaire=questionnaire,
        answered=len(result.answers or {}),
        portal=_is_portal(),
    )


# --- staff pages ---------------------------------------------------------------------------------------


@bp.get("/firms/<int:firm_id>/diagnosis")
@allow(*STAFF)
def firm_index(firm_id: int):
    return _render_index(_visible_firm(firm_id))


@bp.post("/firms/<int:firm_id>/diagnosis/start")
@allow(*STAFF)
def start(firm_id: int):
    return _start(_visible_firm(firm_id))


@bp.get("/diagnosis/<int:result_id>")
@allow(*STAFF)
def result(result_id: int):
    return _render_result(_visible_result(result_id))


@bp.route("/diagnosis/<int:result_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def edit(result_id: int):
    return _edit(_visible_result(result_id))


@bp.route("/diagnosis/<int:result_id>/reopen", methods=["GET", "POST"])
@allow(*STAFF)
def reopen(result_id: int):
    result = _visible_result(result_id)
    if not operations.may_reopen(result, current_user):
        abort(403)
    form = ReopenForm()
    if form.validate_on_submit():
        try:
            operations.reopen(result, current_user, form.reason.data or "")
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The diagnosis was reopened; it can be corrected and submitted again."), "success")
            return redirect(url_for(".edit", result_id=result.id))
    return render_form("diagnosis/reopen.html", form=form, result=result, firm=result.firm)


# --- the firm's portal pages ----------------------------------------------------------------------------


@bp.get("/portal/diagnosis")
@allow(Role.firm_user)
def portal_index():
    firm = _portal_firm()
    if firm is None:
        return _waiting_for_approval()
    return _render_index(firm)


@bp.post("/portal/diagnosis/start")
@allow(Role.firm_user)
def portal_start():
    firm = _portal_firm()
    if firm is None:
        return _waiting_for_approval()
    return _start(firm)


@bp.get("/portal/diagnosis/<int:result_id>")
@allow(Role.firm_user)
def portal_result(result_id: int):
    return _render_result(_portal_result(result_id))


@bp.route("/portal/diagnosis/<int:result_id>/edit", methods=["GET", "POST"])
@allow(Role.firm_user)
def portal_edit(result_id: int):
    return _edit(_portal_result(result_id))


# --- panels on other pages ------------------------------------------------------------------------------


@bp.app_template_global("diagnosis_panel")
def diagnosis_panel(firm: Firm) -> dict[str, Any]:
    """What the journey panels (firm page, portal home) show: the journey as the user may see it, the
    latest submitted diagnosis, this year's, and whether the user may fill one."""
    year = today_kst().year
    journey = firm_journey(firm, current_user)
    return {
        "journey": journey,
        "latest": journey.latest_diagnosis,
        "year": year,
        "this_year": operations.result_for(firm, year),
        "may_fill": operations.may_fill(firm, current_user),
        "questionnaire": current_questionnaire(),
    }
