"""Application pages: the firm portal (open calls, apply, answers, declared support, submit, withdraw) and the
staff's review (queue per call, application page with one form per status move, bulk decisions)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.applications import operations
from crm.applications.forms import (
    OUT_OF_DATE,
    ActionForm,
    ApplicationFilterForm,
    BulkDecisionForm,
    RemoveSupportForm,
    SupportForm,
    TransitionForm,
    WithdrawForm,
    answers_form,
    set_version,
)
from crm.applications.models import (
    DECISIONS,
    EDITABLE_BY_FIRM,
    Application,
    ApplicationHistory,
    ApplicationStatus,
    DeclaredSupport,
)
from crm.applications.rules import duplicate_support_conflicts, selected_count
from crm.auth.models import Role
from crm.core.access import allow
from crm.core.db import utcnow
from crm.core.exceptions import Conflict, OperationError, ValidationFailed
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import today_kst
from crm.core.urls import safe_next
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment
from crm.evaluations.operations import results_for_application
from crm.exports.csvexport import column, csv_response, wants_csv
from crm.extensions import db
from crm.firms.models import Firm
from crm.firms.operations import name_or_brn_matches
from crm.programmes.models import Call, Programme
from crm.programmes.views import visible_call

bp = Blueprint("applications", __name__)

S = ApplicationStatus
STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)
# What the firm is told in its timeline: the supplement request and the reasons of a negative result.
# (A withdrawal's reason is the firm's own words.)
REASONS_THE_FIRM_READS = frozenset({S.supplement_requested, S.ineligible, S.rejected, S.withdrawn})


def _refusal_status(error: OperationError) -> int:
    return error.status if error.status >= 400 else 422


def _error_text(error: OperationError) -> str:
    """One line for a flash: a validation failure's own words are in its fields, a rule's in its message."""
    if isinstance(error, ValidationFailed) and error.fields:
        return " ".join(str(m) for messages in error.fields.values() for m in messages)
    return str(error.message)


# --- Firm portal -------------------------------------------------------------------------------------------


def firm_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A portal account still waiting for its firm has nothing to apply with: back to the portal home."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user.firm_id is None:
            flash(_("Your account is not linked to a firm yet, so you cannot apply."), "warning")
            return redirect(url_for("portal.home"))
        return view(*args, **kwargs)

    return wrapper


def _own_firm() -> Firm:
    firm = db.session.get(Firm, current_user.firm_id)
    if firm is None:
        abort(404)
    return firm


def _portal_application(application_id: int) -> Application:
    application = db.session.scalar(
        sa.select(Application).where(
            Application.id == application_id,
            Application.firm_id == current_user.firm_id,
            Application.visible_to(current_user),
        )
    )
    if application is None:
        abort(404)
    return application


@bp.get("/portal/calls")
@allow(Role.firm_user)
@firm_required
def portal_calls():
    now = utcnow()
    statement = (
        sa.select(Call)
        .where(Call.opens_at <= now, Call.closes_at > now)
        .options(selectinload(Call.programme).selectinload(Programme.institution))
        .order_by(Call.closes_at, Call.id)
    )
    page = paginate(statement)
    applied = dict(
        db.session.execute(
            sa.select(Application.call_id, Application.id).where(
                Application.firm_id == current_user.firm_id,
                Application.call_id.in_([call.id for call in page.items]),
            )
        ).all()
    )
    return render_template("applications/portal_calls.html", page=page, applied=applied)


def _portal_call_page(call: Call, form: ActionForm) -> tuple[str, int]:
    existing_id = db.session.scalar(
        sa.select(Application.id).where(
            Application.call_id == call.id, Application.firm_id == current_user.firm_id
        )
    )
    return render_form(
        "applications/portal_call.html",
        call=call,
        programme=call.programme,
        status=call.status(),
        existing_id=existing_id,
        form=form,
    )


@bp.get("/portal/calls/<int:call_id>")
@allow(Role.firm_user)
@firm_required
def portal_call(call_id: int):
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    return _portal_call_page(call, ActionForm())


@bp.post("/portal/calls/<int:call_id>/apply")
@allow(Role.firm_user)
@firm_required
def portal_apply(call_id: int):
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            application = operations.start_application(call, _own_firm(), current_user)
        except Conflict as error:
            # The issue: a second application is refused and leads to the first.
            flash(str(error.message), "warning")
            return redirect(url_for(".portal_detail", application_id=error.existing_id))
        except OperationError as error:
            db.session.rollback()
            show_operation_error(None, error)
        else:
            db.session.commit()
            flash(
                _("Your draft application was created. Answer the questions and attach the documents."),
                "success",
            )
            return redirect(url_for(".portal_detail", application_id=application.id))
    return _portal_call_page(call, form)


@bp.get("/portal/applications")
@allow(Role.firm_user)
@firm_required
def portal_list():
    statement = (
        sa.select(Application)
        .where(Application.firm_id == current_user.firm_id, Application.visible_to(current_user))
        .options(selectinload(Application.call).selectinload(Call.programme))
        .order_by(Application.created_at.desc(), Application.id.desc())
    )
    return render_template("applications/portal_list.html", page=paginate(statement), today=today_kst())


def _firm_timeline(application: Application) -> list[dict[str, Any]]:
    """The history as the firm may read it: public stage names, and only the reasons it is told."""
    return [
        {
            "status": row.to_status,
            "at": row.at,
            "reason": row.reason if row.to_status in REASONS_THE_FIRM_READS else "",
        }
        for row in application.history
    ]


def _render_portal_detail(
    application: Application,
    *,
    form: Any = None,
    support_form: SupportForm | None = None,
    document_errors: dict[str, list[str]] | None = None,
    answers_saved: bool = False,
    status: int = 200,
) -> tuple[str, int]:
    if form is None:
        form = answers_form(application.call, application.answers, application.version)
    moves = operations.available_moves(application, current_user)
    # A draft of a closed call cannot be submitted any more; the page says so instead of offering the button.
    can_submit = S.submitted in moves and (application.status is not S.draft or application.call.is_open())
    return render_template(
        "applications/portal_detail.html",
        application=application,
        call=application.call,
        programme=application.programme,
        form=form,
        support_form=support_form or SupportForm(formdata=None),
        can_edit=application.status in EDITABLE_BY_FIRM,
        moves=moves,
        can_submit=can_submit,
        timeline=_firm_timeline(application),
        document_errors=document_errors or {},
        answers_saved=answers_saved,
        today=today_kst(),
    ), status


@bp.route("/portal/applications/<int:application_id>", methods=["GET", "POST"])
@allow(Role.firm_user)
@firm_required
def portal_detail(application_id: int):
    """GET shows the application; POST saves the answers and, when Submit was pressed, then submits. The
    answers are kept even when the submission is refused, so nothing typed is lost."""
    application = _portal_application(application_id)
    if request.method == "GET":
        return _render_portal_detail(application)
    form = answers_form(application.call, application.answers, application.version)
    if not form.validate_on_submit():
        flash(str(OUT_OF_DATE), "error")
        return _render_portal_detail(application, form=form, status=422)
    try:
        operations.update_answers(application, form.answers(), current_user, form.version.data)
    except OperationError as error:
        db.session.rollback()
        show_operation_error(form, error)
        return _render_portal_detail(application, form=form, status=_refusal_status(error))
    if request.form.get("action") != "submit":
        db.session.commit()
        flash(_("Your answers were saved."), "success")
        return redirect(url_for(".portal_detail", application_id=application.id))

    savepoint = db.session.begin_nested()
    try:
        operations.transition(
            application,
            S.submitted,
            current_user,
            operations.TransitionOptions(expected_version=application.version),
        )
    except OperationError as error:
        savepoint.rollback()
        db.session.commit()  # the answers stay saved
        flash(_("Your answers were saved, but the application was not submitted."), "warning")
        show_operation_error(form, error)
        set_version(form.version, application.version)
        documents = {k: [str(m) for m in v] for k, v in error.fields.items() if k.startswith("document_")}
        return _render_portal_detail(
            application,
            form=form,
            document_errors=documents,
            answers_saved=True,
            status=_refusal_status(error),
        )
    savepoint.commit()
    db.session.commit()
    flash(_("Your application was submitted. We will let you know about each step."), "success")
    return redirect(url_for(".portal_detail", application_id=application.id))


@bp.post("/portal/applications/<int:application_id>/supports")
@allow(Role.firm_user)
@firm_required
def portal_add_support(application_id: int):
    application = _portal_application(application_id)
    support_form = SupportForm()
    status = 422
    if support_form.validate_on_submit():
        try:
            operations.add_declared_support(application, support_form.to_data(), current_user)
        except OperationError as error:
            db.session.rollback()
            show_operation_error(support_form, error)
            status = _refusal_status(error)
        else:
            db.session.commit()
            flash(_("The support was added to your declaration."), "success")
            return redirect(url_for(".portal_detail", application_id=application.id, _anchor="supports"))
    return _render_portal_detail(application, support_form=support_form, status=status)


@bp.route(
    "/portal/applications/<int:application_id>/supports/<int:support_id>/delete", methods=["GET", "POST"]
)
@allow(Role.firm_user)
@firm_required
def portal_remove_support(application_id: int, support_id: int):
    application = _portal_application(application_id)
    support = db.session.scalar(
        sa.select(DeclaredSupport).where(
            DeclaredSupport.id == support_id, DeclaredSupport.application_id == application.id
        )
    )
    if support is None:
        abort(404)
    form = RemoveSupportForm()
    if form.validate_on_submit():
        try:
            operations.remove_declared_support(support, current_user)
        except OperationError as error:
            db.session.rollback()
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The declared support was removed."), "success")
            return redirect(url_for(".portal_detail", application_id=application.id, _anchor="supports"))
    return render_form(
        "applications/portal_support_delete.html", form=form, application=application, support=support
    )


@bp.route("/portal/applications/<int:application_id>/withdraw", methods=["GET", "POST"])
@allow(Role.firm_user)
@firm_required
def portal_withdraw(application_id: int):
    application = _portal_application(application_id)
    form = WithdrawForm(data={"version": application.version})
    status = 422
    if form.validate_on_submit():
        try:
            operations.transition(
                application,
                S.withdrawn,
                current_user,
                operations.TransitionOptions(
                    reason=form.reason.data or "", expected_version=form.version.data
                ),
            )
        except OperationError as error:
            db.session.rollback()
            show_operation_error(form, error)
            status = _refusal_status(error)
        else:
            db.session.commit()
            flash(_("Your application was withdrawn."), "success")
            return redirect(url_for(".portal_detail", application_id=application.id))
    elif request.method == "GET":
        if S.withdrawn not in operations.available_moves(application, current_user):
            flash(
                _(
                    "This application can no longer be withdrawn (status: %(status)s).",
                    status=application.status.public_title,
                ),
                "warning",
            )
            return redirect(url_for(".portal_detail", application_id=application.id))
        status = 200
    elif form.errors.get("version"):
        flash(str(OUT_OF_DATE), "error")
    return render_template("applications/portal_withdraw.html", form=form, application=application), status


# --- Staff: lists ------------------------------------------------------------------------------------------


def _filtered(statement: sa.Select, form: ApplicationFilterForm) -> sa.Select:
    statement = statement.join(Firm, Application.firm_id == Firm.id)
    q = (form.q.data or "").strip()
    if q:
        statement = statement.where(name_or_brn_matches(q))
    if form.statuses:
        statement = statement.where(Application.status.in_(form.statuses))
    if form.problems.data:
        # The stored result of the last check: {"problems": [...]}; never checked counts as no problems.
        statement = statement.where(sa.func.json_array_length(Application.eligibility_result["problems"]) > 0)
    return statement.order_by(
        Application.submitted_at.is_(None), Application.submitted_at, Application.id
    ).options(selectinload(Application.firm), selectinload(Application.call))


def _evaluation_progress(application_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{application id: (scores submitted, evaluators that count)}; recused evaluators do not count."""
    if not application_ids:
        return {}
    rows = db.session.execute(
        sa.select(
            EvaluatorAssignment.application_id,
            sa.func.count(),
            sa.func.count().filter(EvaluatorAssignment.status == AssignmentStatus.submitted),
        )
        .where(
            EvaluatorAssignment.application_id.in_(application_ids),
            EvaluatorAssignment.status != AssignmentStatus.recused,
        )
        .group_by(EvaluatorAssignment.application_id)
    ).all()
    return {application_id: (submitted, expected) for application_id, expected, submitted in rows}


def _eligibility_text(result: dict[str, Any] | None) -> str:
    if not result:
        return _("Not checked")
    if result.get("problems"):
        return _("%(n)s problem(s)", n=len(result["problems"]))
    return _("No problems")


CSV_COLUMNS = [
    column(_l("Firm"), "firm.name"),
    column(_l("Business registration number"), "firm.brn_display"),
    column(_l("Call"), "call.title"),
    column(_l("Cohort"), "call.cohort"),
    column(_l("Programme"), "call.programme.name"),
    column(_l("Submitted"), "submitted_at"),
    column(_l("Status"), "status"),
    column(_l("Eligibility"), lambda a: _eligibility_text(a.eligibility_result)),
    column(_l("Decided at"), "decided_at"),
]


def _render_list(form: ApplicationFilterForm, statement: sa.Select, call: Call | None) -> Any:
    if wants_csv():
        statement = _filtered(statement, form).options(
            selectinload(Application.call).selectinload(Call.programme)
        )
        return csv_response(
            "applications",
            statement,
            CSV_COLUMNS,
            title=_l("Applications"),
            file_name=f"call-{call.id}-applications" if call else None,
        )
    page = paginate(_filtered(statement, form))
    return render_template(
        "applications/queue.html",
        call=call,
        form=form,
        page=page,
        progress=_evaluation_progress([a.id for a in page.items]),
        selected=selected_count(call.id) if call else None,
    )


@bp.get("/calls/<int:call_id>/applications")
@allow(*STAFF)
def queue(call_id: int):
    call = visible_call(call_id)
    form = ApplicationFilterForm(request.args)
    statement = sa.select(Application).where(
        Application.call_id == call.id, Application.visible_to(current_user)
    )
    return _render_list(form, statement, call)


@bp.get("/applications")
@allow(*STAFF)
def index():
    calls = db.session.scalars(
        sa.select(Call)
        .where(Call.id.in_(sa.select(Application.call_id).where(Application.visible_to(current_user))))
        .order_by(Call.closes_at.desc(), Call.id.desc())
    ).all()
    form = ApplicationFilterForm(request.args, calls=[(str(c.id), str(c)) for c in calls])
    statement = sa.select(Application).where(Application.visible_to(current_user))
    call_id = form.call.data
    if call_id and call_id.isdigit():
        statement = statement.where(Application.call_id == int(call_id))
    return _render_list(form, statement, None)


# --- Staff: one application --------------------------------------------------------------------------------


def _staff_application(application_id: int) -> Application:
    application = db.session.scalar(
        sa.select(Application).where(Application.id == application_id, Application.visible_to(current_user))
    )
    if application is None:
        abort(404)
    return application


def _eligibility(application: Application) -> dict[str, Any] | None:
    result = application.eligibility_result
    if not result:
        return None
    try:
        checked_at = datetime.fromisoformat(result.get("checked_at") or "")
    except ValueError:
        checked_at = None
    return {"checked_at": checked_at, "problems": result.get("problems") or []}


def _render_staff_detail(
    application: Application,
    refused: TransitionForm | None = None,
    error: OperationError | None = None,
    status: int = 200,
) -> tuple[str, int]:
    moves = operations.available_moves(application, current_user)
    forms = {}
    for target in moves:
        if refused is not None and refused.target is target:
            forms[target] = refused.for_target(target)
        else:
            fresh = TransitionForm(formdata=None, data={"to": target.value, "version": application.version})
            forms[target] = fresh.for_target(target)
    conflicts = duplicate_support_conflicts(application) if S.selected in moves else []
    at_capacity = S.selected in moves and selected_count(application.call_id) >= application.call.capacity
    evaluation_result = results_for_application(application)
    history = db.session.scalars(
        sa.select(ApplicationHistory)
        .where(ApplicationHistory.application_id == application.id)
        .options(selectinload(ApplicationHistory.actor))
        .order_by(ApplicationHistory.id)
    ).all()
    return render_template(
        "applications/detail.html",
        application=application,
        call=application.call,
        programme=application.programme,
        firm=application.firm,
        moves=moves,
        forms=forms,
        decisions=DECISIONS,
        refused_target=refused.target if refused is not None else None,
        refused_code=getattr(error, "code", None),
        # A rule's refusal is said next to its form too; a validation failure is already under its fields.
        refused_message=str(error.message) if error and not isinstance(error, ValidationFailed) else None,
        conflicts=conflicts,
        may_override=operations.may_override_duplicate(current_user, application),
        at_capacity=at_capacity,
        selected=selected_count(application.call_id),
        eligibility=_eligibility(application),
        recheck_form=ActionForm(formdata=None),
        evaluation_result=evaluation_result,
        history=history,
        can_upload=not application.status.is_final,
    ), status


@bp.get("/applications/<int:application_id>")
@allow(*STAFF, Role.evaluator)
def detail(application_id: int):
    if current_user.role is Role.evaluator:
        # Evaluators work on their own assignment page, never here.
        assignment_id = db.session.scalar(
            sa.select(EvaluatorAssignment.id).where(
                EvaluatorAssignment.application_id == application_id,
                EvaluatorAssignment.evaluator_id == current_user.id,
                EvaluatorAssignment.status.in_(AssignmentStatus.may_see_application()),
            )
        )
        if assignment_id is None:
            abort(404)
        return redirect(url_for("evaluations.assignment", assignment_id=assignment_id))
    return _render_staff_detail(_staff_application(application_id))


@bp.post("/applications/<int:application_id>/transitions")
@allow(*STAFF)
def transition(application_id: int):
    application = _staff_application(application_id)
    form = TransitionForm()
    target = form.target
    if target is None:
        abort(400)
    if not form.validate_on_submit():
        if form.errors.get("version"):
            flash(str(OUT_OF_DATE), "error")
        return _render_staff_detail(application, refused=form, status=422)
    try:
        operations.transition(application, target, current_user, form.options())
    except OperationError as error:
        # The check may have refreshed the stored eligibility result; drop it with everything else, or the
        # page would show a version number that was never committed.
        db.session.rollback()
        show_operation_error(form, error)
        return _render_staff_detail(application, refused=form, error=error, status=_refusal_status(error))
    db.session.commit()
    flash(
        _("%(firm)s: the application is now “%(status)s”.", firm=application.firm.name, status=target.title),
        "success",
    )
    return redirect(url_for(".detail", application_id=application.id))


@bp.post("/applications/<int:application_id>/eligibility")
@allow(*STAFF)
def recheck(application_id: int):
    application = _staff_application(application_id)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            problems = operations.recheck_eligibility(application, current_user)
        except OperationError as error:
            db.session.rollback()
            flash(_error_text(error), "error")
        else:
            db.session.commit()
            if problems:
                flash(_("The eligibility check found %(n)s problem(s).", n=len(problems)), "warning")
            else:
                flash(_("The eligibility check found no problems."), "success")
    return redirect(url_for(".detail", application_id=application.id, _anchor="eligibility"))


# --- Staff: decisions for many -----------------------------------------------------------------------------


def _decisions_back_url(call: Call) -> str:
    return url_for("evaluations.ranking", call_id=call.id)


@bp.post("/calls/<int:call_id>/decisions")
@allow(*STAFF)
def bulk_decide(call_id: int):
    call = visible_call(call_id)
    form = BulkDecisionForm()
    back = safe_next(form.next.data, _decisions_back_url(call))
    if not form.validate_on_submit():
        flash(_("Tick the applications again and retry; the form could not be read."), "error")
        return redirect(back)
    try:
        decision = ApplicationStatus(form.decision.data or "")
    except ValueError:
        decision = None
    if decision not in DECISIONS:
        flash(_("Choose select, reserve or reject."), "error")
        return redirect(back)
    ids = form.application_ids.data or []
    applications: list[Application] = []
    if ids:
        applications = list(
            db.session.scalars(
                sa.select(Application)
                .where(
                    Application.call_id == call.id,
                    Application.id.in_(ids),
                    Application.visible_to(current_user),
                )
                .order_by(Application.id)
            )
        )
        if not applications:
            abort(404)
    if decision is S.rejected and not form.confirm.data:
        flash(_("Tick the confirmation to reject: a rejection is final and the firms are told."), "error")
        return redirect(back)
    try:
        outcome = operations.decide_many(
            applications,
            decision,
            current_user,
            form.reason.data or "",
            bool(form.confirm_over_capacity.data),
        )
    except OperationError as error:
        db.session.rollback()
        flash(_error_text(error), "error")
        return redirect(back)
    summary = _("%(n)s decided: %(status)s.", n=len(outcome.done), status=decision.title)
    if outcome.refused:
        refusals = "; ".join(f"{app.firm.name} — {_error_text(error)}" for app, error in outcome.refused)
        summary += " " + _("%(n)s refused: %(list)s", n=len(outcome.refused), list=refusals)
    db.session.commit()
    flash(summary, "warning" if outcome.refused else "success")
    return redirect(back)


@bp.app_template_global("portal_recent_applications")
def portal_recent_applications(firm: Firm, limit: int = 5) -> list[Application]:
    """The firm's latest applications, for the portal home."""
    return list(
        db.session.scalars(
            sa.select(Application)
            .where(Application.firm_id == firm.id)
            .options(selectinload(Application.call))
            .order_by(Application.created_at.desc(), Application.id.desc())
            .limit(limit)
        )
    )


# --- Template globals for the panels ------------------------------------------------------------------------


@bp.app_template_global("applications_of_firm")
def applications_of_firm(firm: Firm) -> list[Application]:
    """The firm's applications the signed-in staff member may see, newest first, for the firm page."""
    return list(
        db.session.scalars(
            sa.select(Application)
            .where(
                Application.firm_id == firm.id,
                Application.status != ApplicationStatus.draft,
                Application.visible_to(current_user),
            )
            .options(selectinload(Application.call))  # the panel shows the call's title and cohort only
            .order_by(Application.created_at.desc(), Application.id.desc())
            .limit(50)
        )
    )
