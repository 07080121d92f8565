from __future__ import annotations

from flask import Blueprint

from crm.auth.models import Role
from crm.core.access import allow

bp = Blueprint("organisation", __name__)


@bp.get("/admin/consortia")
@allow(Role.admin, Role.consortium_manager)
def consortia():
    return "TODO"
