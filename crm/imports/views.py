"""Import pages: upload, column mapping, the dry-run lists, apply with a progress bar, revert."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from crm.auth.models import Role
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.exports.csvexport import column, csv_response, wants_csv
from crm.extensions import db
from crm.firms.identifiers import format_brn
from crm.imports import operations
from crm.imports.forms import ActionForm, MappingForm, RevertForm, UploadForm
from crm.imports.mapping import FIELDS
from crm.imports.models import RUNNING, ImportJob, ImportRow, ImportStatus, RowAction

bp = Blueprint("imports", __name__)

IMPORTERS = (Role.admin, Role.consortium_manager, Role.coordinator)


def _visible_job(job_id: int) -> ImportJob:
    job = db.session.scalar(
        sa.select(ImportJob).where(ImportJob.id == job_id, ImportJob.visible_to(current_user))
    )
    if job is None:
        abort(404)
    return job


def _job_page(job: ImportJob):
    return redirect(url_for("imports.detail", job_id=job.id))


@bp.get("/imports")
@allow(*IMPORTERS)
def index():
    statement = sa.select(ImportJob).where(ImportJob.visible_to(current_user)).order_by(ImportJob.id.desc())
    if wants_csv():
        return csv_response("imports", statement, JOB_COLUMNS, title=_l("Imports"))
    page = paginate(statement)
    return render_template(
        "imports/index.html", page=page, form=UploadForm(), may_import=operations.may_import(current_user)
    )


@bp.route("/imports/new", methods=["GET", "POST"])
@allow(*IMPORTERS)
def new():
    form = UploadForm()
    if form.validate_on_submit():
        try:
            job = operations.upload_import(form.file.data, current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(
                _("The file was read: %(rows)s rows. Check the columns.", rows=f"{job.row_count:,}"),
                "success",
            )
            return redirect(url_for("imports.mapping", job_id=job.id))
    return render_form("imports/new.html", form=form, may_import=operations.may_import(current_user))


@bp.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
@allow(*IMPORTERS)
def mapping(job_id: int):
    job = _visible_job(job_id)
    form = MappingForm.for_job(job)
    if form.validate_on_submit():
        try:
            operations.preview(job, form.to_mapping(), current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Dry run done: nothing was written yet. Check the lists, then apply."), "success")
            return _job_page(job)
    return render_form("imports/mapping.html", form=form, job=job)


def _action_filter() -> RowAction | None:
    return RowAction.__members__.get(request.args.get("action", ""))


def _render_detail(job: ImportJob, status: int = 200):
    action = _action_filter()
    page = paginate(operations.rows_of(job, action)) if job.status is not ImportStatus.uploaded else None
    return render_template(
        "imports/detail.html",
        job=job,
        page=page,
        action=action,
        actions=list(RowAction),
        labels=operations.field_labels(),
        describe_changes=operations.describe_changes,
        mapped=[(field, job.headers[job.mapping[field.key]]) for field in FIELDS if field.key in job.mapping],
        running=job.status in RUNNING,
        may_run_here=operations.may_run_here(job),
        form=ActionForm(),
        statuses=ImportStatus,
    ), status


@bp.get("/imports/<int:job_id>")
@allow(*IMPORTERS)
def detail(job_id: int):
    job = _visible_job(job_id)
    if wants_csv():
        statement = operations.rows_of(job, _action_filter())
        return csv_response(f"import-{job.id}", statement, ROW_COLUMNS, title=_l("Import rows"))
    return _render_detail(job)


@bp.post("/imports/<int:job_id>/apply")
@allow(*IMPORTERS)
def apply(job_id: int):
    job = _visible_job(job_id)
    form = ActionForm()
    if form.validate_on_submit():
        try:
            operations.request_apply(job, current_user)
        except OperationError as error:
            show_operation_error(None, error)
            return _render_detail(job, 422)
        db.session.commit()
        flash(_("The import is queued; this page shows its progress."), "success")
    return _job_page(job)


@bp.post("/imports/<int:job_id>/run")
@allow(*IMPORTERS)
def run(job_id: int):
    """The fallback when no worker takes the job (the broker is down): apply it in this request."""
    job = _visible_job(job_id)
    form = ActionForm()
    if form.validate_on_submit():
        if not operations.may_run_here(job):
            flash(_("This import is not waiting to run."), "warning")
            return _job_page(job)
        outcome = operations.run_import(job.id)
        if outcome == "applied":
            flash(_("The import was applied."), "success")
        elif outcome == "failed":
            flash(_("The import stopped with an error; the rows applied so far are kept."), "error")
        else:
            flash(_("The import is already running elsewhere."), "warning")
    return _job_page(job)


@bp.route("/imports/<int:job_id>/revert", methods=["GET", "POST"])
@allow(*IMPORTERS)
def revert(job_id: int):
    job = _visible_job(job_id)
    form = RevertForm()
    if form.validate_on_submit():
        try:
            operations.revert_import(job, current_user, bool(form.confirm.data))
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            if job.revert_report:
                flash(_("The import was reverted; some rows were kept (see below)."), "warning")
            else:
                flash(_("The import was reverted."), "success")
            return _job_page(job)
    return render_form("imports/revert.html", form=form, job=job)


def _changes_text(row: ImportRow) -> str:
    return "; ".join(f"{label}: {new}" for label, _old, new in operations.describe_changes(row.changes))


def _reasons_text(row: ImportRow) -> str:
    labels = operations.field_labels()
    reasons = [f"{labels[key]}: {message}" if key in labels else message for key, message in row.reasons]
    return "; ".join(reasons + list(row.notes or []))


# The dry-run list as CSV leaves the contact cells out: no personal data in it, nothing to mask.
ROW_COLUMNS = [
    column(_l("Row"), "row_number"),
    column(_l("Action"), "action"),
    column(
        _l("Business registration number"),
        lambda row: format_brn(row.brn) if row.brn else row.raw.get("brn", ""),
    ),
    column(_l("Firm"), "name"),
    column(_l("Changes"), _changes_text),
    column(
        _l("Contact"),
        lambda row: {"create": _("New"), "update": _("Update")}.get(row.contact_action or "", ""),
    ),
    column(_l("Reasons and notes"), _reasons_text),
]
JOB_COLUMNS = [
    column(_l("Import"), "id"),
    column(_l("File"), "filename"),
    column(_l("Status"), "status"),
    column(_l("Rows"), "row_count"),
    column(_l("New firms"), "count_create"),
    column(_l("Updates"), "count_update"),
    column(_l("No change"), "count_skipped"),
    column(_l("Invalid"), "count_invalid"),
    column(_l("Uploaded by"), lambda job: job.created_by.name if job.created_by else ""),
    column(_l("Uploaded at"), "created_at"),
]


@bp.get("/imports/template.csv")
@allow(*IMPORTERS)
def template_csv():
    headers = ["사업자등록번호", "기업명", "법인등록번호", "대표자", "설립일", "주소", "시도", "시군구"]
    headers += ["업종코드", "종업원수", "담당자명", "직위", "전화", "이메일"]
    out = io.StringIO()
    csv.writer(out).writerow(headers)
    # A BOM, so Excel opens the Korean header as UTF-8.
    response = Response("\ufeff" + out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="firms-import-template.csv"'
    return response
