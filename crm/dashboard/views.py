"""The staff dashboard: 목표 대비 실적 (targets against results) with funnel, pace, projection, breakdowns and
charts; the lists behind every number; the XLSX report. National viewers see aggregates only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from math import ceil
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import current_user
from sqlalchemy.orm import selectinload

from crm.applications.models import Application
from crm.auth.models import Role
from crm.core.access import allow
from crm.core.pagination import paginate
from crm.dashboard import charts
from crm.dashboard.breakdowns import DIMENSIONS, all_breakdowns, counted_engagements
from crm.dashboard.export import export_quota_report
from crm.dashboard.forms import DashboardFilterForm
from crm.dashboard.quotas import (
    STAGES,
    Scope,
    applied_clause,
    dashboard_scope,
    programme_scope_clause,
    quota_report,
    stage_clause,
    trained_people,
)
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm
from crm.infrastructure.models import GpuAllocation
from crm.organisation.models import Institution
from crm.programmes.models import Call, Programme, TargetUnit

bp = Blueprint("dashboard", __name__)

# Who sees the figures; evaluators keep their own landing message.
FIGURE_ROLES = (Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer)
# The lists behind the figures name firms: staff only. National viewers get aggregates (DESIGN.md §2).
DRILL_ROLES = (Role.admin, Role.consortium_manager, Role.coordinator)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What the engagement lists show of each row, loaded with the page rather than row by row.
ENGAGEMENT_ROWS = (selectinload(Engagement.firm), selectinload(Engagement.programme))


def _filters() -> tuple[Scope, DashboardFilterForm]:
    form = DashboardFilterForm(request.args)
    scope = dashboard_scope(
        current_user,
        programme_year_id=form.year_id,
        consortium_id=form.consortium_id,
        track=form.track_value,
    )
    form.fill(scope.years, scope.consortia, many_consortia=len(scope.consortia) > 1)
    return scope, form


def _dashboard_programme(programme_id: int) -> Programme:
    """A programme inside the user's dashboard scope, else 404 (a coordinator's are its institution's)."""
    programme = db.session.scalar(
        sa.select(Programme).where(Programme.id == programme_id, programme_scope_clause(current_user))
    )
    if programme is None:
        abort(404)
    return programme


@bp.get("/dashboard")
@allow(*FIGURE_ROLES, Role.evaluator)
def index():
    if current_user.role is Role.evaluator:
        return render_template("dashboard/evaluator.html")
    scope, form = _filters()
    report = quota_report(scope)
    breakdowns = all_breakdowns(scope)
    firm_count = None
    if current_user.role in (Role.consortium_manager, Role.coordinator):
        firm_count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Firm).where(Firm.visible_to(current_user))
        )
    return render_template(
        "dashboard/index.html",
        form=form,
        scope=scope,
        report=report,
        breakdowns=breakdowns,
        charts={
            "quota": charts.quota_chart(report.rows),
            **{b.dimension.key: charts.breakdown_chart(b) for b in breakdowns},
        },
        may_drill=current_user.role in DRILL_ROLES,
        firm_count=firm_count,
    )


@dataclass
class ListPage:
    """The pager macro's view of a list paginated by hand (rows that are not one ORM entity)."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(ceil(self.total / self.per_page), 1) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def mask_email(email: str) -> str:
    """Enough to tell people apart, not enough to contact them: ki***@example.com."""
    local, _at, domain = email.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


@dataclass(frozen=True)
class Person:
    email_masked: str
    first_on: date
    sessions: int


def _people_page(programme: Programme) -> ListPage:
    people = trained_people()
    per_page = current_app.config["PAGE_SIZE"]
    page = max(request.args.get("page", 1, type=int), 1)
    scope = people.c.programme_id == programme.id
    total = db.session.scalar(sa.select(sa.func.count()).select_from(people).where(scope)) or 0
    rows = db.session.execute(
        sa.select(people.c.person, people.c.first_on, people.c.sessions)
        .where(scope)
        .order_by(people.c.first_on, people.c.person)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [Person(mask_email(person), first_on, int(sessions)) for person, first_on, sessions in rows]
    return ListPage(items=items, page=page, per_page=per_page, total=total)


@bp.get("/dashboard/programmes/<int:programme_id>/counted")
@allow(*DRILL_ROLES)
def programme_list(programme_id: int):
    """The list behind one number of a programme's row: same filter as the count, so its length (or, for
    GPU hours, its sum) is the number."""
    programme = _dashboard_programme(programme_id)
    stage = request.args.get("stage", "counted")
    if stage not in STAGES:
        abort(404)
    kind = "engagements"
    if stage == "applied":
        kind = "applications"
        page = paginate(
            sa.select(Application)
            .join(Call, Application.call_id == Call.id)
            .where(Call.programme_id == programme.id, applied_clause())
            .order_by(Application.submitted_at.desc(), Application.id.desc())
            .options(selectinload(Application.firm), selectinload(Application.call))
        )
    elif stage == "counted" and programme.unit is TargetUnit.people:
        kind = "people"
        page = _people_page(programme)
    elif stage == "counted" and programme.unit is TargetUnit.gpu_hours:
        kind = "gpu"
        page = paginate(
            sa.select(GpuAllocation)
            .join(Engagement, GpuAllocation.engagement_id == Engagement.id)
            .where(Engagement.programme_id == programme.id)
            .order_by(GpuAllocation.granted_on.desc(), GpuAllocation.id.desc())
            .options(selectinload(GpuAllocation.engagement).selectinload(Engagement.firm))
        )
    else:
        page = paginate(
            sa.select(Engagement)
            .join(Programme, Engagement.programme_id == Programme.id)
            .join(Firm, Engagement.firm_id == Firm.id)
            .where(Engagement.programme_id == programme.id, stage_clause(stage))
            .order_by(Firm.name, Engagement.id)
            .options(*ENGAGEMENT_ROWS)
        )
    return render_template(
        "dashboard/programme_list.html", programme=programme, stage=stage, kind=kind, page=page
    )


@bp.get("/dashboard/breakdowns/<dimension>")
@allow(*DRILL_ROLES)
def breakdown_list(dimension: str):
    """The counted engagements behind one cell of a breakdown, under the dashboard's filters."""
    found = DIMENSIONS.get(dimension)
    raw = request.args.get("key", "")
    if found is None or not raw:
        abort(404)
    key = found.parse(raw)
    scope, _form = _filters()
    page = paginate(
        counted_engagements(scope)
        .where(found.filter(key))
        .order_by(Firm.name, Engagement.id)
        .options(*ENGAGEMENT_ROWS)
    )
    names = {}
    if dimension == "institution" and key is not None:
        names = {key: db.session.scalar(sa.select(Institution.name).where(Institution.id == key)) or raw}
    return render_template(
        "dashboard/breakdown_list.html",
        dimension=found,
        label=found.label(key, names),
        scope=scope,
        page=page,
    )


@bp.get("/dashboard/export.xlsx")
@allow(*FIGURE_ROLES)
def export_xlsx():
    scope, _form = _filters()
    content = export_quota_report(scope, current_user)
    db.session.commit()
    filename = f"quota-report-{scope.as_of.isoformat()}.xlsx"
    return Response(
        content, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
