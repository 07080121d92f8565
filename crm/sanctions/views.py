"""Imposing, changing and lifting sanctions; the firm page shows them (coordinators read only)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth.models import Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.time import today_kst
from crm.extensions import db
from crm.firms.models import Firm
from crm.sanctions import operations
from crm.sanctions.forms import LiftForm, SanctionEditForm, SanctionForm
from crm.sanctions.models import Sanction

bp = Blueprint("sanctions", __name__)

EDITORS = (Role.admin, Role.consortium_manager)


def _visible_firm(firm_id: int) -> Firm:
    firm = db.session.scalar(sa.select(Firm).where(Firm.id == firm_id, Firm.visible_to(current_user)))
    if firm is None:
        abort(404)
    return firm


def _managed_sanction(sanction_id: int) -> Sanction:
    """404 unless the user sees the sanction's firm; 403 when it sees it but another consortium answers
    for the sanction."""
    sanction = db.session.scalar(
        sa.select(Sanction)
        .join(Firm, Sanction.firm_id == Firm.id)
        .where(Sanction.id == sanction_id, Firm.visible_to(current_user))
    )
    if sanction is None:
        abort(404)
    if not operations.may_change(sanction, current_user):
        abort(403)
    return sanction


def _firm_page(firm_id: int):
    return redirect(url_for("firms.detail", firm_id=firm_id, _anchor="sanctions"))


@bp.route("/firms/<int:firm_id>/sanctions/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new(firm_id: int):
    firm = _visible_firm(firm_id)
    form = SanctionForm()
    if not form.is_submitted():
        form.starts_on.data = today_kst()
    if form.validate_on_submit():
        try:
            sanction = operations.impose_sanction(firm, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(
                _("The %(kind)s was recorded for %(firm)s.", kind=sanction.kind.title, firm=firm.name),
                "success",
            )
            return _firm_page(firm.id)
    return render_form("sanctions/form.html", form=form, firm=firm, sanction=None)


@bp.route("/sanctions/<int:sanction_id>/edit", methods=["GET", "POST"])
@allow(*EDITORS)
def edit(sanction_id: int):
    sanction = _managed_sanction(sanction_id)
    form = SanctionEditForm(obj=sanction, sanction=sanction)
    if form.validate_on_submit():
        try:
            operations.update_sanction(sanction, form.to_update(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The sanction was saved."), "success")
            return _firm_page(sanction.firm_id)
    return render_form("sanctions/form.html", form=form, firm=sanction.firm, sanction=sanction)


@bp.route("/sanctions/<int:sanction_id>/lift", methods=["GET", "POST"])
@allow(*EDITORS)
def lift(sanction_id: int):
    sanction = _managed_sanction(sanction_id)
    form = LiftForm()
    if form.validate_on_submit():
        try:
            operations.lift_sanction(sanction, form.reason.data or "", current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The sanction was lifted."), "success")
            return _firm_page(sanction.firm_id)
    return render_form("sanctions/lift.html", form=form, firm=sanction.firm, sanction=sanction)


@bp.app_template_global("sanction_card")
def sanction_card(firm: Firm) -> dict[str, Any]:
    """What the firm page's sanctions section shows: each sanction with whether it applies today and
    whether the user may change it, and whether the user may add one."""
    today = today_kst()
    return {
        "rows": [
            {
                "sanction": sanction,
                "in_force": operations.in_force_on(sanction, today),
                "may_change": operations.may_change(sanction, current_user),
            }
            for sanction in operations.sanctions_of(firm)
        ],
        "may_add": operations.may_impose(firm, current_user),
    }
