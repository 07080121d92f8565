"""Uploading and downloading application documents. Downloads go only through here, after a visibility
check: the files are outside `static/` and their names are not guessable."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, send_file
from flask_babel import gettext as _
from flask_login import current_user

from crm.applications.models import Application
from crm.auth.limits import configured, user_key
from crm.auth.models import Role
from crm.core.access import allow, signed_in
from crm.core.exceptions import OperationError
from crm.core.forms import show_operation_error
from crm.core.urls import safe_next
from crm.documents import operations, storage
from crm.documents.forms import UploadForm
from crm.documents.models import Document
from crm.extensions import db, limiter

bp = Blueprint("documents", __name__)

UPLOADERS = (Role.firm_user, Role.admin, Role.consortium_manager, Role.coordinator)


def _visible_application(application_id: int) -> Application:
    application = db.session.scalar(
        sa.select(Application).where(Application.id == application_id, Application.visible_to(current_user))
    )
    if application is None:
        abort(404)
    return application


def application_url(application_id: int) -> str:
    """Where the application's documents are shown: the portal page for firm users, the staff page else."""
    if current_user.role is Role.firm_user:
        return f"/portal/applications/{application_id}"
    return f"/applications/{application_id}"


@bp.post("/applications/<int:application_id>/documents")
@allow(*UPLOADERS)
@limiter.limit(configured("UPLOAD_RATE_LIMIT"), key_func=user_key, methods=["POST"])
def upload(application_id: int):
    application = _visible_application(application_id)
    form = UploadForm(choices=operations.kind_choices(application))
    back = safe_next(form.next.data, application_url(application.id))
    status = 422
    if form.validate_on_submit():
        try:
            document = operations.upload_application_document(
                application, form.kind.data or "", form.file.data, current_user
            )
        except OperationError as error:
            show_operation_error(form, error)
            status = error.status
        else:
            db.session.commit()
            if document.version > 1:
                message = _(
                    "%(name)s was uploaded as version %(version)s; the earlier version is kept.",
                    name=document.filename,
                    version=document.version,
                )
            else:
                message = _("%(name)s was uploaded.", name=document.filename)
            flash(message, "success")
            return redirect(back)
    db.session.rollback()
    return render_template(
        "documents/upload_failed.html",
        application=application,
        form=form,
        back=back,
        can_upload=operations.may_upload(application, current_user),
    ), status


@bp.app_template_global("document_groups")
def document_groups(application: Application) -> list[dict]:
    return operations.document_groups(application)


@bp.app_template_global("document_kind_choices")
def document_kind_choices(application: Application) -> list[tuple[str, str]]:
    return operations.kind_choices(application)


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


@bp.get("/documents/<int:document_id>")
@signed_in
def download(document_id: int):
    document = operations.visible_document(document_id, current_user)
    if document is None:
        abort(404)
    return send_document(document)


def send_document(document: Document):
    """The stored file as an attachment (404 when the bytes are missing); the API answers with it too."""
    try:
        path = storage.path_of(document.stored_name)
        if not path.is_file():
            raise FileNotFoundError(path)
    except FileNotFoundError:
        current_app.logger.error("document %s: stored file %s is missing", document.id, document.stored_name)
        abort(404)
    response = send_file(
        path,
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.filename,
        conditional=False,
        etag=False,
    )
    # Never rendered inline or kept by shared caches: the content is the applicant's, not ours.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
