"""Engagement pages: the list, the engagement page (agreement, funding, milestones, changes, history and the
panels of activities, KPIs, surveys, training and GPU hours), the lifecycle forms, the firm's portal view."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import contains_eager, joinedload

from crm.auth.limits import configured, user_key
from crm.auth.models import STAFF_ROLES, Role
from crm.core.access import allow
from crm.core.exceptions import Conflict, OperationError
from crm.core.formatting import format_date, format_won
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.documents.operations import upload_engagement_document
from crm.engagements import operations
from crm.engagements.forms import (
    AgreementForm,
    ChangeForm,
    DecisionForm,
    DirectEngagementForm,
    EngagementFilterForm,
    SettlementForm,
    TerminationForm,
    TransitionForm,
)
from crm.engagements.models import AgreementChange, ChangeStatus, Engagement, EngagementStatus
from crm.exports.csvexport import NAME, column, csv_response, personal, wants_csv
from crm.extensions import db, limiter
from crm.firms.identifiers import InvalidIdentifier, normalize_brn
from crm.firms.models import Firm
from crm.firms.operations import name_or_brn_matches
from crm.milestones.models import Milestone
from crm.programmes.models import Programme, Track

bp = Blueprint("engagements", __name__)

E = EngagementStatus


def visible_engagement(engagement_id: int) -> Engagement:
    """The engagement if the signed-in user may see it, else 404."""
    engagement = db.session.scalar(
        sa.select(Engagement).where(Engagement.id == engagement_id, Engagement.visible_to(current_user))
    )
    if engagement is None:
        abort(404)
    return engagement


def workable_engagement(engagement_id: int) -> Engagement:
    """The engagement if the signed-in user may do case work on it: 404 when not visible, 403 when visible
    but read-only."""
    engagement = visible_engagement(engagement_id)
    if not operations.may_work_on(engagement, current_user):
        abort(403)
    return engagement


def _to_detail(engagement: Engagement, anchor: str | None = None):
    return redirect(url_for("engagements.detail", engagement_id=engagement.id, _anchor=anchor))


def _version(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


# --- The list -----------------------------------------------------------------------------------------------


CSV_COLUMNS = [
    column(_l("Firm"), "firm.name"),
    column(_l("Business registration number"), "firm.brn_display"),
    column(_l("Programme"), "programme.name"),
    column(_l("Track"), "programme.track"),
    column(_l("Status"), "status"),
    column(_l("Signed on"), "agreed_on"),
    column(_l("Starts on"), "starts_on"),
    column(_l("Ends on"), "ends_on"),
    column(_l("National funds (국비, 원)"), "gov_krw"),
    column(_l("Local funds (지방비, 원)"), "local_krw"),
    column(_l("Own share in cash (자부담 현금, 원)"), "self_cash_krw"),
    column(_l("Own share in kind (자부담 현물, 원)"), "self_inkind_krw"),
    column(_l("Total (원)"), "total_krw"),
    column(_l("Spent in settlement (원)"), "settlement_spent_krw"),
    column(_l("Returned in settlement (원)"), "settlement_returned_krw"),
    personal(_l("Coordinator"), lambda e: e.coordinator.name if e.coordinator else None, NAME),
]


@bp.route("/engagements", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def index():
    form = EngagementFilterForm(request.args)
    form.status.choices = [("", _("All statuses")), *E.choices()]
    form.track.choices = [("", _("All tracks")), *Track.choices()]
    statement = (
        sa.select(Engagement)
        .join(Firm, Engagement.firm_id == Firm.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(Engagement.visible_to(current_user))
    )
    if form.q.data:
        statement = statement.where(name_or_brn_matches(form.q.data))
    if form.status.data in E._value2member_map_:
        statement = statement.where(Engagement.status == E(form.status.data))
    if form.track.data in Track._value2member_map_:
        statement = statement.where(Programme.track == Track(form.track.data))
    programme = None
    if form.programme_id.data:
        programme = db.session.scalar(
            sa.select(Programme).where(
                Programme.id == form.programme_id.data, Programme.visible_to(current_user)
            )
        )
        statement = statement.where(Engagement.programme_id == form.programme_id.data)
    if request.args.get("mine") == "1":
        statement = statement.where(Engagement.coordinator_id == current_user.id)
    statement = statement.order_by(Engagement.updated_at.desc(), Engagement.id.desc())
    if wants_csv():
        statement = statement.options(
            contains_eager(Engagement.firm),
            contains_eager(Engagement.programme),
            joinedload(Engagement.coordinator),
        )
        return csv_response("engagements", statement, CSV_COLUMNS, title=_l("Engagements"))
    # The list shows each row's firm and programme: load them with the page, not one query per row.
    page = paginate(statement.options(contains_eager(Engagement.firm), contains_eager(Engagement.programme)))
    return render_template("engagements/index.html", form=form, page=page, programme=programme)


# --- One engagement -----------------------------------------------------------------------------------------


def _detail_context(engagement: Engagement) -> dict[str, Any]:
    milestones = db.session.scalars(
        sa.select(Milestone)
        .where(Milestone.engagement_id == engagement.id)
        .order_by(Milestone.due_on, Milestone.id)
    ).all()
    gov_committed, local_committed = operations.committed_krw(engagement.programme, engagement.id)
    may_work = operations.may_work_on(engagement, current_user)
    return {
        "engagement": engagement,
        "firm": engagement.firm,
        "may_work": may_work,
        "may_approve": operations.may_approve_changes(engagement, current_user),
        "moves": operations.available_moves(engagement, current_user),
        "milestones": milestones,
        "open_change": next((c for c in engagement.changes if c.status is ChangeStatus.requested), None),
        "change_deadline": operations.change_deadline(engagement),
        "budget": {
            "gov_left": engagement.programme.budget_gov_krw - gov_committed,
            "local_left": engagement.programme.budget_local_krw - local_committed,
        },
        "share": operations.funding_shares(engagement),
        "documents": operations.documents_of(engagement),
    }


@bp.get("/engagements/<int:engagement_id>")
@allow(*STAFF_ROLES)
def detail(engagement_id: int):
    engagement = visible_engagement(engagement_id)
    return render_template("engagements/detail.html", **_detail_context(engagement))


@bp.route("/engagements/<int:engagement_id>/agreement", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def agreement(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    if engagement.status is not E.pending_agreement:
        flash(_("The agreement is signed; request an agreement change (협약변경) instead."), "error")
        return _to_detail(engagement)
    form = AgreementForm(engagement)
    if form.validate_on_submit():
        try:
            operations.update_agreement(engagement, form.to_data(), current_user, _version(form.version.data))
        except OperationError as error:
            db.session.rollback()
            show_operation_error(form, error)
            status = error.status if isinstance(error, Conflict) else None
            if status:
                return render_template("engagements/agreement.html", form=form, engagement=engagement), status
        else:
            db.session.commit()
            flash(_("The agreement's terms were saved."), "success")
            return _to_detail(engagement, "agreement")
    return render_form("engagements/agreement.html", form=form, engagement=engagement)


@bp.post("/engagements/<int:engagement_id>/transitions")
@allow(*STAFF_ROLES)
def transition(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = TransitionForm()
    target = form.to.data
    if target == E.terminated.value:
        return redirect(url_for("engagements.terminate", engagement_id=engagement.id))
    if form.validate_on_submit():
        try:
            operations.transition(
                engagement, target, current_user, form.reason.data or "", _version(form.version.data)
            )
        except OperationError as error:
            db.session.rollback()
            engagement = visible_engagement(engagement_id)
            show_operation_error(None, error)
            return render_template("engagements/detail.html", **_detail_context(engagement)), error.status
        db.session.commit()
        flash(_("The engagement is now: %(status)s.", status=engagement.status.title), "success")
    else:
        flash(_("The form expired. Reload the page and try again."), "error")
    return _to_detail(engagement)


@bp.route("/engagements/<int:engagement_id>/terminate", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def terminate(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = TerminationForm()
    if not form.is_submitted():
        form.version.data = str(engagement.version)
    if form.validate_on_submit():
        try:
            sanctions = operations.terminate(engagement, form.to_data(), current_user)
        except OperationError as error:
            db.session.rollback()
            engagement = visible_engagement(engagement_id)
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(
                _("The agreement was terminated.")
                + (" " + _("%(n)s sanction(s) recorded.", n=len(sanctions)) if sanctions else ""),
                "success",
            )
            return _to_detail(engagement)
    return render_form("engagements/terminate.html", form=form, engagement=engagement)


@bp.route("/engagements/<int:engagement_id>/settlement", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def settlement(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = SettlementForm(obj=engagement)
    if form.validate_on_submit():
        try:
            operations.record_settlement(engagement, form.settlement_spent_krw.data, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The settlement was recorded."), "success")
            return _to_detail(engagement, "agreement")
    return render_form("engagements/settlement.html", form=form, engagement=engagement)


@bp.post("/engagements/<int:engagement_id>/documents")
@allow(*STAFF_ROLES)
@limiter.limit(configured("UPLOAD_RATE_LIMIT"), key_func=user_key, methods=["POST"])
def upload(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = TransitionForm()  # only for its CSRF check
    if not form.validate_on_submit() and form.csrf_token.errors:
        abort(400)
    try:
        document = upload_engagement_document(
            engagement,
            (request.form.get("kind") or "report").strip()[:50],
            request.files.get("file"),
            current_user,
        )
    except OperationError as error:
        db.session.rollback()
        flash(
            " ".join(str(m) for messages in error.fields.values() for m in messages) or str(error.message),
            "error",
        )
        return _to_detail(visible_engagement(engagement_id), "documents"), 303
    db.session.commit()
    flash(_("“%(name)s” was uploaded.", name=document.filename), "success")
    return _to_detail(engagement, "documents")


# --- Agreement changes --------------------------------------------------------------------------------------


@bp.route("/engagements/<int:engagement_id>/changes/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_change(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    form = ChangeForm(engagement)
    if form.validate_on_submit():
        try:
            operations.request_change(engagement, form.to_data(), form.reason.data or "", current_user)
        except OperationError as error:
            db.session.rollback()
            engagement = visible_engagement(engagement_id)
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The change request was filed; a consortium manager decides on it."), "success")
            return _to_detail(engagement, "changes")
    return render_form(
        "engagements/change_form.html",
        form=form,
        engagement=engagement,
        deadline=operations.change_deadline(engagement),
    )


def _visible_change(change_id: int) -> AgreementChange:
    change = db.session.scalar(
        sa.select(AgreementChange)
        .join(Engagement, AgreementChange.engagement_id == Engagement.id)
        .where(AgreementChange.id == change_id, Engagement.visible_to(current_user))
    )
    if change is None:
        abort(404)
    return change


@bp.route("/agreement-changes/<int:change_id>", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def change(change_id: int):
    change = _visible_change(change_id)
    engagement = change.engagement
    may_decide = (
        operations.may_approve_changes(engagement, current_user) and change.status is ChangeStatus.requested
    )
    form = DecisionForm()
    if request.method == "POST":
        if not may_decide:
            abort(403)
        if form.validate_on_submit():
            try:
                operations.decide_change(
                    change, form.decision.data == "approve", form.note.data or "", current_user
                )
            except OperationError as error:
                db.session.rollback()
                change = _visible_change(change_id)
                engagement = change.engagement
                show_operation_error(form, error)
            else:
                db.session.commit()
                flash(_("The change request is %(status)s.", status=change.status.title), "success")
                return _to_detail(engagement, "changes")
    return render_form(
        "engagements/change.html",
        form=form,
        change=change,
        engagement=engagement,
        may_decide=may_decide,
        withdraw_form=TransitionForm(),
    )


@bp.post("/agreement-changes/<int:change_id>/withdraw")
@allow(*STAFF_ROLES)
def withdraw_change(change_id: int):
    change = _visible_change(change_id)
    if not TransitionForm().validate_on_submit() and request.form.get("csrf_token") is None:
        abort(400)
    try:
        operations.withdraw_change(change, current_user)
    except OperationError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("engagements.change", change_id=change_id))
    db.session.commit()
    flash(_("The change request was withdrawn."), "success")
    return _to_detail(change.engagement, "changes")


# --- Direct creation ----------------------------------------------------------------------------------------


@bp.route("/programmes/<int:programme_id>/engagements/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new(programme_id: int):
    programme = db.session.scalar(
        sa.select(Programme).where(Programme.id == programme_id, Programme.visible_to(current_user))
    )
    if programme is None:
        abort(404)
    if not operations.may_create_directly(programme, current_user):
        abort(403)
    form = DirectEngagementForm()
    if form.validate_on_submit():
        firm = None
        try:
            brn = normalize_brn(form.brn.data or "")
        except InvalidIdentifier as error:
            form.brn.errors = [str(error)]
        else:
            firm = db.session.scalar(sa.select(Firm).where(Firm.brn == brn, Firm.visible_to(current_user)))
            if firm is None:
                form.brn.errors = [
                    _(
                        "No firm with this business registration number is registered (or visible to you). "
                        "Register the firm first."
                    )
                ]
        if firm is not None:
            try:
                engagement = operations.create_direct(
                    programme, firm, current_user, form.override_reason.data or ""
                )
            except OperationError as error:
                db.session.rollback()
                show_operation_error(form, error)
            else:
                db.session.commit()
                flash(
                    _(
                        "%(firm)s now has an engagement in %(programme)s.",
                        firm=firm.name,
                        programme=programme.name,
                    ),
                    "success",
                )
                return _to_detail(engagement)
    return render_form("engagements/new.html", form=form, programme=programme)


# --- The firm's portal --------------------------------------------------------------------------------------


def _own_engagement(engagement_id: int) -> Engagement:
    engagement = db.session.scalar(
        sa.select(Engagement).where(
            Engagement.id == engagement_id,
            Engagement.firm_id == current_user.firm_id,
            Engagement.status != E.cancelled,
        )
    )
    if engagement is None or current_user.firm_id is None:
        abort(404)
    return engagement


@bp.get("/portal/engagements")
@allow(Role.firm_user)
def portal_list():
    statement = (
        sa.select(Engagement)
        .where(Engagement.firm_id == current_user.firm_id, Engagement.status != E.cancelled)
        .order_by(Engagement.created_at.desc(), Engagement.id.desc())
    )
    return render_template("engagements/portal_list.html", page=paginate(statement))


@bp.get("/portal/engagements/<int:engagement_id>")
@allow(Role.firm_user)
def portal_detail(engagement_id: int):
    engagement = _own_engagement(engagement_id)
    milestones = db.session.scalars(
        sa.select(Milestone)
        .where(Milestone.engagement_id == engagement.id)
        .order_by(Milestone.due_on, Milestone.id)
    ).all()
    return render_template("engagements/portal_detail.html", engagement=engagement, milestones=milestones)


# --- Template globals for the panels ------------------------------------------------------------------------


@bp.app_template_global("engagements_of_firm")
def engagements_of_firm(firm: Firm) -> list[Engagement]:
    return list(
        db.session.scalars(
            sa.select(Engagement)
            .where(Engagement.firm_id == firm.id, Engagement.visible_to(current_user))
            .options(joinedload(Engagement.programme).joinedload(Programme.programme_year))
            .order_by(Engagement.created_at.desc(), Engagement.id.desc())
            .limit(50)
        )
    )


_CHANGE_FIELD_LABELS = {
    "starts_on": _l("Agreement starts on"),
    "ends_on": _l("Agreement ends on"),
    "gov_krw": _l("National funds (국비)"),
    "local_krw": _l("Local funds (지방비)"),
    "self_cash_krw": _l("Own share in cash (자부담 현금)"),
    "self_inkind_krw": _l("Own share in kind (자부담 현물)"),
    "supplier_firm_id": _l("Supplier (공급기업)"),
    "solution": _l("AI solution"),
}


@bp.app_template_global("change_field_label")
def change_field_label(name: str) -> str:
    return str(_CHANGE_FIELD_LABELS.get(name, name))


@bp.app_template_global("change_value")
def change_value(name: str, value: Any) -> str:
    """A term's value as people read it: 원 for amounts, the firm's name for the supplier."""
    if value is None or value == "":
        return "—"
    if name in operations.AMOUNT_FIELDS:
        return format_won(int(value))
    if name == "supplier_firm_id":
        firm = db.session.get(Firm, int(value))
        return firm.name if firm else str(value)
    if name in operations.DATE_FIELDS:
        return format_date(date.fromisoformat(value) if isinstance(value, str) else value)
    return str(value)


@bp.app_template_global("may_work_on_engagement")
def may_work_on_engagement(engagement: Engagement) -> bool:
    return operations.may_work_on(engagement, current_user)


@bp.app_template_global("may_create_engagement_directly")
def may_create_engagement_directly(programme: Programme) -> bool:
    return operations.may_create_directly(programme, current_user)
