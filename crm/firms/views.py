from __future__ import annotations

from flask import Blueprint

from crm.auth.models import Role
from crm.core.access import allow

bp = Blueprint("firms", __name__)


@bp.get("/firms")
@allow(Role.admin, Role.consortium_manager, Role.coordinator)
def index():
    return "TODO"
