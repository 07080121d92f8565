from __future__ import annotations

from flask import Blueprint

from crm.auth.models import Role
from crm.core.access import allow

bp = Blueprint("admin", __name__)


@bp.get("/admin/users")
@allow(Role.admin)
def users():
    return "TODO"
