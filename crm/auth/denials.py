"""Structured log lines for refused requests (ASVS 7.2): every 403 and every 404 a signed-in user gets.

The access hook refuses by role (403) and views answer 404 for objects outside the user's visibility; both
end up here after the error page is rendered, so each denial is one record with actor, target, IP and UTC
time, whichever code path refused it.
"""

from __future__ import annotations

import logging

from flask import Response, request
from flask_login import current_user

from crm.core.db import utcnow

logger = logging.getLogger("crm.security.denials")

LOGGED_STATUSES = frozenset({403, 404})


def log_denial(response: Response) -> Response:
    if response.status_code not in LOGGED_STATUSES or request.endpoint == "static":
        return response
    # Anonymous 404s are scanners and typos, not an authorised user reaching outside their scope.
    if not current_user.is_authenticated:
        return response
    fields = {
        "status": response.status_code,
        "user_id": current_user.id,
        "role": getattr(current_user.role, "value", current_user.role),
        "endpoint": request.endpoint,
        "method": request.method,
        "path": request.path,
        "ip": request.remote_addr,
        "at": utcnow().isoformat(),
    }
    logger.info(
        "denied status=%(status)s user=%(user_id)s role=%(role)s endpoint=%(endpoint)s method=%(method)s "
        "path=%(path)s ip=%(ip)s at=%(at)s",
        fields,
        extra={"denial": fields},
    )
    return response
