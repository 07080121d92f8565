"""The engagement lifecycle and its agreement: create directly, edit the agreement, one `transition` driven
by the table in models.py, agreement changes (협약변경), termination. Never commits."""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import STAFF_ROLES, Role, User
from crm.engagements.models import Engagement
from crm.extensions import db

# --- Who may do what ------------------------------------------------------------------------------------


def may_see(engagement: Engagement, actor: User) -> bool:
    return (
        db.session.scalar(
            sa.select(Engagement.id).where(Engagement.id == engagement.id, Engagement.visible_to(actor))
        )
        is not None
    )


def may_work_on(engagement: Engagement, actor: User) -> bool:
    """Case work (agreement, milestones, activities, KPIs …): admins, the consortium's managers and the
    running institution's coordinators."""
    return actor.role in STAFF_ROLES and may_see(engagement, actor)


def is_firm_of(engagement: Engagement, actor: User) -> bool:
    return actor.role is Role.firm_user and actor.firm_id is not None and actor.firm_id == engagement.firm_id


def may_approve_changes(engagement: Engagement, actor: User) -> bool:
    """Agreement changes and budget overrides are decided above the coordinator: the consortium's managers
    (and admins)."""
    if actor.role is Role.admin:
        return True
    return (
        actor.role is Role.consortium_manager
        and actor.scope_consortium_id is not None
        and actor.scope_consortium_id == engagement.programme.consortium_id
    )
