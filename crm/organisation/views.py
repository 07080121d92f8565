from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.auth.models import Role, User
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.extensions import db
from crm.firms.regions import SIDO
from crm.organisation import operations
from crm.organisation.forms import ConsortiumForm, InstitutionForm
from crm.organisation.models import Consortium, Institution, InstitutionRole
from crm.programmes.models import ProgrammeYear

bp = Blueprint("organisation", __name__)

MANAGERS = (Role.admin, Role.consortium_manager)


def _visible_consortium(consortium_id: int) -> Consortium:
    consortium = db.session.scalar(
        sa.select(Consortium).where(Consortium.id == consortium_id, Consortium.visible_to(current_user))
    )
    if consortium is None:
        abort(404)
    return consortium


def _consortium_data(form: ConsortiumForm) -> operations.ConsortiumData:
    return operations.ConsortiumData(
        name=form.name.data or "", sido_code=form.sido_code.data or "", is_active=bool(form.is_active.data)
    )


def _institution_data(form: InstitutionForm) -> operations.InstitutionData:
    return operations.InstitutionData(name=form.name.data or "", role=InstitutionRole(form.role.data))


@bp.get("/admin/consortia")
@allow(*MANAGERS)
def consortia():
    page = paginate(
        sa.select(Consortium).where(Consortium.visible_to(current_user)).order_by(Consortium.name)
    )
    return render_template("organisation/consortia.html", page=page, sido_names=SIDO)


@bp.route("/admin/consortia/new", methods=["GET", "POST"])
@allow(Role.admin)
def new_consortium():
    form = ConsortiumForm()
    if form.validate_on_submit():
        try:
            consortium = operations.create_consortium(_consortium_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Consortium %(name)s was created.", name=consortium.name), "success")
            return redirect(url_for("organisation.consortium", consortium_id=consortium.id))
    return render_form("organisation/consortium_form.html", form=form, consortium=None)


@bp.get("/admin/consortia/<int:consortium_id>")
@allow(*MANAGERS)
def consortium(consortium_id: int):
    consortium = _visible_consortium(consortium_id)
    institutions = paginate(
        sa.select(Institution).where(Institution.consortium_id == consortium.id).order_by(Institution.id)
    )
    years = db.session.scalars(
        sa.select(ProgrammeYear)
        .where(ProgrammeYear.consortium_id == consortium.id)
        .order_by(ProgrammeYear.ordinal)
    ).all()
    managers = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.consortium_manager, User.consortium_id == consortium.id)
    )
    coordinators = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .join(Institution, User.institution_id == Institution.id)
        .where(User.role == Role.coordinator, Institution.consortium_id == consortium.id)
    )
    return render_template(
        "organisation/consortium.html",
        consortium=consortium,
        institutions=institutions,
        years=years,
        managers=managers,
        coordinators=coordinators,
        sido_names=SIDO,
        can_manage=consortium.can_manage(current_user),
    )


@bp.route("/admin/consortia/<int:consortium_id>/edit", methods=["GET", "POST"])
@allow(Role.admin)
def edit_consortium(consortium_id: int):
    consortium = _visible_consortium(consortium_id)
    form = ConsortiumForm(obj=consortium)
    if form.validate_on_submit():
        try:
            operations.update_consortium(consortium, _consortium_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("organisation.consortium", consortium_id=consortium.id))
    return render_form("organisation/consortium_form.html", form=form, consortium=consortium)


@bp.route("/admin/consortia/<int:consortium_id>/institutions/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def new_institution(consortium_id: int):
    consortium = _visible_consortium(consortium_id)
    if not consortium.can_manage(current_user):
        abort(403)
    form = InstitutionForm()
    if form.validate_on_submit():
        try:
            institution = operations.add_institution(consortium, _institution_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Institution %(name)s was added.", name=institution.name), "success")
            return redirect(url_for("organisation.consortium", consortium_id=consortium.id))
    return render_form(
        "organisation/institution_form.html", form=form, consortium=consortium, institution=None
    )


@bp.route(
    "/admin/consortia/<int:consortium_id>/institutions/<int:institution_id>/edit", methods=["GET", "POST"]
)
@allow(*MANAGERS)
def edit_institution(consortium_id: int, institution_id: int):
    consortium = _visible_consortium(consortium_id)
    institution = db.session.scalar(
        sa.select(Institution).where(
            Institution.id == institution_id, Institution.consortium_id == consortium.id
        )
    )
    if institution is None:
        abort(404)
    if not consortium.can_manage(current_user):
        abort(403)
    form = InstitutionForm(obj=institution)
    if form.validate_on_submit():
        try:
            operations.update_institution(institution, _institution_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("organisation.consortium", consortium_id=consortium.id))
    return render_form(
        "organisation/institution_form.html", form=form, consortium=consortium, institution=institution
    )
