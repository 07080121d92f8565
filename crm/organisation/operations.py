"""Consortia and institutions: one function per verb, never committing."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import Role, User
from crm.core.exceptions import NotPermitted, ValidationFailed
from crm.extensions import db
from crm.firms.regions import SIDO
from crm.organisation.models import Consortium, Institution, InstitutionRole


def require(allowed: bool) -> None:
    if not allowed:
        raise NotPermitted()


@dataclass
class ConsortiumData:
    name: str
    sido_code: str
    is_active: bool = True


@dataclass
class InstitutionData:
    name: str
    role: InstitutionRole


def _consortium_problems(data: ConsortiumData, consortium: Consortium | None) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    if not data.name:
        problems["name"] = [_l("Enter a name.")]
    else:
        clash = sa.select(Consortium.id).where(sa.func.lower(Consortium.name) == data.name.lower())
        if consortium is not None:
            clash = clash.where(Consortium.id != consortium.id)
        if db.session.scalar(clash) is not None:
            problems["name"] = [_l("A consortium with this name already exists.")]
    if data.sido_code not in SIDO:
        problems["sido_code"] = [_l("Choose a region from the list.")]
    return problems


def create_consortium(data: ConsortiumData, actor: User) -> Consortium:
    require(actor.role is Role.admin)
    data.name = data.name.strip()
    if problems := _consortium_problems(data, None):
        raise ValidationFailed(problems)
    consortium = Consortium(**asdict(data))
    db.session.add(consortium)
    db.session.flush()
    record_audit("consortium.create", consortium, asdict(data), actor=actor)
    return consortium


def update_consortium(consortium: Consortium, data: ConsortiumData, actor: User) -> Consortium:
    require(actor.role is Role.admin)
    data.name = data.name.strip()
    if problems := _consortium_problems(data, consortium):
        raise ValidationFailed(problems)
    values = asdict(data)
    apply_changes(consortium, values, "consortium.update", actor)
    return consortium


def _institution_problems(
    consortium: Consortium, data: InstitutionData, institution: Institution | None
) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    others = sa.select(Institution).where(Institution.consortium_id == consortium.id)
    if institution is not None:
        others = others.where(Institution.id != institution.id)
    siblings = db.session.scalars(others).all()
    if not data.name:
        problems["name"] = [_l("Enter a name.")]
    elif any(other.name.lower() == data.name.lower() for other in siblings):
        problems["name"] = [_l("This consortium already has an institution with this name.")]
    lead = next((other for other in siblings if other.role is InstitutionRole.lead), None)
    if data.role is InstitutionRole.lead and lead is not None:
        problems["role"] = [
            _l("%(name)s is already the lead institution; a consortium has only one.", name=lead.name)
        ]
    return problems


def add_institution(consortium: Consortium, data: InstitutionData, actor: User) -> Institution:
    require(consortium.can_manage(actor))
    data.name = data.name.strip()
    if problems := _institution_problems(consortium, data, None):
        raise ValidationFailed(problems)
    institution = Institution(consortium=consortium, name=data.name, role=data.role)
    db.session.add(institution)
    db.session.flush()
    record_audit(
        "institution.create",
        institution,
        {"consortium_id": consortium.id, **asdict(data)},
        actor=actor,
    )
    return institution


def update_institution(institution: Institution, data: InstitutionData, actor: User) -> Institution:
    require(institution.consortium.can_manage(actor))
    data.name = data.name.strip()
    if problems := _institution_problems(institution.consortium, data, institution):
        raise ValidationFailed(problems)
    values = asdict(data)
    apply_changes(institution, values, "institution.update", actor)
    return institution
