"""Sanctions (참여제한 / 환수 / 경고): impose, change (appeal, end date, basis, amount), lift; and the
query the eligibility check asks. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm
from crm.sanctions.models import AppealStatus, Sanction, SanctionKind

EDITOR_ROLES = frozenset({Role.admin, Role.consortium_manager})


@dataclass
class SanctionData:
    kind: SanctionKind | str | None = None
    basis: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    amount_krw: int | None = None
    appeal_status: AppealStatus | str = AppealStatus.none
    engagement_id: int | None = None  # the engagement whose breach led to it, when there is one


@dataclass
class SanctionUpdate:
    """What may change once imposed; the kind and the start date stay as they were."""

    basis: str = ""
    ends_on: date | None = None
    amount_krw: int | None = None
    appeal_status: AppealStatus | str = AppealStatus.none


# --- queries ------------------------------------------------------------------------------------------


def active_sanctions(firm: Firm, day: date | None = None) -> list[Sanction]:
    """The participation bans in force on `day` (KST, default today): not lifted, not overturned on appeal,
    and `day` inside their period. The eligibility check refuses a firm with any."""
    day = day or today_kst()
    return list(
        db.session.scalars(
            sa.select(Sanction)
            .where(Sanction.firm_id == firm.id, Sanction.active_ban_on(day))
            .order_by(Sanction.starts_on, Sanction.id)
        )
    )


def in_force_on(sanction: Sanction, day: date) -> bool:
    """Any kind of sanction that applies on `day`: a warning or clawback as much as a ban."""
    return (
        sanction.lifted_at is None
        and sanction.appeal_status is not AppealStatus.overturned
        and sanction.starts_on <= day
        and (sanction.ends_on is None or sanction.ends_on >= day)
    )


def sanctions_of(firm: Firm) -> list[Sanction]:
    return list(
        db.session.scalars(
            sa.select(Sanction)
            .where(Sanction.firm_id == firm.id)
            .order_by(Sanction.starts_on.desc(), Sanction.id.desc())
        )
    )


# --- permissions --------------------------------------------------------------------------------------


def _firm_visible(firm: Firm, actor: User) -> bool:
    return db.session.scalar(sa.select(Firm.id).where(Firm.id == firm.id, Firm.visible_to(actor))) is not None


def may_impose(firm: Firm, actor: User) -> bool:
    return actor.role in EDITOR_ROLES and _firm_visible(firm, actor)


def may_change(sanction: Sanction, actor: User) -> bool:
    """Admins; managers who see the firm, unless another consortium's staff imposed the sanction (that
    consortium answers for it, and for its appeal)."""
    if actor.role is Role.admin:
        return True
    if actor.role is not Role.consortium_manager or not _firm_visible(sanction.firm, actor):
        return False
    imposer = db.session.get(User, sanction.imposed_by_id) if sanction.imposed_by_id else None
    owner = imposer.scope_consortium_id if imposer is not None else None
    return owner is None or owner == actor.scope_consortium_id


def _require_impose(firm: Firm, actor: User) -> None:
    if not may_impose(firm, actor):
        raise NotPermitted()


def _require_change(sanction: Sanction, actor: User) -> None:
    if not may_change(sanction, actor):
        raise NotPermitted(
            _l("Only an administrator or the consortium that imposed this sanction may change it.")
        )


# --- validation ---------------------------------------------------------------------------------------


def sanction_problems(
    kind: SanctionKind | None,
    basis: str | None,
    starts_on: date | None,
    ends_on: date | None,
    amount_krw: int | None,
) -> dict[str, list[Any]]:
    """{field: [message]} for a sanction's values; shared by the form (to show every problem at once) and
    the operations."""
    problems: dict[str, list[Any]] = {}
    if kind is None:
        problems["kind"] = [_l("Choose the kind of sanction.")]
    if not (basis or "").strip():
        problems["basis"] = [_l("Enter the basis: the rule that was breached and what happened.")]
    if starts_on is None:
        problems["starts_on"] = [_l("Enter the date the sanction starts.")]
    elif ends_on is not None and ends_on < starts_on:
        problems["ends_on"] = [_l("The end date cannot be before the start date.")]
    if amount_krw is not None and amount_krw < 0:
        problems["amount_krw"] = [_l("An amount cannot be negative.")]
    elif kind is SanctionKind.clawback and amount_krw is None:
        problems["amount_krw"] = [_l("Enter the amount to be recovered (원) for a clawback.")]
    return problems


def _enum(enum_cls: type[Any], value: Any) -> Any:
    try:
        return enum_cls(value) if value is not None and value != "" else None
    except ValueError:
        return None


# --- verbs --------------------------------------------------------------------------------------------


def impose_sanction(firm: Firm, data: SanctionData, actor: User) -> Sanction:
    _require_impose(firm, actor)
    kind = _enum(SanctionKind, data.kind)
    appeal_status = _enum(AppealStatus, data.appeal_status or AppealStatus.none)
    problems = sanction_problems(kind, data.basis, data.starts_on, data.ends_on, data.amount_krw)
    if appeal_status is None:
        problems["appeal_status"] = [_l("Choose the appeal status from the list.")]
    if data.engagement_id is not None:
        engagement = db.session.get(Engagement, data.engagement_id)
        if engagement is None or engagement.firm_id != firm.id:
            problems["engagement_id"] = [_l("This engagement is not one of this firm's.")]
    if problems:
        raise ValidationFailed(problems)
    values = {
        "kind": kind,
        "basis": data.basis.strip(),
        "starts_on": data.starts_on,
        "ends_on": data.ends_on,
        "amount_krw": data.amount_krw,
        "appeal_status": appeal_status,
        "engagement_id": data.engagement_id,
    }
    sanction = Sanction(firm_id=firm.id, imposed_by_id=actor.id, **values)
    db.session.add(sanction)
    db.session.flush()
    record_audit("sanction.impose", sanction, {"firm_id": firm.id, **values}, actor=actor)
    return sanction


def update_sanction(sanction: Sanction, data: SanctionUpdate, actor: User) -> Sanction:
    """Records an appeal's course or outcome, or corrects the end date, basis or amount. An appeal upheld
    in the firm's favour (overturned) ends a ban at once without lifting it: the history shows why."""
    _require_change(sanction, actor)
    appeal_status = _enum(AppealStatus, data.appeal_status)
    problems = sanction_problems(sanction.kind, data.basis, sanction.starts_on, data.ends_on, data.amount_krw)
    if appeal_status is None:
        problems["appeal_status"] = [_l("Choose the appeal status from the list.")]
    if problems:
        raise ValidationFailed(problems)
    apply_changes(
        sanction,
        {
            "basis": data.basis.strip(),
            "ends_on": data.ends_on,
            "amount_krw": data.amount_krw,
            "appeal_status": appeal_status,
        },
        "sanction.update",
        actor,
    )
    return sanction


def lift_sanction(sanction: Sanction, reason: str, actor: User) -> Sanction:
    """Ends a sanction early (e.g. after a settlement or a court ruling), keeping who and why. Lifting twice
    is refused."""
    _require_change(sanction, actor)
    if sanction.lifted_at is not None:
        raise RuleViolation("already_lifted", _l("This sanction was already lifted."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_l("Enter why the sanction is lifted.")]})
    lifted_at = utcnow()
    sanction.lifted_at = lifted_at
    sanction.lifted_by_id = actor.id
    sanction.lift_reason = reason
    db.session.flush()
    record_audit(
        "sanction.lift",
        sanction,
        {"firm_id": sanction.firm_id, "lifted_at": [None, lifted_at], "reason": reason},
        actor=actor,
    )
    return sanction
