"""Pages of the GPU infrastructure feature: grant or change an engagement's hours, record and delete
usage, and a programme's hours quota; the engagement panels (staff and portal) come from template globals
defined here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth.models import STAFF_ROLES
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.engagements.operations import is_firm_of, may_see
from crm.engagements.views import workable_engagement
from crm.extensions import db
from crm.firms.models import Firm
from crm.infrastructure import operations
from crm.infrastructure.forms import AllocationForm, ConfirmDeleteForm, UsageForm
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.programmes.models import Programme, Track
from crm.training.operations import may_read, may_run

bp = Blueprint("infrastructure", __name__)


def _gpu_engagement(engagement_id: int) -> Engagement:
    """An engagement of an infrastructure programme the user may work on: 404 when not visible or another
    track's, 403 when read-only."""
    engagement = workable_engagement(engagement_id)
    if engagement.programme.track is not Track.infrastructure:
        abort(404)
    return engagement


def _engagement_page(engagement: Engagement):
    return redirect(url_for("engagements.detail", engagement_id=engagement.id, _anchor="gpu"))


@bp.route("/engagements/<int:engagement_id>/gpu", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def allocation(engagement_id: int):
    engagement = _gpu_engagement(engagement_id)
    state = operations.allocation_state(engagement)
    existing = state.allocation
    form = AllocationForm(obj=existing, allocation=existing)
    if not form.is_submitted() and existing is None:
        form.granted_on.data = today_kst()
    if form.validate_on_submit():
        try:
            operations.grant_hours(engagement, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(
                _("The GPU hours were granted.") if existing is None else _("The GPU grant was changed."),
                "success",
            )
            return _engagement_page(engagement)
    return render_form(
        "infrastructure/allocation_form.html",
        form=form,
        engagement=engagement,
        state=state,
        quota=operations.gpu_quota(engagement.programme),
        may_grant=operations.may_grant(engagement),
    )


@bp.route("/engagements/<int:engagement_id>/gpu/usage/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_usage(engagement_id: int):
    engagement = _gpu_engagement(engagement_id)
    state = operations.allocation_state(engagement)
    if state.allocation is None:
        flash(_("No GPU hours were granted to this engagement yet."), "error")
        return redirect(url_for("infrastructure.allocation", engagement_id=engagement.id))
    form = UsageForm(allocation=state.allocation)
    if not form.is_submitted():
        form.used_on.data = today_kst()
    if form.validate_on_submit():
        try:
            operations.record_usage(engagement, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The GPU usage was recorded."), "success")
            return _engagement_page(engagement)
    return render_form("infrastructure/usage_form.html", form=form, engagement=engagement, state=state)


@bp.route("/gpu-usages/<int:usage_id>/delete", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def delete_usage(usage_id: int):
    usage = db.session.get(GpuUsage, usage_id)
    if usage is None:
        abort(404)
    engagement = _gpu_engagement(usage.allocation.engagement_id)
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        try:
            operations.delete_usage(usage, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The GPU usage entry was deleted."), "success")
            return _engagement_page(engagement)
    return render_form("infrastructure/usage_delete.html", form=form, usage=usage, engagement=engagement)


@bp.get("/programmes/<int:programme_id>/gpu")
@allow(*STAFF_ROLES)
def programme_quota(programme_id: int):
    programme = db.session.scalar(
        sa.select(Programme).where(
            Programme.id == programme_id,
            Programme.track == Track.infrastructure,
            Programme.visible_to(current_user),
        )
    )
    if programme is None:
        abort(404)
    page = paginate(
        sa.select(Engagement)
        .join(Firm, Engagement.firm_id == Firm.id)
        .outerjoin(GpuAllocation, GpuAllocation.engagement_id == Engagement.id)
        .where(Engagement.programme_id == programme.id)
        .order_by(GpuAllocation.id.is_(None), Firm.name, Engagement.id)
    )
    allocations = {
        a.engagement_id: a
        for a in db.session.scalars(
            sa.select(GpuAllocation).where(GpuAllocation.engagement_id.in_([e.id for e in page.items]))
        )
    }
    rows = [(e, allocations.get(e.id)) for e in page.items]
    used = operations.usage_by_allocation([a.id for a in allocations.values()])
    return render_template(
        "infrastructure/programme_quota.html",
        programme=programme,
        page=page,
        rows=rows,
        used=used,
        quota=operations.gpu_quota(programme),
        # Readers who do not run the programme (another institution's coordinators) do not see its
        # engagements, so the rows carry no links for them.
        may_run=may_run(programme, current_user),
    )


# --- for the lead's pages -------------------------------------------------------------------------------


@bp.app_template_global("gpu_link_visible")
def gpu_link_visible(programme: Programme) -> bool:
    return programme.track is Track.infrastructure and may_read(programme, current_user)


@bp.app_template_global("gpu_engagement_panel")
def gpu_engagement_panel(engagement: Engagement) -> dict[str, Any] | None:
    """What the GPU panels show; None when the engagement is not an infrastructure one or the signed-in user
    is neither staff who see it nor its own firm."""
    if engagement.programme.track is not Track.infrastructure:
        return None
    if not (is_firm_of(engagement, current_user) or may_see(engagement, current_user)):
        return None
    state = operations.allocation_state(engagement)
    return {
        "state": state,
        "usages": list(reversed(state.allocation.usages)) if state.allocation is not None else [],
        "may_grant": operations.may_grant(engagement),
    }
