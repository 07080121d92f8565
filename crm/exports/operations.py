"""The one verb of exports that writes: taking personal data out of the system in a file."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from crm.audit.models import AccessLog
from crm.audit.operations import log_personal_data_access, record_audit
from crm.auth.models import STAFF_ROLES, User
from crm.core.exceptions import NotPermitted, ValidationFailed

REASON_MIN = 5
REASON_MAX = 300  # the access log's purpose column


def export_personal_data(
    list_name: str,
    subject: Any,
    reason: str,
    *,
    filters: dict[str, list[str]],
    columns: list[str],
    rows: int,
    may_unmask: bool,
    actor: User,
) -> AccessLog:
    """Records an unmasked export before the file is streamed: one access-log row with the stated reason
    (개인정보 접근기록) and an audit event saying which list, filters, personal columns and how many rows.
    Only staff ever see personal data in a list; `may_unmask` is the list's own rule for this actor."""
    if actor.role not in STAFF_ROLES or not may_unmask:
        raise NotPermitted(_l("You may not export the personal data of this list."))
    reason = " ".join((reason or "").split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(
            {
                "reason": [
                    _l(
                        "Describe the purpose in %(min)s to %(max)s characters.",
                        min=REASON_MIN,
                        max=REASON_MAX,
                    )
                ]
            }
        )
    action = f"export.{list_name}"
    entry = log_personal_data_access(action, subject, purpose=reason, actor=actor)
    record_audit(
        action,
        subject,
        {"list": list_name, "filters": filters, "personal_columns": columns, "rows": rows, "reason": reason},
        actor=actor,
    )
    return entry
