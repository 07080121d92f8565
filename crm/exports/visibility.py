"""Per-row personal-data rules as SQL, so an export decides for every row in the query itself instead of
loading each row's relations (the page decides per object in Python)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.firms.models import Contact, Firm, FirmLink


def contacts_visible_clause(user: Any) -> sa.ColumnElement[bool]:
    """`Firm.contacts_visible_to(user)` for every firm of a query: admins; a manager through a
    contact-sharing link to its consortium; a coordinator through one naming its own institution; a firm user
    for its own firm; nobody else. (tests/exports check the two agree.)"""
    if user.role is Role.admin:
        return sa.true()
    if user.role is Role.firm_user:
        return Firm.id == user.firm_id if user.firm_id else sa.false()
    sharing = sa.select(FirmLink.id).where(FirmLink.firm_id == Firm.id, FirmLink.grants_contacts.is_(True))
    if user.role is Role.consortium_manager and user.scope_consortium_id:
        return sharing.where(FirmLink.consortium_id == user.scope_consortium_id).exists()
    if user.role is Role.coordinator and user.institution_id:
        return sharing.where(FirmLink.institution_id == user.institution_id).exists()
    return sa.false()


def as_flag(clause: sa.ColumnElement[bool], name: str) -> sa.Label[Any]:
    """A condition as a selectable true/false column (portable: SQLite has no boolean type)."""
    return sa.case((clause, sa.literal(1)), else_=sa.literal(0)).label(name)


def primary_contact(attribute: Any, name: str) -> sa.Label[Any]:
    """One field of the firm's primary contact (its first contact when none is marked), per firm row."""
    return (
        sa.select(attribute)
        .where(Contact.firm_id == Firm.id)
        .order_by(Contact.is_primary.desc(), Contact.id)
        .limit(1)
        .correlate(Firm)
        .scalar_subquery()
        .label(name)
    )
