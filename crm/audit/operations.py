from __future__ import annotations

import datetime as dt
import decimal
import enum
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from crm.audit.models import AccessLog, AuditEvent
from crm.extensions import db


def _client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):  # hours, KPI values: exact, as text
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def _actor_id(actor: Any) -> int | None:
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    return getattr(actor, "id", None)


def record_audit(
    action: str, obj: Any, changes: dict[str, Any] | None = None, actor: Any = None
) -> AuditEvent:
    """Adds an audit row to the current transaction; it commits or rolls back with the change itself."""
    event = AuditEvent(
        actor_id=_actor_id(actor),
        action=action,
        object_type=type(obj).__tablename__ if hasattr(type(obj), "__tablename__") else type(obj).__name__,
        object_id=getattr(obj, "id", None),
        changes=_jsonable(changes or {}),
        ip=_client_ip(),
    )
    db.session.add(event)
    return event


def diff(obj: Any, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that change; apply with `setattr` afterwards."""
    return {
        key: [_jsonable(getattr(obj, key)), _jsonable(value)]
        for key, value in new_values.items()
        if getattr(obj, key) != value
    }


def apply_changes(obj: Any, values: dict[str, Any], action: str, actor: Any = None) -> dict[str, list[Any]]:
    """Sets the new values, flushes and audits what actually changed (nothing is audited when nothing did)."""
    changes = diff(obj, values)
    for key, value in values.items():
        setattr(obj, key, value)
    db.session.flush()
    if changes:
        record_audit(action, obj, changes, actor=actor)
    return changes


def log_personal_data_access(action: str, subject: Any, purpose: str = "", actor: Any = None) -> AccessLog:
    entry = AccessLog(
        actor_id=_actor_id(actor),
        action=action,
        subject_type=type(subject).__tablename__,
        subject_id=subject.id,
        purpose=purpose,
        ip=_client_ip(),
    )
    db.session.add(entry)
    return entry
