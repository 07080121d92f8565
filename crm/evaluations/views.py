"""Evaluation pages: a manager assigns evaluators to a call's applications; an evaluator declares, scores and
submits; staff read the call's ranking."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import selectinload

from crm.applications.models import Application, ApplicationStatus
from crm.auth.models import Role, User
from crm.core.access import allow
from crm.core.enums import IllegalTransition
from crm.core.exceptions import Conflict, OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.evaluations import operations
from crm.evaluations.forms import AssignForm, ConfirmRemoveForm, DeclarationForm, scoring_form
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment
from crm.extensions import db
from crm.programmes.models import Call
from crm.programmes.views import visible_call

bp = Blueprint("evaluations", __name__)

MANAGERS = (Role.admin, Role.consortium_manager)
RANKING_READERS = (Role.admin, Role.consortium_manager, Role.coordinator)
# The applications the evaluators page lists: under review, or decided after review (drafts stay private).
LISTED_STATUSES = operations.ASSIGNABLE_STATUSES | operations.RANKED_STATUSES


class ListPagination(Pagination):
    """Pages over a list computed in Python (the ranking needs every row to number them)."""

    def _query_items(self) -> list[Any]:
        items = self._query_args["items"]
        start = (self.page - 1) * self.per_page
        return items[start : start + self.per_page]

    def _query_count(self) -> int:
        return len(self._query_args["items"])


def _paginate_list(items: list[Any]) -> ListPagination:
    return ListPagination(
        page=request.args.get("page", 1, type=int),
        per_page=current_app.config["PAGE_SIZE"],
        max_per_page=200,
        error_out=False,
        items=items,
    )


def _visible_assignment(assignment_id: int) -> EvaluatorAssignment:
    assignment = db.session.scalar(
        sa.select(EvaluatorAssignment).where(
            EvaluatorAssignment.id == assignment_id, operations.visible_assignments(current_user)
        )
    )
    if assignment is None:
        abort(404)
    return assignment


# --- Managers: assigning evaluators ----------------------------------------------------------------------


def _evaluators_page(call: Call, form: AssignForm) -> tuple[str, int]:
    page = paginate(
        sa.select(Application)
        .where(Application.call_id == call.id, Application.status.in_(LISTED_STATUSES))
        .options(selectinload(Application.firm))
        .order_by(Application.id)
    )
    assignments: dict[int, list[EvaluatorAssignment]] = {a.id: [] for a in page.items}
    if assignments:
        for assignment in db.session.scalars(
            sa.select(EvaluatorAssignment)
            .where(EvaluatorAssignment.application_id.in_(list(assignments)))
            .options(selectinload(EvaluatorAssignment.evaluator))
            .order_by(EvaluatorAssignment.id)
        ):
            assignments[assignment.application_id].append(assignment)
    return render_form(
        "evaluations/evaluators.html",
        call=call,
        programme=call.programme,
        form=form,
        page=page,
        assignments=assignments,
        assignable=operations.ASSIGNABLE_STATUSES,
        removable=operations.REMOVABLE,
        may_rank=operations.may_see_ranking(call, current_user),
    )


@bp.route("/calls/<int:call_id>/evaluators", methods=["GET", "POST"])
@allow(*MANAGERS)
def call_evaluators(call_id: int):
    call = visible_call(call_id)
    if not operations.may_manage_evaluators(call, current_user):
        abort(403)
    evaluators = db.session.scalars(operations.active_evaluators()).all()
    form = AssignForm(evaluators=[(u.id, f"{u.name} ({u.email})") for u in evaluators])
    if form.validate_on_submit():
        application_ids = form.application_ids.data or []
        evaluator_ids = form.evaluator_ids.data or []
        applications = db.session.scalars(
            sa.select(Application).where(Application.id.in_(application_ids), Application.call_id == call.id)
        ).all()
        chosen = db.session.scalars(sa.select(User).where(User.id.in_(evaluator_ids))).all()
        try:
            created = operations.assign_evaluators(applications, chosen, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            skipped = len(applications) * len(chosen) - len(created)
            flash(_("%(n)s assignments were made.", n=len(created)), "success")
            if skipped:
                flash(
                    _(
                        "%(n)s were skipped: already assigned, "
                        "or the evaluator declared a conflict of interest.",
                        n=skipped,
                    ),
                    "warning",
                )
            return redirect(url_for("evaluations.call_evaluators", call_id=call.id, **request.args))
    return _evaluators_page(call, form)


@bp.route("/evaluator-assignments/<int:assignment_id>/remove", methods=["GET", "POST"])
@allow(*MANAGERS)
def remove_assignment(assignment_id: int):
    assignment = _visible_assignment(assignment_id)
    call = assignment.application.call
    if not operations.may_manage_evaluators(call, current_user):
        abort(403)
    form = ConfirmRemoveForm()
    if form.validate_on_submit():
        name = assignment.evaluator.name
        try:
            operations.unassign(assignment, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("%(name)s was removed from the application.", name=name), "success")
            return redirect(url_for("evaluations.call_evaluators", call_id=call.id))
    return render_form(
        "evaluations/remove.html",
        form=form,
        assignment=assignment,
        call=call,
        removable=assignment.status in operations.REMOVABLE,
    )


# --- Evaluators: their own assignments --------------------------------------------------------------------


@bp.get("/evaluations")
@allow(Role.evaluator)
def index():
    page = paginate(operations.assignments_of(current_user))
    # The query orders by status (action needed first); grouping keeps that order, where Jinja's would sort.
    groups = [(status, list(rows)) for status, rows in groupby(page.items, key=lambda a: a.status)]
    return render_template("evaluations/index.html", page=page, groups=groups, due_state=operations.due_state)


def _application_for_evaluator(assignment: EvaluatorAssignment) -> Application:
    """The application behind the assignment, through the same visibility rule as everywhere else: an
    evaluator sees it only after declaring no conflict."""
    application = db.session.scalar(
        sa.select(Application).where(
            Application.id == assignment.application_id, Application.visible_to(current_user)
        )
    )
    if application is None:
        abort(404)
    return application


def _scoring_form(assignment: EvaluatorAssignment) -> Any:
    criteria = assignment.application.call.criteria or []
    if request.method == "POST":
        return scoring_form(criteria)
    saved = {operations.score_field(s.criterion_key): s.value for s in assignment.scores}
    return scoring_form(
        criteria, data={"version": assignment.version, "comment": assignment.comment, **saved}
    )


def _assignment_page(
    assignment: EvaluatorAssignment,
    declaration_form: DeclarationForm | None,
    form: Any,
    status: int | None = None,
) -> tuple[str, int]:
    application = None
    if assignment.status in AssignmentStatus.may_see_application():
        application = _application_for_evaluator(assignment)
    context = {
        "assignment": assignment,
        "call": assignment.application.call,
        "firm": assignment.application.firm,
        "application": application,
        "declaration_form": declaration_form,
        "form": form,
        "due": operations.due_state(assignment),
        "scores": {s.criterion_key: s.value for s in assignment.scores},
    }
    if status is not None:
        return render_template("evaluations/assignment.html", **context), status
    return render_form("evaluations/assignment.html", **context)


@bp.route("/evaluations/<int:assignment_id>", methods=["GET", "POST"])
@allow(Role.evaluator)
def assignment(assignment_id: int):
    assignment = _visible_assignment(assignment_id)
    if assignment.status is AssignmentStatus.awaiting_declaration:
        return _declare(assignment)
    if assignment.status is AssignmentStatus.scoring:
        return _score(assignment)
    if request.method == "POST":
        flash(_("This evaluation is closed; nothing was changed."), "error")
        return redirect(url_for("evaluations.assignment", assignment_id=assignment.id))
    return _assignment_page(assignment, None, None)


def _declare(assignment: EvaluatorAssignment):
    form = DeclarationForm()
    if form.validate_on_submit():
        has_conflict = form.conflict.data == "yes"
        try:
            operations.declare(assignment, has_conflict, form.statement.data or "", current_user)
        except IllegalTransition:
            flash(_("This declaration was already made."), "error")
            return redirect(url_for("evaluations.assignment", assignment_id=assignment.id))
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if has_conflict:
                flash(
                    _("Your conflict of interest was recorded and you were removed from this application."),
                    "success",
                )
                return redirect(url_for("evaluations.index"))
            flash(_("Thank you. You can now read the application and score it."), "success")
            return redirect(url_for("evaluations.assignment", assignment_id=assignment.id))
    return _assignment_page(assignment, form, None)


def _score(assignment: EvaluatorAssignment):
    form = _scoring_form(assignment)
    if form.validate_on_submit():
        submitting = bool(form.submit.data)
        verb = operations.submit_scores if submitting else operations.save_scores
        try:
            verb(assignment, form.score_values(), form.comment.data or "", current_user, form.version.data)
        except Conflict as error:
            db.session.rollback()  # a concurrent save may have left the session unusable
            show_operation_error(form, error)
            return _assignment_page(assignment, None, form, status=error.status)
        except IllegalTransition:
            flash(_("This evaluation is closed; nothing was changed."), "error")
            return redirect(url_for("evaluations.assignment", assignment_id=assignment.id))
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if submitting:
                flash(_("Your scores were submitted. Thank you."), "success")
                return redirect(url_for("evaluations.index"))
            flash(_("Your draft was saved."), "success")
            return redirect(url_for("evaluations.assignment", assignment_id=assignment.id))
    return _assignment_page(assignment, None, form)


# --- Staff: ranking ----------------------------------------------------------------------------------------


@bp.get("/calls/<int:call_id>/ranking")
@allow(*RANKING_READERS)
def ranking(call_id: int):
    call = visible_call(call_id)
    if not operations.may_see_ranking(call, current_user):
        abort(404)
    rows = operations.ranking_for_call(call)
    decisions = [
        (status.value, status.title)
        for status in (ApplicationStatus.selected, ApplicationStatus.reserve, ApplicationStatus.rejected)
    ]
    return render_template(
        "evaluations/ranking.html",
        call=call,
        programme=call.programme,
        page=_paginate_list(rows),
        complete_count=sum(1 for row in rows if row.is_complete),
        total_count=len(rows),
        decisions=decisions,
        may_manage=operations.may_manage_evaluators(call, current_user),
    )
