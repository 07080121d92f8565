"""Engagement pages: the list, the engagement page (agreement, funding, milestones, changes, history and the
panels of activities, KPIs, surveys, training and GPU hours), and the lifecycle forms."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user

from crm.auth.models import STAFF_ROLES
from crm.core.access import allow
from crm.engagements import operations
from crm.engagements.models import Engagement
from crm.extensions import db

bp = Blueprint("engagements", __name__)


def visible_engagement(engagement_id: int) -> Engagement:
    """The engagement if the signed-in user may see it, else 404."""
    engagement = db.session.scalar(
        sa.select(Engagement).where(Engagement.id == engagement_id, Engagement.visible_to(current_user))
    )
    if engagement is None:
        abort(404)
    return engagement


def workable_engagement(engagement_id: int) -> Engagement:
    """The engagement if the signed-in user may do case work on it: 404 when not visible, 403 when visible
    but read-only."""
    engagement = visible_engagement(engagement_id)
    if not operations.may_work_on(engagement, current_user):
        abort(403)
    return engagement


@bp.get("/engagements/<int:engagement_id>")
@allow(*STAFF_ROLES)
def detail(engagement_id: int):
    engagement = visible_engagement(engagement_id)
    return render_template(
        "engagements/detail.html",
        engagement=engagement,
        firm=engagement.firm,
        may_work=operations.may_work_on(engagement, current_user),
    )
