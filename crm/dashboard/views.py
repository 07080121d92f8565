from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template
from flask_login import current_user

from crm.auth.models import Role
from crm.core.access import allow
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Programme, ProgrammeYear

bp = Blueprint("dashboard", __name__)


@bp.get("/dashboard")
@allow(Role.consortium_manager, Role.coordinator, Role.national_viewer, Role.evaluator)
def index():
    programmes = db.session.scalars(
        sa.select(Programme)
        .join(Programme.programme_year)
        .where(Programme.visible_to(current_user))
        .order_by(ProgrammeYear.consortium_id, ProgrammeYear.ordinal, Programme.id)
        .options(
            sa.orm.selectinload(Programme.programme_year).selectinload(ProgrammeYear.consortium),
            sa.orm.selectinload(Programme.institution),
        )
    ).all()
    firm_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Firm).where(Firm.visible_to(current_user))
    )
    return render_template("dashboard/index.html", programmes=programmes, firm_count=firm_count)
