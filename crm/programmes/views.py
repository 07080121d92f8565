from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.auth.models import Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import kst_to_utc, to_kst
from crm.engagements.pipeline import pipeline_board
from crm.evaluations.operations import may_see_ranking
from crm.extensions import db
from crm.organisation.models import Consortium, Institution
from crm.programmes import operations
from crm.programmes.forms import CallForm, ProgrammeForm, ProgrammeYearForm
from crm.programmes.models import (
    Call,
    CountingPoint,
    Programme,
    ProgrammeYear,
    ReviewStage,
    TargetUnit,
    Track,
)

bp = Blueprint("programmes", __name__)

# Coordinators and national viewers read; only admins and the consortium's managers change anything.
READERS = (Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer)
EDITORS = (Role.admin, Role.consortium_manager)
# The pipeline board is case work: staff only (national viewers get aggregates elsewhere).
CASE_WORKERS = (Role.admin, Role.consortium_manager, Role.coordinator)


def _visible_year(year_id: int, manage: bool = False) -> ProgrammeYear:
    year = db.session.scalar(
        sa.select(ProgrammeYear).where(ProgrammeYear.id == year_id, ProgrammeYear.visible_to(current_user))
    )
    if year is None:
        abort(404)
    if manage and not year.can_manage(current_user):
        abort(403)
    return year


def _visible_programme(programme_id: int, manage: bool = False) -> Programme:
    programme = db.session.scalar(
        sa.select(Programme).where(Programme.id == programme_id, Programme.visible_to(current_user))
    )
    if programme is None:
        abort(404)
    if manage and not programme.can_manage(current_user):
        abort(403)
    return programme


def visible_call(call_id: int, manage: bool = False) -> Call:
    """The call if the signed-in staff member sees it, else 404; 403 when `manage` is asked and refused."""
    call = db.session.scalar(sa.select(Call).where(Call.id == call_id, Call.visible_to(current_user)))
    if call is None:
        abort(404)
    if manage and not call.programme.can_manage(current_user):
        abort(403)
    return call


# --- Programme years ---------------------------------------------------------------------------------------


@bp.get("/programmes")
@allow(*READERS)
def index():
    sees_all = current_user.role in (Role.admin, Role.national_viewer)
    statement = (
        sa.select(ProgrammeYear)
        .join(Consortium, ProgrammeYear.consortium_id == Consortium.id)
        .where(ProgrammeYear.visible_to(current_user))
        .options(selectinload(ProgrammeYear.programmes).selectinload(Programme.institution))
        .order_by(Consortium.name, ProgrammeYear.ordinal)
    )
    consortium_id = request.args.get("consortium", type=int)
    if consortium_id and sees_all:
        statement = statement.where(ProgrammeYear.consortium_id == consortium_id)
    ordinal = request.args.get("year", type=int)
    if ordinal:
        statement = statement.where(ProgrammeYear.ordinal == ordinal)
    ordinals = db.session.scalars(
        sa.select(ProgrammeYear.ordinal)
        .where(ProgrammeYear.visible_to(current_user))
        .distinct()
        .order_by(ProgrammeYear.ordinal)
    ).all()
    consortia = (
        db.session.execute(sa.select(Consortium.id, Consortium.name).order_by(Consortium.name)).all()
        if sees_all
        else []
    )
    return render_template(
        "programmes/index.html",
        page=paginate(statement),
        consortia=consortia,
        ordinals=ordinals,
        consortium_id=consortium_id if sees_all else None,
        ordinal=ordinal,
        may_create=current_user.role in EDITORS,
    )


def _year_data(form: ProgrammeYearForm) -> operations.ProgrammeYearData:
    return operations.ProgrammeYearData(
        ordinal=form.ordinal.data,
        starts_on=form.starts_on.data,
        ends_on=form.ends_on.data,
        budget_gov_krw=form.budget_gov_krw.data or 0,
        budget_local_krw=form.budget_local_krw.data or 0,
        budget_self_krw=form.budget_self_krw.data or 0,
    )


@bp.route("/programmes/years/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new_year():
    form = ProgrammeYearForm(consortium_id=request.args.get("consortium", type=int))
    consortium = operations.managed_consortium(current_user)
    if current_user.role is Role.admin:
        form.consortium_id.choices = [
            (c.id, c.name) for c in db.session.scalars(sa.select(Consortium).order_by(Consortium.name))
        ]
    else:
        if consortium is None:
            abort(403)
        del form.consortium_id
    if form.validate_on_submit():
        if current_user.role is Role.admin:
            consortium = db.session.get(Consortium, form.consortium_id.data)
        try:
            year = operations.create_programme_year(consortium, _year_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The programme year was created."), "success")
            return redirect(url_for("programmes.index", consortium=year.consortium_id))
    return render_form("programmes/year_form.html", form=form, year=None, consortium=consortium)


@bp.route("/programmes/years/<int:year_id>/edit", methods=["GET", "POST"])
@allow(*EDITORS)
def edit_year(year_id: int):
    year = _visible_year(year_id, manage=True)
    form = ProgrammeYearForm(obj=year)
    del form.consortium_id
    if form.validate_on_submit():
        try:
            operations.update_programme_year(year, _year_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("programmes.index", consortium=year.consortium_id))
    return render_form("programmes/year_form.html", form=form, year=year, consortium=year.consortium)


# --- Programmes --------------------------------------------------------------------------------------------


def _programme_form(year: ProgrammeYear, **kwargs: Any) -> ProgrammeForm:
    institutions = db.session.scalars(
        sa.select(Institution).where(Institution.consortium_id == year.consortium_id).order_by(Institution.id)
    )
    return ProgrammeForm(institutions=[(i.id, i.name) for i in institutions], **kwargs)


def _programme_data(form: ProgrammeForm) -> operations.ProgrammeData:
    return operations.ProgrammeData(
        name=form.name.data or "",
        institution_id=form.institution_id.data,
        track=Track(form.track.data),
        target=form.target.data,
        unit=TargetUnit(form.unit.data) if form.unit.data else None,
        counting_point=CountingPoint(form.counting_point.data) if form.counting_point.data else None,
        budget_gov_krw=form.budget_gov_krw.data or 0,
        budget_local_krw=form.budget_local_krw.data or 0,
        budget_self_krw=form.budget_self_krw.data or 0,
        per_firm_cap_krw=form.per_firm_cap_krw.data,
        exclusivity_years=form.exclusivity_years.data or 0,
        requires_sme_certificate=bool(form.requires_sme_certificate.data),
        excluded_ksic_prefixes=form.excluded_ksic_prefixes.data or [],
        review_stages=form.review_stages.data or [],
        milestone_templates=form.milestone_templates.data or [],
        # Left empty: the track's defaults (the operation fills them in).
        sla_days=form.sla_days.data or None,
        survey_rounds=form.survey_rounds.data,
        survey_indicators=form.survey_indicators.data or None,
        reminders_on_business_days=bool(form.reminders_on_business_days.data),
    )


@bp.route("/programmes/years/<int:year_id>/programmes/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new_programme(year_id: int):
    year = _visible_year(year_id, manage=True)
    form = _programme_form(year)
    if form.validate_on_submit():
        try:
            programme = operations.create_programme(year, _programme_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Programme %(name)s was created.", name=programme.name), "success")
            return redirect(url_for("programmes.programme", programme_id=programme.id))
    return render_form(
        "programmes/programme_form.html",
        form=form,
        year=year,
        programme=None,
        remaining=operations.remaining_budget(year),
    )


@bp.get("/programmes/<int:programme_id>")
@allow(*READERS)
def programme(programme_id: int):
    programme = _visible_programme(programme_id)
    calls = paginate(
        sa.select(Call).where(Call.programme_id == programme.id).order_by(Call.opens_at.desc(), Call.id)
    )
    return render_template(
        "programmes/programme.html",
        programme=programme,
        year=programme.programme_year,
        calls=calls,
        can_manage=programme.can_manage(current_user),
        stages=[stage for stage in ReviewStage if programme.uses_stage(stage)],
        anchor_titles=operations.ANCHOR_TITLES,
        owner_titles=operations.OWNER_TITLES,
        sla_rows=operations.sla_rows(programme),
    )


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@allow(*EDITORS)
def edit_programme(programme_id: int):
    programme = _visible_programme(programme_id, manage=True)
    form = _programme_form(programme.programme_year, obj=programme)
    if form.validate_on_submit():
        try:
            operations.update_programme(programme, _programme_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("programmes.programme", programme_id=programme.id))
    return render_form(
        "programmes/programme_form.html",
        form=form,
        year=programme.programme_year,
        programme=programme,
        remaining=operations.remaining_budget(programme.programme_year, excluding=programme),
    )


@bp.get("/programmes/<int:programme_id>/pipeline")
@allow(*CASE_WORKERS)
def pipeline(programme_id: int):
    programme = _visible_programme(programme_id)
    stuck_only = request.args.get("stuck") == "1"
    return render_template(
        "engagements/pipeline.html",
        programme=programme,
        year=programme.programme_year,
        board=pipeline_board(programme, current_user, stuck_only=stuck_only),
    )


# --- Calls -------------------------------------------------------------------------------------------------


def _call_data(form: CallForm) -> operations.CallData:
    # The form holds Korean wall-clock times; the database holds UTC.
    return operations.CallData(
        title=form.title.data or "",
        cohort=form.cohort.data or "",
        opens_at=kst_to_utc(form.opens_at.data) if form.opens_at.data else None,
        closes_at=kst_to_utc(form.closes_at.data) if form.closes_at.data else None,
        capacity=form.capacity.data,
        eligibility_text=form.eligibility_text.data or "",
        required_documents=form.required_documents.data or [],
        questions=form.questions.data or [],
        criteria=form.criteria.data or [],
    )


def _call_form_values(call: Call) -> dict[str, Any]:
    return {
        "title": call.title,
        "cohort": call.cohort,
        "opens_at": to_kst(call.opens_at).replace(tzinfo=None),
        "closes_at": to_kst(call.closes_at).replace(tzinfo=None),
        "capacity": call.capacity,
        "eligibility_text": call.eligibility_text,
        "required_documents": call.required_documents,
        "questions": call.questions,
        "criteria": call.criteria,
    }


@bp.route("/programmes/<int:programme_id>/calls/new", methods=["GET", "POST"])
@allow(*EDITORS)
def new_call(programme_id: int):
    programme = _visible_programme(programme_id, manage=True)
    form = CallForm()
    if form.validate_on_submit():
        try:
            call = operations.create_call(programme, _call_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The call was created."), "success")
            return redirect(url_for("programmes.call", call_id=call.id))
    return render_form("programmes/call_form.html", form=form, programme=programme, call=None)


@bp.get("/calls/<int:call_id>")
@allow(*READERS)
def call(call_id: int):
    call = visible_call(call_id)
    return render_template(
        "programmes/call.html",
        call=call,
        programme=call.programme,
        status=call.status(),
        can_manage=call.programme.can_manage(current_user),
        may_rank=may_see_ranking(call, current_user),
    )


@bp.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
@allow(*EDITORS)
def edit_call(call_id: int):
    call = visible_call(call_id, manage=True)
    form = CallForm(data=_call_form_values(call))
    if form.validate_on_submit():
        try:
            operations.update_call(call, _call_data(form), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return redirect(url_for("programmes.call", call_id=call.id))
    return render_form("programmes/call_form.html", form=form, programme=call.programme, call=call)
