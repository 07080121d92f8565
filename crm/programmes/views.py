from __future__ import annotations

from flask import Blueprint

from crm.auth.models import Role
from crm.core.access import allow

bp = Blueprint("programmes", __name__)


@bp.get("/programmes")
@allow(Role.admin, Role.consortium_manager, Role.coordinator)
def index():
    return "TODO"
