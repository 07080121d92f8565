"""Pages of the training feature: a programme's sessions and quota, a session with its registrations and
attendance, and the forms that change them. Staff who run the programme change; other staff who see it
read (without the people's contact details)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload

from crm.auth.models import STAFF_ROLES
from crm.core.access import allow
from crm.core.exceptions import Conflict, OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.exports.csvexport import EMAIL, NAME, PHONE, column, csv_response, personal, wants_csv
from crm.extensions import db
from crm.programmes.models import Programme, Track
from crm.training import operations
from crm.training.forms import AttendanceForm, ConfirmDeleteForm, RegistrationForm, SessionForm
from crm.training.models import TrainingRegistration, TrainingSession

bp = Blueprint("training", __name__)


# --- loading: 404 for what the user may not see, 403 for what it may only read ---------------------------


def _training_programme(programme_id: int, run: bool = False) -> Programme:
    programme = db.session.scalar(
        sa.select(Programme).where(
            Programme.id == programme_id,
            Programme.track == Track.training,
            Programme.visible_to(current_user),
        )
    )
    if programme is None:
        abort(404)
    if run and not operations.may_run(programme, current_user):
        abort(403)
    return programme


def _visible_session(session_id: int, run: bool = False) -> TrainingSession:
    session = db.session.scalar(
        sa.select(TrainingSession)
        .join(Programme, TrainingSession.programme_id == Programme.id)
        .where(
            TrainingSession.id == session_id,
            Programme.track == Track.training,
            Programme.visible_to(current_user),
        )
    )
    if session is None:
        abort(404)
    if run and not operations.may_run(session.programme, current_user):
        abort(403)
    return session


def _visible_registration(registration_id: int) -> TrainingRegistration:
    registration = db.session.get(TrainingRegistration, registration_id)
    if registration is None:
        abort(404)
    _visible_session(registration.session_id, run=True)
    return registration


def _session_page(session: TrainingSession, anchor: str | None = None):
    return redirect(url_for("training.session", session_id=session.id, _anchor=anchor))


# --- a programme's sessions and quota -------------------------------------------------------------------


@bp.get("/programmes/<int:programme_id>/training")
@allow(*STAFF_ROLES)
def programme_sessions(programme_id: int):
    programme = _training_programme(programme_id)
    page = paginate(
        sa.select(TrainingSession)
        .where(TrainingSession.programme_id == programme.id)
        .order_by(TrainingSession.held_on.desc(), TrainingSession.starts_at.desc(), TrainingSession.id.desc())
    )
    return render_template(
        "training/sessions.html",
        programme=programme,
        page=page,
        counts=operations.session_counts([s.id for s in page.items]),
        quota=operations.training_quota(programme),
        attendance=operations.attendance_summary(programme),
        may_run=operations.may_run(programme, current_user),
    )


@bp.route("/programmes/<int:programme_id>/training/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_session(programme_id: int):
    programme = _training_programme(programme_id, run=True)
    form = SessionForm(programme=programme)
    if form.validate_on_submit():
        try:
            session = operations.create_session(programme, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The session %(course)s was added.", course=session.course), "success")
            return _session_page(session)
    return render_form("training/session_form.html", form=form, programme=programme, session=None)


# --- one session ----------------------------------------------------------------------------------------


def _render_session(session: TrainingSession, status: int = 200):
    may_run = operations.may_run(session.programme, current_user)
    registrations = operations.registrations_for_page(session, current_user)
    db.session.commit()  # the access-log row of the people just shown
    registered = len(registrations)
    return (
        render_template(
            "training/session.html",
            session=session,
            programme=session.programme,
            registrations=registrations,
            registered=registered,
            attended=sum(1 for r in registrations if r.attended),
            seats_left=max(session.capacity - registered, 0),
            may_run=may_run,
            may_take_attendance=operations.may_take_attendance(session),
            today=today_kst(),
            mask_name=operations.mask_name,
        ),
        status,
    )


def _attended(registration: TrainingRegistration) -> str:
    if registration.attended is None:
        return _("Not taken")
    return _("Attended") if registration.attended else _("Absent")


REGISTRATION_CSV_COLUMNS = [
    personal(_l("Name"), "name", NAME),
    personal(_l("E-mail"), "email", EMAIL),
    personal(_l("Phone"), "phone", PHONE),
    column(_l("Firm"), lambda r: r.firm.name if r.firm else None),
    column(_l("Business registration number"), lambda r: r.firm.brn_display if r.firm else None),
    column(_l("Engagement"), "engagement_id"),
    column(_l("Attended"), _attended),
    column(_l("Registered at"), "created_at"),
]


@bp.route("/training/<int:session_id>", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def session(session_id: int):
    session = _visible_session(session_id)
    if wants_csv():
        # Only staff who run the programme see the people on the page; readers get a masked file only.
        return csv_response(
            "training_registrations",
            sa.select(TrainingRegistration)
            .where(TrainingRegistration.session_id == session.id)
            .options(joinedload(TrainingRegistration.firm))
            .order_by(TrainingRegistration.id),
            REGISTRATION_CSV_COLUMNS,
            title=_l("Registrations"),
            may_unmask=operations.may_run(session.programme, current_user),
            subject=session,
            file_name=f"training-{session.id}-registrations",
        )
    return _render_session(session)


@bp.route("/training/<int:session_id>/edit", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def edit_session(session_id: int):
    session = _visible_session(session_id, run=True)
    form = SessionForm(obj=session, programme=session.programme, session=session)
    if form.validate_on_submit():
        try:
            operations.update_session(session, form.to_data(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your changes were saved."), "success")
            return _session_page(session)
    return render_form("training/session_form.html", form=form, programme=session.programme, session=session)


@bp.route("/training/<int:session_id>/delete", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def delete_session(session_id: int):
    session = _visible_session(session_id, run=True)
    programme = session.programme
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        course = session.course
        try:
            operations.delete_session(session, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The session %(course)s was deleted.", course=course), "success")
            return redirect(url_for("training.programme_sessions", programme_id=programme.id))
    return render_form(
        "training/session_delete.html",
        form=form,
        session=session,
        programme=programme,
        registered=operations.registered_count(session),
        attendance_taken=operations.attendance_taken(session),
    )


@bp.post("/training/<int:session_id>/attendance")
@allow(*STAFF_ROLES)
def attendance(session_id: int):
    session = _visible_session(session_id, run=True)
    form = AttendanceForm()
    if form.validate_on_submit():
        try:
            operations.mark_attendance(session, form.shown.data or [], form.attended.data or [], current_user)
        except OperationError as error:
            show_operation_error(None, error)
        else:
            db.session.commit()
            flash(_("Attendance was saved."), "success")
            return _session_page(session, "registrations")
    else:
        flash(_("The attendance could not be read; reload the page and try again."), "error")
    return _render_session(session, 422)


# --- registrations --------------------------------------------------------------------------------------


@bp.route("/training/<int:session_id>/registrations/new", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def new_registration(session_id: int):
    session = _visible_session(session_id, run=True)
    form = RegistrationForm(engagements=operations.engagement_choices(session.programme, current_user))
    existing: TrainingRegistration | None = None
    if form.validate_on_submit():
        try:
            registration = operations.register(session, form.to_data(), current_user)
        except Conflict as error:
            show_operation_error(form, error)
            existing = db.session.get(TrainingRegistration, error.existing_id)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("%(name)s was registered.", name=registration.name), "success")
            return _session_page(session, "registrations")
    return render_form(
        "training/registration_form.html",
        form=form,
        session=session,
        programme=session.programme,
        registered=operations.registered_count(session),
        existing=existing,
    )


@bp.route("/training-registrations/<int:registration_id>/delete", methods=["GET", "POST"])
@allow(*STAFF_ROLES)
def delete_registration(registration_id: int):
    registration = _visible_registration(registration_id)
    session = registration.session
    form = ConfirmDeleteForm()
    if form.validate_on_submit():
        name = registration.name
        try:
            operations.delete_registration(registration, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The registration of %(name)s was removed.", name=name), "success")
            return _session_page(session, "registrations")
    return render_form(
        "training/registration_delete.html",
        form=form,
        registration=registration,
        session=session,
        programme=session.programme,
    )


# --- for the lead's pages -------------------------------------------------------------------------------


@bp.app_template_global("training_link_visible")
def training_link_visible(programme: Programme) -> bool:
    return programme.track is Track.training and operations.may_read(programme, current_user)


@bp.app_template_global("training_engagement_panel")
def training_engagement_panel(engagement: Engagement) -> dict[str, Any] | None:
    """The registrations of the engagement's firm in the engagement's (training) programme; None when the
    engagement is not a training one or the user may not see it."""
    if engagement.programme.track is not Track.training:
        return None
    if not operations.may_read(engagement.programme, current_user):
        return None
    rows = list(
        db.session.scalars(
            sa.select(TrainingRegistration)
            .join(TrainingSession, TrainingRegistration.session_id == TrainingSession.id)
            .where(
                TrainingSession.programme_id == engagement.programme_id,
                sa.or_(
                    TrainingRegistration.engagement_id == engagement.id,
                    TrainingRegistration.firm_id == engagement.firm_id,
                ),
            )
            .order_by(TrainingSession.held_on.desc(), TrainingRegistration.id)
        )
    )
    return {
        "rows": rows,
        "attended": sum(1 for r in rows if r.attended),
        "people": len({r.email.lower() for r in rows if r.attended}),
        "programme": engagement.programme,
    }
