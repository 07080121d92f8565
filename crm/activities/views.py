"""Pages of the activities feature: record an activity on an engagement or a firm, correct it, delete it
(after a confirmation page), and the firm's list of activities; plus what the engagement and firm pages'
panels show."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.activities import operations
from crm.activities.forms import ActivityForm, ConfirmDeleteForm, format_hours
from crm.activities.models import Activity
from crm.auth.models import STAFF_ROLES
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.engagements.views import visible_engagement, workable_engagement
from crm.exports.csvexport import NAME, NAMES, column, csv_response, personal, wants_csv
from crm.extensions import db
from crm.firms.models import Firm

bp = Blueprint("activities", __name__)

ENGAGEMENT_PANEL_SIZE = 10
FIRM_PANEL_SIZE = 5


def _visible_firm(firm_id: int) -> Firm:
    firm = db.session.scalar(sa.select(Firm).where(Firm.id == firm_id, Firm.visible_to(current_user)))
    if firm is None:
        abort(404)
    return firm


def _changeable_activity(activity_id: int) -> Activity:
    """404 unless the user sees the activity; 403 when it sees it but may not change it."""
    activity = db.session.scalar(
        sa.select(Activity).where(Activity.id == activity_id, operations.visible_clause(current_user))
    )
    if activity is None:
        abort(404)
    if not operations.may_change(activity, current_user):
        abort(403)
    return activity


def _back_to(activity_or_owner: Activity | Engagement | Firm) -> Any:
    if isinstance(activity_or_owner, Activity):
        engagement_id, firm_id = activity_or_owner.engagement_id, activity_or_owner.firm_id
    elif isinstance(activity_or_owner, Engagement):
        engagement_id, firm_id = activity_or_owner.id, activity_or_owner.firm_id
    else:
        engagement_id, firm_id = None, activity_or_owner.id
    if engagement_id is not None:
        return redirect(url_for("engagements.detail", engagement_id=engagement_id, _anchor="activities"))
    return redirect(url_for("firms.detail", firm_id=firm_id, _anchor="activities"))


def _new(owner: Engagement | Firm, firm: Firm) -> Any:
    form = ActivityForm()
    if not form.is_submitted():
        form.occurred_on.data = today_kst()
    if form.validate_on_submit():
        try:
            operations.record_activity(owner, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The activity was recorded."), "success")
            return _back_to(owner)
    engagement = owner if isinstance(owner, Engagement) else None
    return render_form("activities/form.html", form=form, firm=firm, engagement=engagement, activity=None)


@bp.route("/engagements/<int:engagement_id>/activities/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_for_engagement(engagement_id: int):
    engagement = workable_engagement(engagement_id)
    return _new(engagement, engagement.firm)


@bp.route("/firms/<int:firm_id>/activities/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_for_firm(firm_id: int):
    firm = _visible_firm(firm_id)
    return _new(firm, firm)


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def edit(activity_id: int):
    activity = _changeable_activity(activity_id)
    form = ActivityForm(obj=activity)
    if not form.is_submitted():
        form.kind.data = activity.kind.value
    if form.validate_on_submit():
        try:
            operations.update_activity(activity, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The activity was saved."), "success")
            return _back_to(activity)
    return render_form(
        "activities/form.html",
        form=form,
        firm=activity.firm,
        engagement=activity.engagement,
        activity=activity,
    )


@bp.route("/activities/<int:activity_id>/delete", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def delete(activity_id: int):
    activity = _changeable_activity(activity_id)
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        back = _back_to(activity)
        try:
            operations.delete_activity(activity, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The activity was deleted."), "success")
            return back
    return render_form("activities/delete.html", form=form, activity=activity)


CSV_COLUMNS = [
    column(_l("Date"), "occurred_on"),
    column(_l("Kind"), "kind"),
    column(_l("Engagement"), lambda a: a.engagement.programme.name if a.engagement else _("Firm-level")),
    column(_l("Hours"), lambda a: format_hours(a.hours)),
    personal(_l("Participants"), "participants", NAMES),
    column(_l("Summary"), "summary"),
    personal(_l("Recorded by"), lambda a: a.recorded_by.name if a.recorded_by else None, NAME),
]


@bp.route("/firms/<int:firm_id>/activities", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def firm_list(firm_id: int):
    firm = _visible_firm(firm_id)
    engagement = None
    engagement_id = request.args.get("engagement", type=int)
    if engagement_id is not None:
        engagement = visible_engagement(engagement_id)
        if engagement.firm_id != firm.id:
            abort(404)
    statement = operations.firm_activities_statement(firm, current_user, engagement_id)
    if wants_csv():
        statement = statement.options(
            joinedload(Activity.engagement).joinedload(Engagement.programme), joinedload(Activity.recorded_by)
        )
        return csv_response(
            "activities",
            statement,
            CSV_COLUMNS,
            title=_l("Activities"),
            subject=firm,
            file_name=f"firm-{firm.id}-activities",
        )
    page = paginate(statement)
    return render_template(
        "activities/firm_list.html",
        firm=firm,
        engagement=engagement,
        page=page,
        may_add=operations.may_record_for_firm(firm, current_user),
        changeable={a.id for a in page.items if operations.may_change(a, current_user)},
    )


# --- what the panels of other pages show ------------------------------------------------------------------


@bp.app_template_global("engagement_activity_panel")
def engagement_activity_panel(engagement: Engagement) -> dict[str, Any]:
    count, hours = operations.engagement_totals(engagement)
    return {
        "activities": operations.engagement_activities(engagement, ENGAGEMENT_PANEL_SIZE),
        "count": count,
        "hours": hours,
    }


@bp.app_template_global("firm_activity_panel")
def firm_activity_panel(firm: Firm) -> dict[str, Any]:
    statement = operations.firm_activities_statement(firm, current_user)
    return {
        # Each row names its engagement's programme: load them with the panel, not per row.
        "activities": list(
            db.session.scalars(
                statement.options(joinedload(Activity.engagement).joinedload(Engagement.programme)).limit(
                    FIRM_PANEL_SIZE
                )
            )
        ),
        "count": db.session.scalar(
            sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
        ),
        "may_add": operations.may_record_for_firm(firm, current_user),
    }


@bp.app_template_filter("activity_hours")
def activity_hours(value: Any) -> str:
    return format_hours(value)
