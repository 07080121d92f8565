"""Applications and their documents (API.md): list, start, read, edit answers, upload, move, download.

Every write calls crm.applications.operations / crm.documents.operations, and every read the models'
`visible_to`, exactly as the HTML views do; this module only translates between JSON and those calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import selectinload

from crm.api.core import (
    PAGING,
    ApiError,
    api_route,
    body,
    invalid,
    not_found,
    page_of,
    query_int,
    query_param,
)
from crm.api.schemas import MAX_ID, Strict, TransitionIn
from crm.applications import operations
from crm.applications.models import Application, ApplicationHistory, ApplicationStatus
from crm.applications.views import REASONS_THE_FIRM_READS
from crm.auth.models import Role, User
from crm.core.exceptions import ValidationFailed
from crm.documents import operations as document_operations
from crm.documents.models import Document
from crm.documents.views import send_document
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Call

TAG = "applications"
STAFF = (Role.admin, Role.consortium_manager, Role.coordinator)
# Evaluators read the applications assigned to them (Application.visible_to), as on the HTML detail page.
READERS = (*STAFF, Role.evaluator, Role.firm_user)
STARTERS = (Role.firm_user, Role.coordinator)
UPLOADERS = (Role.firm_user, Role.coordinator)
STATUSES = [status.value for status in ApplicationStatus]
# Larger ids cannot name a row (and would overflow the database integer): they are simply absent.


# --- Objects ----------------------------------------------------------------------------------------------


class DocumentOut(BaseModel):
    id: int
    kind: str
    filename: str
    size: int
    sha256: str
    uploaded_at: datetime


class HistoryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str | None = Field(alias="from", description="null for the row that created the application")
    to: str
    at: datetime
    by: int | None = Field(description="the user who made the move; null when a firm user reads staff moves")
    reason: str


class ApplicationOut(BaseModel):
    id: int
    call_id: int
    firm_id: int
    status: str = Field(description="one of: " + ", ".join(STATUSES))
    answers: dict[str, str]
    submitted_at: datetime | None
    decided_at: datetime | None
    documents: list[DocumentOut] = Field(description="the current version of each document")
    history: list[HistoryOut]


class ApplicationIn(Strict):
    call_id: int = Field(ge=1, le=MAX_ID)
    firm_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="required for coordinators; firm users: own"
    )
    answers: dict[str, str] = Field(default_factory=dict)


class AnswersIn(Strict):
    answers: dict[str, str]


class ApplicationTransitionIn(TransitionIn):
    supplement_due_on: date | None = Field(
        default=None, description="required when `to` is supplement_requested"
    )
    confirm_over_capacity: bool = Field(default=False, description="select beyond the call's capacity")
    override_reason: str = Field(
        default="", max_length=5000, description="a manager's reason to override the duplicate-support guard"
    )


UPLOAD_FORM = {
    "type": "object",
    "required": ["kind", "file"],
    "properties": {
        "kind": {"type": "string", "description": "a kind the call requires, or `other`"},
        "file": {"type": "string", "format": "binary"},
    },
}


def _id_param(name: str, description: str) -> dict[str, Any]:
    param = query_param(name, "integer", description)
    param["schema"].update(minimum=1, maximum=MAX_ID)
    return param


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def serialize_document(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "kind": document.kind,
        "filename": document.filename,
        "size": document.size,
        "sha256": document.sha256,
        "uploaded_at": _iso(document.uploaded_at),
    }


def _history_row(row: ApplicationHistory, reader: User) -> dict[str, Any]:
    """Firm users read the history as the portal shows it: only the reasons the firm is told, and no
    staff user ids."""
    by, reason = row.actor_id, row.reason or ""
    if reader.role is Role.firm_user:
        if row.to_status not in REASONS_THE_FIRM_READS:
            reason = ""
        if row.actor is None or row.actor.firm_id != reader.firm_id:
            by = None
    return {
        "from": row.from_status.value if row.from_status is not None else None,
        "to": row.to_status.value,
        "at": _iso(row.at),
        "by": by,
        "reason": reason,
    }


def serialize_application(application: Application) -> dict[str, Any]:
    return {
        "id": application.id,
        "call_id": application.call_id,
        "firm_id": application.firm_id,
        "status": application.status.value,
        "answers": {key: str(value) for key, value in (application.answers or {}).items()},
        "submitted_at": _iso(application.submitted_at),
        "decided_at": _iso(application.decided_at),
        "documents": [serialize_document(d) for d in application.current_documents],
        "history": [_history_row(row, current_user) for row in application.history],
    }


# --- Helpers ----------------------------------------------------------------------------------------------


def _visible_application(application_id: int) -> Application:
    if application_id > MAX_ID:
        raise not_found()
    application = db.session.scalar(
        sa.select(Application).where(Application.id == application_id, Application.visible_to(current_user))
    )
    if application is None:
        raise not_found()
    return application


def _api_fields(error: ValidationFailed) -> ValidationFailed:
    """The operations name answer fields after the HTML form (`answer_goal`); the API after the body
    (`answers.goal`), like pydantic's own messages."""
    error.fields = {
        (f"answers.{name.removeprefix('answer_')}" if name.startswith("answer_") else name): messages
        for name, messages in error.fields.items()
    }
    return error


def _answer(application: Application, status: int = 200):
    # The commit expired the object, so this reads back what was stored (new history and documents too).
    return jsonify(serialize_application(application)), status


# --- Endpoints --------------------------------------------------------------------------------------------


@api_route(
    "GET",
    "/applications",
    summary="Applications the caller may see (staff: visible; firm user: own; evaluator: assigned)",
    tag=TAG,
    roles=READERS,
    response=("list", ApplicationOut),
    errors=(403,),
    query=[
        _id_param("call_id", "only this call's applications"),
        query_param("status", "string", "only applications in this status", enum=STATUSES),
        _id_param("firm_id", "only this firm's applications"),
        *PAGING,
    ],
)
def list_applications():
    statement = (
        sa.select(Application)
        .where(Application.visible_to(current_user))
        .options(
            selectinload(Application.documents),
            selectinload(Application.history).selectinload(ApplicationHistory.actor),
        )
        .order_by(Application.created_at.desc(), Application.id.desc())
    )
    if (call_id := query_int("call_id", maximum=MAX_ID)) is not None:
        statement = statement.where(Application.call_id == call_id)
    if (firm_id := query_int("firm_id", maximum=MAX_ID)) is not None:
        statement = statement.where(Application.firm_id == firm_id)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise invalid("status", _("Choose one of: %(values)s.", values=", ".join(STATUSES)))
        statement = statement.where(Application.status == ApplicationStatus(status))
    return jsonify(page_of(statement, serialize_application))


@api_route(
    "POST",
    "/applications",
    summary="Start a draft application (firm user: own firm; coordinator: firm_id)",
    tag=TAG,
    roles=STARTERS,
    request_model=ApplicationIn,
    response=ApplicationOut,
    status=201,
    errors=(403, 409),
)
def create_application():
    data = body(ApplicationIn)
    if current_user.role is Role.firm_user:
        if current_user.firm_id is None:
            raise ApiError(
                403, "forbidden", _("Your account is not linked to a firm yet, so you cannot apply.")
            )
        if data.firm_id is not None and data.firm_id != current_user.firm_id:
            raise invalid("firm_id", _("Firm users apply for their own firm; leave firm_id out."))
        firm = db.session.get(Firm, current_user.firm_id)
        call = db.session.get(Call, data.call_id)  # the portal lists every call to firms
    else:
        if data.firm_id is None:
            raise invalid("firm_id", _("This field is required."))
        firm = db.session.scalar(
            sa.select(Firm).where(Firm.id == data.firm_id, Firm.visible_to(current_user))
        )
        if firm is None:
            raise invalid("firm_id", _("There is no such firm, or you may not see it."))
        call = db.session.scalar(
            sa.select(Call).where(Call.id == data.call_id, Call.visible_to(current_user))
        )
    if call is None:
        raise invalid("call_id", _("There is no such call, or you may not see it."))
    if firm is None:
        raise not_found()
    try:
        application = operations.start_application(call, firm, current_user, data.answers)
    except ValidationFailed as error:
        raise _api_fields(error) from None
    db.session.commit()
    return _answer(application, 201)


@api_route(
    "GET",
    "/applications/{id}",
    summary="One application, with its history and documents",
    tag=TAG,
    roles=READERS,
    response=ApplicationOut,
    errors=(403,),
)
def get_application(id: int):
    return jsonify(serialize_application(_visible_application(id)))


@api_route(
    "PATCH",
    "/applications/{id}",
    summary="Change answers (firm user while draft or supplement requested; staff until decided)",
    tag=TAG,
    roles=(*STAFF, Role.firm_user),
    request_model=AnswersIn,
    response=ApplicationOut,
    errors=(403, 409),
)
def update_application(id: int):
    application = _visible_application(id)
    data = body(AnswersIn)
    try:
        operations.update_answers(application, data.answers, current_user)
    except ValidationFailed as error:
        raise _api_fields(error) from None
    db.session.commit()
    return _answer(application)


@api_route(
    "POST",
    "/applications/{id}/documents",
    summary="Upload a document (multipart: kind, file)",
    tag=TAG,
    roles=UPLOADERS,
    response=DocumentOut,
    status=201,
    errors=(403, 413),
    multipart=UPLOAD_FORM,
)
def upload_application_document(id: int):
    application = _visible_application(id)
    document = document_operations.upload_application_document(
        application, request.form.get("kind", ""), request.files.get("file"), current_user
    )
    db.session.commit()
    return jsonify(serialize_document(document)), 201


@api_route(
    "POST",
    "/applications/{id}/transitions",
    summary="Move the application (firm user: submitted, withdrawn; staff: the rest)",
    tag=TAG,
    roles=(*STAFF, Role.firm_user),
    request_model=ApplicationTransitionIn,
    response=ApplicationOut,
    errors=(403, 409),
)
def transition_application(id: int):
    application = _visible_application(id)
    data = body(ApplicationTransitionIn)
    if data.to not in STATUSES:
        raise invalid("to", _("Choose one of: %(values)s.", values=", ".join(STATUSES)))
    options = operations.TransitionOptions(
        reason=data.reason,
        supplement_due_on=data.supplement_due_on,
        confirm_over_capacity=data.confirm_over_capacity,
        override_reason=data.override_reason,
    )
    try:
        operations.transition(application, ApplicationStatus(data.to), current_user, options)
    except ValidationFailed as error:
        raise _api_fields(error) from None
    db.session.commit()
    return _answer(application)


@api_route(
    "GET",
    "/documents/{id}",
    summary="A document's file, as an attachment (application or engagement documents you may see)",
    tag=TAG,
    response="file",
)
def download_document(id: int):
    document = document_operations.visible_document(id, current_user) if id <= MAX_ID else None
    if document is None:
        raise not_found()
    return send_document(document)
