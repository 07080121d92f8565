"""Milestone pages: the staff's list across engagements (filters as in API.md: status open/done/overdue and
due before), completing with evidence (staff, or the firm for its own milestones) and waiving."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import contains_eager

from crm.auth.limits import configured, user_key
from crm.auth.models import STAFF_ROLES, Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import d_day_label, today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.engagements.operations import may_work_on
from crm.exports.csvexport import Column, column, csv_response, wants_csv
from crm.extensions import db, limiter
from crm.firms.models import Firm
from crm.milestones import operations
from crm.milestones.forms import CompleteForm, MilestoneFilterForm, WaiveForm
from crm.milestones.models import Milestone, MilestoneOwner, MilestoneStatus

bp = Blueprint("milestones", __name__)


def _visible_milestone(milestone_id: int) -> Milestone:
    milestone = db.session.scalar(
        sa.select(Milestone).where(Milestone.id == milestone_id, Milestone.visible_to(current_user))
    )
    if milestone is None:
        abort(404)
    return milestone


def _back(milestone: Milestone):
    if current_user.role is Role.firm_user:
        return redirect(
            url_for("engagements.portal_detail", engagement_id=milestone.engagement_id, _anchor="milestones")
        )
    return redirect(
        url_for("engagements.detail", engagement_id=milestone.engagement_id, _anchor="milestones")
    )


def _csv_columns(today: date) -> list[Column]:
    return [
        column(_l("Due"), "due_on"),
        column(_l("D-N"), lambda m: "" if m.is_closed else d_day_label(m.due_on, today)),
        column(_l("Milestone"), "title"),
        column(_l("Firm"), "engagement.firm.name"),
        column(_l("Business registration number"), "engagement.firm.brn_display"),
        column(_l("Programme"), "engagement.programme.name"),
        column(_l("Owner"), "owner"),
        column(_l("Status"), lambda m: m.status_on(today)),
        column(_l("Completed"), "done_at"),
        column(_l("Waived"), "waived_at"),
    ]


@bp.get("/milestones")
@allow(*STAFF_ROLES)
def index():
    form = MilestoneFilterForm(request.args)
    statement = (
        sa.select(Milestone)
        .join(Engagement, Milestone.engagement_id == Engagement.id)
        .join(Firm, Engagement.firm_id == Firm.id)
        .where(Milestone.visible_to(current_user))
    )
    today = today_kst()
    if form.status.data in MilestoneStatus._value2member_map_:
        statement = statement.where(Milestone.status_clause(MilestoneStatus(form.status.data), today))
    if form.due_before.data:
        statement = statement.where(Milestone.due_on < form.due_before.data)
    if form.owner.data in MilestoneOwner._value2member_map_:
        statement = statement.where(Milestone.owner == MilestoneOwner(form.owner.data))
    if request.args.get("mine") == "1":
        statement = statement.where(Engagement.coordinator_id == current_user.id)
    statement = statement.order_by(Milestone.due_on, Milestone.id)
    if wants_csv():
        statement = statement.options(
            contains_eager(Milestone.engagement).contains_eager(Engagement.firm),
            contains_eager(Milestone.engagement).joinedload(Engagement.programme),
        )
        return csv_response("milestones", statement, _csv_columns(today), title=_l("Milestones"))
    # Each row shows its engagement's firm and programme: load them with the page, not per row.
    page = paginate(
        statement.options(
            contains_eager(Milestone.engagement).contains_eager(Engagement.firm),
            contains_eager(Milestone.engagement).joinedload(Engagement.programme),
        )
    )
    return render_template("milestones/index.html", form=form, page=page, today=today)


@bp.route("/milestones/<int:milestone_id>/complete", methods=["GET", "POST"])
@allow(*STAFF_ROLES, Role.firm_user)
@limiter.limit(configured("UPLOAD_RATE_LIMIT"), key_func=user_key, methods=["POST"])
def complete(milestone_id: int):
    milestone = _visible_milestone(milestone_id)
    if not operations.may_complete(milestone, current_user):
        if milestone.is_closed:
            flash(_("This milestone is already %(status)s.", status=milestone.status.title), "error")
            return _back(milestone)
        abort(403)
    form = CompleteForm()
    if form.validate_on_submit():
        try:
            operations.complete(milestone, current_user, form.evidence.data, form.note.data or "")
        except OperationError as error:
            db.session.rollback()
            milestone = _visible_milestone(milestone_id)
            show_operation_error(form, error)
            if error.status == 413:
                return render_template("milestones/complete.html", form=form, milestone=milestone), 413
        else:
            db.session.commit()
            flash(_("“%(title)s” is done.", title=milestone.title), "success")
            return _back(milestone)
    return render_form("milestones/complete.html", form=form, milestone=milestone)


@bp.route("/milestones/<int:milestone_id>/waive", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def waive(milestone_id: int):
    milestone = _visible_milestone(milestone_id)
    if not may_work_on(milestone.engagement, current_user):
        abort(403)
    form = WaiveForm()
    if form.validate_on_submit():
        try:
            operations.waive(milestone, current_user, form.reason.data or "")
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("“%(title)s” was waived.", title=milestone.title), "success")
            return _back(milestone)
    return render_form("milestones/waive.html", form=form, milestone=milestone)


@bp.app_template_global("may_complete_milestone")
def may_complete_milestone(milestone: Milestone) -> bool:
    return operations.may_complete(milestone, current_user)


@bp.app_template_global("may_waive_milestone")
def may_waive_milestone(milestone: Milestone) -> bool:
    return not milestone.is_closed and may_work_on(milestone.engagement, current_user)


@bp.app_template_global("portal_milestones_due")
def portal_milestones_due(firm: Firm, within_days: int = 30) -> list[Milestone]:
    """The firm's own open milestones due within a month or overdue, for the portal home."""
    horizon = date.fromordinal(today_kst().toordinal() + within_days)
    return list(
        db.session.scalars(
            sa.select(Milestone)
            .join(Engagement, Milestone.engagement_id == Engagement.id)
            .where(
                Engagement.firm_id == firm.id,
                Engagement.status.not_in([EngagementStatus.cancelled, EngagementStatus.terminated]),
                Milestone.owner == MilestoneOwner.firm,
                Milestone.open_clause(),
                Milestone.due_on <= horizon,
            )
            .order_by(Milestone.due_on)
            .limit(20)
        )
    )
