"""Uploading application and engagement documents: who may, which kinds, type and size checks, versions.
Never commits."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from crm.applications.models import EDITABLE_BY_FIRM, Application, ApplicationStatus
from crm.audit.operations import record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, TooLarge, ValidationFailed
from crm.documents import storage
from crm.documents.models import Document
from crm.engagements.models import Engagement
from crm.extensions import db

# Kind for anything the call does not list; these accumulate instead of replacing each other.
OTHER = "other"


def kind_choices(application: Application) -> list[tuple[str, str]]:
    """(kind, label) of the call's required documents, then "other"."""
    choices = [
        (doc["kind"], doc.get("label") or doc["kind"]) for doc in application.call.required_documents or []
    ]
    if OTHER not in {kind for kind, _ in choices}:
        choices.append((OTHER, str(_l("Other document"))))
    return choices


def max_bytes() -> int:
    return int(current_app.config["DOCUMENT_MAX_BYTES"])


def _may_see(application: Application, actor: User) -> bool:
    return (
        db.session.scalar(
            sa.select(Application.id).where(Application.id == application.id, Application.visible_to(actor))
        )
        is not None
    )


def visible_document(document_id: int, user: User) -> Document | None:
    """The document if `user` may see its owner (an application or an engagement), else None; the HTML
    download and the API share this one rule."""
    return db.session.scalar(
        sa.select(Document).where(
            Document.id == document_id,
            sa.or_(
                Document.application_id.in_(sa.select(Application.id).where(Application.visible_to(user))),
                Document.engagement_id.in_(sa.select(Engagement.id).where(Engagement.visible_to(user))),
            ),
        )
    )


def check_may_upload(application: Application, actor: User) -> None:
    """Raises NotPermitted with the reason: a firm user only for its own firm's application while it is a
    draft or a supplement is requested; staff who see the application unless it was withdrawn; nobody
    else."""
    if actor.role is Role.firm_user:
        if actor.firm_id is None or actor.firm_id != application.firm_id:
            raise NotPermitted()
        if application.status not in EDITABLE_BY_FIRM:
            raise NotPermitted(
                _l(
                    "Documents can be added or replaced only while the application is a draft or a "
                    "supplement is requested. This application is now: %(status)s.",
                    status=application.status.public_title,
                )
            )
        return
    if actor.role not in STAFF_ROLES or not _may_see(application, actor):
        raise NotPermitted()
    if application.status is ApplicationStatus.withdrawn:
        raise NotPermitted(_l("This application was withdrawn; its documents can no longer change."))


def may_upload(application: Application, actor: User) -> bool:
    """For pages deciding whether to show the upload form."""
    try:
        check_may_upload(application, actor)
    except NotPermitted:
        return False
    return True


def _too_large(limit: int) -> TooLarge:
    message = _l("The file is larger than %(mb)s MB. Upload a smaller file.", mb=limit // (1024 * 1024))
    return TooLarge(message, fields={"file": [message]})


def _store(upload: FileStorage | None) -> storage.StoredFile:
    """Checks and stores the uploaded bytes; the file is removed again if the transaction does not commit."""
    if upload is None or not upload.filename:
        raise ValidationFailed({"file": [_l("Choose a file to upload.")]})
    limit = max_bytes()
    # The browser's declared length is only a hint, but it lets an obvious oversize fail before any write.
    if upload.content_length and upload.content_length > limit:
        raise _too_large(limit)
    try:
        stored = storage.store_upload(upload.stream, upload.filename, limit)
    except storage.FileTooLarge:
        raise _too_large(limit) from None
    except storage.FileRejected as error:
        raise ValidationFailed({"file": [error.message]}) from None
    storage.delete_on_rollback(stored.path)
    return stored


def _add_document(
    owner: dict[str, int],
    kind: str,
    upload: FileStorage,
    stored: storage.StoredFile,
    actor: User,
    *,
    replace_current: bool = True,
) -> Document:
    """A new document row for `owner` ({"application_id": …} or {"engagement_id": …}). With
    `replace_current`, a kind other than "other" replaces the owner's current document of that kind: the old
    row stays, marked superseded, and the new one is the next version."""
    owner_column, owner_id = next(iter(owner.items()))
    owned = getattr(Document, owner_column) == owner_id
    previous: Document | None = None
    version = 1
    if replace_current and kind != OTHER:
        previous = db.session.scalar(
            sa.select(Document).where(owned, Document.kind == kind, Document.superseded_at.is_(None))
        )
        latest = db.session.scalar(
            sa.select(sa.func.max(Document.version)).where(owned, Document.kind == kind)
        )
        version = (latest or 0) + 1
    now = utcnow()
    if previous is not None:
        previous.superseded_at = now
    document = Document(
        **owner,
        kind=kind,
        filename=storage.clean_filename(upload.filename or ""),
        stored_name=stored.stored_name,
        content_type=stored.content_type,
        size=stored.size,
        sha256=stored.sha256,
        version=version,
        uploaded_by_id=actor.id,
        uploaded_at=now,
    )
    db.session.add(document)
    db.session.flush()
    changes: dict[str, Any] = {
        **owner,
        "kind": kind,
        "filename": document.filename,
        "size": document.size,
        "sha256": document.sha256,
        "version": version,
    }
    if previous is not None:
        changes["replaces_document_id"] = previous.id
    record_audit("document.replace" if previous is not None else "document.upload", document, changes, actor)
    return document


def upload_application_document(
    application: Application, kind: str, upload: FileStorage | None, actor: User
) -> Document:
    """Stores an uploaded file as a document of the application.

    A kind the call requires replaces its current document (the old row stays, marked superseded, and the
    new one is the next version); "other" documents accumulate. Raises NotPermitted, ValidationFailed
    (field "kind" or "file": type not allowed, content not matching the extension, empty) or TooLarge
    (413). The stored file is removed again if the transaction does not commit."""
    check_may_upload(application, actor)
    kind = (kind or "").strip()
    if kind not in {choice for choice, _ in kind_choices(application)}:
        raise ValidationFailed({"kind": [_l("Choose which document this is from the list.")]})
    stored = _store(upload)
    assert upload is not None
    # Uploads to one application take turns (a row lock on PostgreSQL), so two replacements of the same
    # kind cannot both become the current version.
    db.session.execute(sa.select(Application.id).where(Application.id == application.id).with_for_update())
    document = _add_document({"application_id": application.id}, kind, upload, stored, actor)
    # The relationship may have been loaded before; pages rendered in this request must see the new row.
    db.session.expire(application, ["documents"])
    return document


def upload_engagement_document(
    engagement: Engagement, kind: str, upload: FileStorage | None, actor: User
) -> Document:
    """Stores a file of the engagement (milestone or KPI evidence, reports). Every upload is kept: the kind
    names what the file is evidence of, so nothing is superseded. The caller checks who may add it; raises
    ValidationFailed (field "file") or TooLarge like application uploads."""
    stored = _store(upload)
    assert upload is not None
    return _add_document(
        {"engagement_id": engagement.id}, kind or OTHER, upload, stored, actor, replace_current=False
    )


def document_groups(application: Application) -> list[dict[str, Any]]:
    """The application's documents by kind, for the page: each required kind with its current file (or
    None: missing) and earlier versions, newest first; then "other" documents and any of a kind the call no
    longer lists."""
    by_kind: dict[str, list[Document]] = {}
    for document in sorted(application.documents, key=lambda d: (d.version, d.id), reverse=True):
        by_kind.setdefault(document.kind, []).append(document)
    groups = []
    for kind, label in kind_choices(application):
        if kind == OTHER:
            continue
        documents = by_kind.pop(kind, [])
        current = next((d for d in documents if d.superseded_at is None), None)
        groups.append(
            {
                "kind": kind,
                "label": label,
                "required": True,
                "current": current,
                "earlier": [d for d in documents if d is not current],
            }
        )
    others = sorted(
        (d for documents in by_kind.values() for d in documents), key=lambda d: d.id, reverse=True
    )
    groups.append(
        {
            "kind": OTHER,
            "label": str(_l("Other documents")),
            "required": False,
            "documents": [d for d in others if d.superseded_at is None],
            "earlier": [d for d in others if d.superseded_at is not None],
        }
    )
    return groups
