"""The engagement lifecycle and its agreement: create directly, edit the agreement, one `transition` driven
by the table in models.py, agreement changes (협약변경), termination. Never commits."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.enums import IllegalTransition, check_transition
from crm.core.exceptions import Conflict, NotPermitted, OperationError, RuleViolation, ValidationFailed
from crm.core.formatting import format_won
from crm.core.time import one_month_before, today_kst
from crm.documents.models import Document
from crm.engagements.models import (
    CHANGE_TRANSITIONS,
    COMMITTED_STATUSES,
    ENGAGEMENT_TRANSITIONS,
    AgreementChange,
    ChangeStatus,
    Engagement,
    EngagementHistory,
    EngagementStatus,
)
from crm.extensions import db
from crm.firms.models import Firm, LinkKind
from crm.notices.templates import portal_path, queue_status_notice
from crm.programmes.models import Programme, Track
from crm.sanctions.models import Sanction, SanctionKind

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


# --- Money rules ----------------------------------------------------------------------------------------

GOV_SHARE_LIMIT_PERCENT = 60
AMOUNT_FIELDS = ("gov_krw", "local_krw", "self_cash_krw", "self_inkind_krw")
DATE_FIELDS = ("agreed_on", "starts_on", "ends_on")
CHANGEABLE_FIELDS = (*DATE_FIELDS[1:], *AMOUNT_FIELDS, "supplier_firm_id", "solution")
STALE = _l("This engagement was changed by someone else in the meantime. Reload the page and try again.")


@dataclass
class AgreementData:
    """The agreement's terms (협약): dates, amounts by source in 원, and for adoption the supplier."""

    agreed_on: date | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    gov_krw: int | None = 0
    local_krw: int | None = 0
    self_cash_krw: int | None = 0
    self_inkind_krw: int | None = 0
    supplier_firm_id: int | None = None
    solution: str = ""
    coordinator_id: int | None = None

    @classmethod
    def of(cls, engagement: Engagement) -> AgreementData:
        return cls(**{f.name: getattr(engagement, f.name) for f in fields(cls)})

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def total_krw(self) -> int:
        return sum(getattr(self, name) or 0 for name in AMOUNT_FIELDS)


def _percent(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}" if whole else "0"


def agreement_problems(engagement: Engagement, data: AgreementData) -> dict[str, list[Any]]:
    """Every problem with the terms, by field; the money rules of DESIGN.md §5 that concern one engagement
    (국비 ≤ 60 % of the total, the programme's per-firm cap) included. The budget is checked on commitment."""
    programme = engagement.programme
    problems: dict[str, list[Any]] = {}
    for name in AMOUNT_FIELDS:
        value = getattr(data, name)
        if value is None or value < 0:
            problems[name] = [_l("Enter an amount of 0 원 or more.")]
    year = programme.programme_year
    if data.starts_on and data.ends_on and data.ends_on < data.starts_on:
        problems["ends_on"] = [_l("The agreement cannot end before it starts.")]
    if data.starts_on and data.starts_on < year.starts_on:
        problems.setdefault("starts_on", []).append(
            _l(
                "The agreement cannot start before the programme year (%(day)s).",
                day=year.starts_on.isoformat(),
            )
        )
    if data.ends_on and data.ends_on > year.ends_on:
        problems.setdefault("ends_on", []).append(
            _l(
                "The agreement must end by the end of the programme year (%(day)s).",
                day=year.ends_on.isoformat(),
            )
        )
    if data.agreed_on and data.agreed_on > today_kst():
        problems["agreed_on"] = [_l("The agreement date cannot be in the future.")]
    if programme.track is Track.adoption:
        if data.supplier_firm_id is None:
            problems["supplier_firm_id"] = [_l("Choose the supplier (공급기업) for an adoption engagement.")]
        else:
            supplier = db.session.get(Firm, data.supplier_firm_id)
            if supplier is None or not supplier.is_supplier:
                problems["supplier_firm_id"] = [
                    _l("The supplier must be a firm registered as a supplier (공급기업).")
                ]
            elif supplier.id == engagement.firm_id:
                problems["supplier_firm_id"] = [_l("A firm cannot be its own supplier.")]
        if not (data.solution or "").strip():
            problems["solution"] = [_l("Name the AI solution the firm adopts.")]
    elif data.supplier_firm_id is not None:
        problems["supplier_firm_id"] = [_l("Only adoption engagements have a supplier.")]
    if problems:
        return problems
    total = data.total_krw
    gov = data.gov_krw or 0
    if gov * 100 > total * GOV_SHARE_LIMIT_PERCENT:
        problems["gov_krw"] = [
            _l(
                "National funds (국비) may be at most 60%% of the engagement total: %(gov)s of %(total)s is "
                "%(percent)s%%. Lower 국비 or raise 지방비 / 자부담.",
                gov=format_won(gov),
                total=format_won(total),
                percent=_percent(gov, total),
            )
        ]
    cap = programme.per_firm_cap_krw
    public = gov + (data.local_krw or 0)
    if cap is not None and public > cap:
        problems["local_krw"] = [
            _l(
                "국비 and 지방비 together (%(public)s) exceed the programme's cap per firm of %(cap)s.",
                public=format_won(public),
                cap=format_won(cap),
            )
        ]
    return problems


def committed_krw(programme: Programme, exclude_engagement_id: int | None = None) -> tuple[int, int]:
    """(국비, 지방비) bound by the programme's agreements, other than the one being changed."""
    query = sa.select(
        sa.func.coalesce(sa.func.sum(Engagement.gov_krw), 0),
        sa.func.coalesce(sa.func.sum(Engagement.local_krw), 0),
    ).where(Engagement.programme_id == programme.id, Engagement.status.in_(COMMITTED_STATUSES))
    if exclude_engagement_id is not None:
        query = query.where(Engagement.id != exclude_engagement_id)
    gov, local = db.session.execute(query).one()
    return int(gov), int(local)


def check_budget(engagement: Engagement, gov_krw: int, local_krw: int) -> None:
    """Refuses an agreement that would over-commit the programme's 국비 or 지방비. The programme row is locked
    first (PostgreSQL), so two agreements racing for the last of a budget take turns and the second sees the
    first's commitment."""
    programme = engagement.programme
    db.session.execute(sa.select(Programme.id).where(Programme.id == programme.id).with_for_update())
    gov_committed, local_committed = committed_krw(programme, engagement.id)
    problems: dict[str, list[Any]] = {}
    if gov_committed + gov_krw > programme.budget_gov_krw:
        problems["gov_krw"] = [
            _l(
                "The programme's national funds (국비) would be over-committed: %(committed)s is already "
                "agreed of %(budget)s, so at most %(left)s is left.",
                committed=format_won(gov_committed),
                budget=format_won(programme.budget_gov_krw),
                left=format_won(max(programme.budget_gov_krw - gov_committed, 0)),
            )
        ]
    if local_committed + local_krw > programme.budget_local_krw:
        problems["local_krw"] = [
            _l(
                "The programme's local funds (지방비) would be over-committed: %(committed)s is already "
                "agreed of %(budget)s, so at most %(left)s is left.",
                committed=format_won(local_committed),
                budget=format_won(programme.budget_local_krw),
                left=format_won(max(programme.budget_local_krw - local_committed, 0)),
            )
        ]
    if problems:
        raise RuleViolation("over_budget", next(iter(problems.values()))[0], fields=problems)


def _check_version(engagement: Engagement, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != engagement.version:
        raise Conflict(STALE, existing_id=engagement.id)


def _flush(engagement: Engagement) -> None:
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(STALE, existing_id=engagement.id) from None


def _coordinator_problems(engagement: Engagement, coordinator_id: int | None) -> dict[str, list[Any]]:
    if coordinator_id is None:
        return {}
    coordinator = db.session.get(User, coordinator_id)
    if (
        coordinator is None
        or coordinator.role is not Role.coordinator
        or coordinator.institution_id != engagement.programme.institution_id
        or not coordinator.is_active
    ):
        return {
            "coordinator_id": [_l("Choose an active coordinator of the institution running this programme.")]
        }
    return {}


def coordinator_choices(engagement: Engagement | Programme) -> list[User]:
    programme = engagement if isinstance(engagement, Programme) else engagement.programme
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.role == Role.coordinator,
                User.institution_id == programme.institution_id,
                User.is_active.is_(True),
            )
            .order_by(User.name)
        )
    )


def update_agreement(
    engagement: Engagement, data: AgreementData, actor: User, expected_version: int | None = None
) -> dict[str, list[Any]]:
    """Sets the agreement's terms while it awaits signature; once agreed, terms change only through an
    approved agreement change. Returns the audited changes."""
    if not may_work_on(engagement, actor):
        raise NotPermitted()
    if engagement.status is not EngagementStatus.pending_agreement:
        raise RuleViolation(
            "agreement_signed",
            _l("The agreement is signed; request an agreement change (협약변경) instead."),
        )
    _check_version(engagement, expected_version)
    problems = agreement_problems(engagement, data) | _coordinator_problems(engagement, data.coordinator_id)
    if problems:
        raise ValidationFailed(problems)
    values = data.values()
    values["solution"] = (values["solution"] or "").strip()
    changes = apply_changes(engagement, values, "engagement.agreement", actor=actor)
    _flush(engagement)
    return changes


# --- Direct creation (tracks without calls) -------------------------------------------------------------

DIRECT_TRACKS = frozenset({Track.diagnosis, Track.consulting, Track.training, Track.infrastructure})


def may_create_directly(programme: Programme, actor: User) -> bool:
    if programme.track not in DIRECT_TRACKS:
        return False
    if actor.role is Role.admin:
        return True
    if actor.role is Role.consortium_manager:
        return actor.scope_consortium_id == programme.consortium_id
    return actor.role is Role.coordinator and actor.institution_id == programme.institution_id


def create_direct(programme: Programme, firm: Firm, actor: User, override_reason: str = "") -> Engagement:
    """An engagement without an application, for tracks that take firms without a call (진단·컨설팅, 교육,
    GPU). The same guards as a selection: no participation ban in force, no duplicate support unless a
    manager overrides with a written reason."""
    from crm.applications.operations import link_firm
    from crm.applications.rules import support_conflicts
    from crm.sanctions.operations import active_sanctions

    if not may_create_directly(programme, actor):
        if programme.track not in DIRECT_TRACKS:
            raise RuleViolation(
                "needs_call",
                _l(
                    "Firms join %(track)s programmes through a call and selection.",
                    track=programme.track.title,
                ),
            )
        raise NotPermitted()
    bans = active_sanctions(firm)
    if bans:
        raise RuleViolation(
            "ineligible",
            _l(
                "%(firm)s is banned from participation until %(until)s.",
                firm=firm.name,
                until=bans[0].ends_on.isoformat() if bans[0].ends_on else "—",
            ),
        )
    override = (override_reason or "").strip()
    conflicts = support_conflicts(firm.id, programme)
    if conflicts:
        listed = "; ".join(c.description for c in conflicts)
        if not override:
            raise RuleViolation(
                "duplicate_support",
                _l("Duplicate support: %(conflicts)s", conflicts=listed),
                conflicts=[c.as_dict() for c in conflicts],
            )
        if actor.role not in (Role.admin, Role.consortium_manager):
            raise RuleViolation(
                "duplicate_support",
                _l(
                    "Only a consortium manager may override the duplicate-support guard: %(conflicts)s",
                    conflicts=listed,
                ),
                conflicts=[c.as_dict() for c in conflicts],
            )
    engagement = Engagement(
        firm_id=firm.id,
        programme_id=programme.id,
        status=EngagementStatus.pending_agreement,
        coordinator_id=actor.id if actor.role is Role.coordinator else None,
        duplicate_override_reason=override if conflicts else "",
        status_changed_at=utcnow(),
    )
    db.session.add(engagement)
    link_firm(firm, programme, LinkKind.engaged)
    db.session.flush()
    _add_history(engagement, None, EngagementStatus.pending_agreement, actor, str(_l("Created directly")))
    record_audit(
        "engagement.create",
        engagement,
        {
            "programme_id": programme.id,
            "firm_id": firm.id,
            "duplicate_override": engagement.duplicate_override_reason,
        },
        actor=actor,
    )
    return engagement


# --- The lifecycle --------------------------------------------------------------------------------------

E = EngagementStatus


class IllegalMove(OperationError):
    code = "illegal_transition"
    status = 409


def _add_history(
    engagement: Engagement,
    from_status: EngagementStatus | None,
    to_status: EngagementStatus,
    actor: User | None,
    reason: str,
) -> None:
    # Through the relationship, so a page rendered in the same request shows the new row.
    engagement.history.append(
        EngagementHistory(
            from_status=from_status,
            to_status=to_status,
            actor_id=actor.id if actor is not None else None,
            reason=reason,
        )
    )


def track_allows(engagement: Engagement, target: EngagementStatus) -> bool:
    """The table is the same for every track; tracks without money skip settlement, and money tracks must
    settle before closing."""
    if target is E.settlement:
        return engagement.has_settlement
    if target is E.closed and engagement.status is E.final_check:
        return not engagement.has_settlement
    return True


def available_moves(engagement: Engagement, actor: User) -> list[EngagementStatus]:
    if not may_work_on(engagement, actor):
        return []
    return [
        target
        for target in EngagementStatus
        if target in ENGAGEMENT_TRANSITIONS[engagement.status] and track_allows(engagement, target)
    ]


def _require_reason(reason: str, message: Any) -> None:
    if not reason:
        raise ValidationFailed({"reason": [message]})


def _pre_agreed(engagement: Engagement, actor: User, reason: str) -> None:
    data = AgreementData.of(engagement)
    problems = agreement_problems(engagement, data)
    for name, message in (
        ("agreed_on", _l("Enter the day the agreement was signed.")),
        ("starts_on", _l("Enter the agreement's start date.")),
        ("ends_on", _l("Enter the agreement's end date.")),
    ):
        if getattr(data, name) is None:
            problems.setdefault(name, []).append(message)
    if engagement.has_settlement and data.total_krw <= 0:
        problems.setdefault("gov_krw", []).append(_l("Enter the agreement's amounts before signing it."))
    if problems:
        raise RuleViolation(
            "agreement_incomplete",
            _l(
                "The agreement cannot be signed yet: %(problems)s",
                problems=" ".join(str(m) for messages in problems.values() for m in messages),
            ),
            fields=problems,
        )
    check_budget(engagement, data.gov_krw or 0, data.local_krw or 0)


def _pre_closed(engagement: Engagement, actor: User, reason: str) -> None:
    if engagement.has_settlement and engagement.settlement_spent_krw is None:
        raise RuleViolation(
            "settlement_missing",
            _l("Record the settlement (the amount spent) before closing the engagement."),
            fields={"settlement_spent_krw": [_l("Record the settlement first.")]},
        )


def _pre_cancelled(engagement: Engagement, actor: User, reason: str) -> None:
    _require_reason(reason, _l("Write why the selection is cancelled (선정취소)."))


def _pre_terminated(engagement: Engagement, actor: User, reason: str) -> None:
    _require_reason(reason, _l("Write why the agreement is terminated (협약해지 / 중도포기)."))


_PRECONDITIONS = {
    E.agreed: _pre_agreed,
    E.closed: _pre_closed,
    E.cancelled: _pre_cancelled,
    E.terminated: _pre_terminated,
}


def transition(
    engagement: Engagement,
    target: EngagementStatus | str,
    actor: User,
    reason: str = "",
    expected_version: int | None = None,
) -> Engagement:
    """One status move: permission, the transition table, the track, preconditions, write, history, audit,
    side effects (milestones, surveys, notices after commit). An illegal move changes nothing."""
    if not may_work_on(engagement, actor):
        raise NotPermitted()
    try:
        target = EngagementStatus(target)
    except ValueError:
        raise ValidationFailed({"to": [_l("Unknown status “%(value)s”.", value=target)]}) from None
    current = engagement.status
    try:
        check_transition(ENGAGEMENT_TRANSITIONS, current, target)
    except IllegalTransition:
        raise IllegalMove(
            _l(
                "An engagement cannot move from %(from)s to %(to)s.",
                **{"from": current.title, "to": target.title},
            )
        ) from None
    if not track_allows(engagement, target):
        if target is E.settlement:
            message = _l(
                "%(track)s engagements have no settlement; close them after the final check.",
                track=engagement.programme.track.title,
            )
        else:
            message = _l("This engagement must go through settlement before it closes.")
        raise IllegalMove(message)
    _check_version(engagement, expected_version)
    reason = (reason or "").strip()
    _PRECONDITIONS.get(target, lambda *_: None)(engagement, actor, reason)

    engagement.status = target
    engagement.status_changed_at = utcnow()
    if target is E.closed:
        engagement.closed_on = today_kst()
    _flush(engagement)
    _add_history(engagement, current, target, actor, reason)
    record_audit(
        "engagement.transition", engagement, {"status": [current, target], "reason": reason}, actor=actor
    )
    _after_move(engagement, target, actor, reason)
    return engagement


def _after_move(engagement: Engagement, target: EngagementStatus, actor: User, reason: str) -> None:
    from crm.milestones import operations as milestones

    if target is E.agreed:
        milestones.plan_from_templates(engagement, milestones.ANCHORS_ON_AGREEMENT, actor)
        milestones.plan_deadlines(engagement, actor)
        _notify(engagement, target, reason)
    elif target is E.closed:
        milestones.plan_from_templates(engagement, (milestones.ANCHOR_ON_CLOSING,), actor)
        _schedule_surveys(engagement, actor)
    elif target in (E.cancelled, E.terminated):
        milestones.waive_open(engagement, actor, reason)
        _notify(engagement, target, reason)


def _schedule_surveys(engagement: Engagement, actor: User) -> None:
    from crm.outcomes.operations import schedule_survey_rounds

    schedule_survey_rounds(engagement, actor)


# --- Termination ----------------------------------------------------------------------------------------


@dataclass
class TerminationData:
    reason: str = ""
    ban_until: date | None = None  # 참여제한 from today to this day
    clawback_krw: int | None = None  # 환수
    expected_version: int | None = None


def terminate(engagement: Engagement, data: TerminationData, actor: User) -> list[Sanction]:
    """협약해지 / 중도포기 in one operation: the move to `terminated` with its reason, and optionally a
    participation ban and a clawback (only managers impose sanctions). Returns the sanctions imposed."""
    from crm.sanctions.operations import SanctionData, impose_sanction, may_impose

    wants_sanction = data.ban_until is not None or data.clawback_krw is not None
    if wants_sanction and not may_impose(engagement.firm, actor):
        raise NotPermitted(_l("Only a consortium manager may impose a sanction with the termination."))
    transition(engagement, E.terminated, actor, data.reason, data.expected_version)
    sanctions: list[Sanction] = []
    basis = str(
        _l("Termination of engagement #%(id)s: %(reason)s", id=engagement.id, reason=data.reason.strip())
    )
    if data.ban_until is not None:
        sanctions.append(
            impose_sanction(
                engagement.firm,
                SanctionData(
                    kind=SanctionKind.participation_ban,
                    basis=basis,
                    starts_on=today_kst(),
                    ends_on=data.ban_until,
                    engagement_id=engagement.id,
                ),
                actor,
            )
        )
    if data.clawback_krw is not None:
        sanctions.append(
            impose_sanction(
                engagement.firm,
                SanctionData(
                    kind=SanctionKind.clawback,
                    basis=basis,
                    starts_on=today_kst(),
                    amount_krw=data.clawback_krw,
                    engagement_id=engagement.id,
                ),
                actor,
            )
        )
    return sanctions


# --- Settlement -----------------------------------------------------------------------------------------


def record_settlement(engagement: Engagement, spent_krw: int | None, actor: User) -> Engagement:
    """정산: what was spent of the public money; the rest is returned."""
    if not may_work_on(engagement, actor):
        raise NotPermitted()
    if engagement.status is not E.settlement:
        raise RuleViolation(
            "not_in_settlement", _l("The settlement is recorded while the engagement is in settlement.")
        )
    public = engagement.public_krw
    if spent_krw is None or spent_krw < 0:
        raise ValidationFailed({"settlement_spent_krw": [_l("Enter the amount spent, 0 원 or more.")]})
    if spent_krw > public:
        raise ValidationFailed(
            {
                "settlement_spent_krw": [
                    _l(
                        "The amount spent cannot exceed the public funds agreed (%(public)s).",
                        public=format_won(public),
                    )
                ]
            }
        )
    apply_changes(
        engagement,
        {"settlement_spent_krw": spent_krw, "settlement_returned_krw": public - spent_krw},
        "engagement.settlement",
        actor=actor,
    )
    return engagement


# --- Agreement changes (협약변경) -------------------------------------------------------------------------

CHANGE_OPEN_STATUSES = frozenset({E.agreed, E.in_progress, E.final_report})


def change_deadline(engagement: Engagement) -> date | None:
    """Changes must be filed at least one month before the agreement ends."""
    if engagement.ends_on is None:
        return None
    return one_month_before(engagement.ends_on)


def _proposed_values(engagement: Engagement, proposed: dict[str, Any]) -> AgreementData:
    data = AgreementData.of(engagement)
    for name, value in proposed.items():
        setattr(
            data, name, date.fromisoformat(value) if name in DATE_FIELDS and isinstance(value, str) else value
        )
    return data


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def request_change(
    engagement: Engagement, proposed: AgreementData, reason: str, actor: User
) -> AgreementChange:
    """Files a 협약변경 with the new terms and the reason; nothing changes until a manager approves it."""
    if not may_work_on(engagement, actor):
        raise NotPermitted()
    if engagement.status not in CHANGE_OPEN_STATUSES:
        raise RuleViolation(
            "change_not_open",
            _l(
                "Agreement changes can be requested while the engagement is agreed, in progress or in "
                "final report."
            ),
        )
    deadline = change_deadline(engagement)
    if deadline is not None and today_kst() > deadline:
        raise RuleViolation(
            "change_too_late",
            _l(
                "Agreement changes must be filed at least one month before the agreement ends (%(end)s): "
                "the last day was %(deadline)s.",
                end=engagement.ends_on.isoformat() if engagement.ends_on else "",
                deadline=deadline.isoformat(),
            ),
        )
    if db.session.scalar(
        sa.select(AgreementChange.id).where(
            AgreementChange.engagement_id == engagement.id, AgreementChange.status == ChangeStatus.requested
        )
    ):
        raise Conflict(_l("A change request for this engagement is already awaiting approval."))
    reason = (reason or "").strip()
    current = AgreementData.of(engagement)
    diff = {
        name: _jsonable(getattr(proposed, name))
        for name in CHANGEABLE_FIELDS
        if getattr(proposed, name) != getattr(current, name)
    }
    problems: dict[str, list[Any]] = {}
    if not reason:
        problems["reason"] = [_l("Write why the agreement changes.")]
    if not diff:
        problems["ends_on"] = [_l("Change at least one of the terms.")]
    if not problems:
        problems = agreement_problems(engagement, _proposed_values(engagement, diff))
    if problems:
        raise ValidationFailed(problems)
    change = AgreementChange(
        engagement_id=engagement.id, reason=reason, proposed=diff, requested_by_id=actor.id
    )
    db.session.add(change)
    db.session.flush()
    record_audit("agreement_change.request", change, {"proposed": diff, "reason": reason}, actor=actor)
    return change


def decide_change(change: AgreementChange, approve: bool, note: str, actor: User) -> AgreementChange:
    """A manager approves (the new terms apply, the budget is checked again, open milestones are re-planned)
    or refuses (with a note)."""
    from crm.milestones.operations import replan

    engagement = change.engagement
    if not may_approve_changes(engagement, actor):
        raise NotPermitted(_l("Only a consortium manager may approve or refuse agreement changes."))
    target = ChangeStatus.approved if approve else ChangeStatus.refused
    _check_change_move(change, target)
    note = (note or "").strip()
    if not approve and not note:
        raise ValidationFailed({"note": [_l("Write why the change is refused.")]})
    if approve:
        data = _proposed_values(engagement, change.proposed)
        problems = agreement_problems(engagement, data)
        if problems:
            raise ValidationFailed(problems)
        if engagement.status in COMMITTED_STATUSES:
            check_budget(engagement, data.gov_krw or 0, data.local_krw or 0)
        change.previous = {name: _jsonable(getattr(engagement, name)) for name in change.proposed}
        new_values = {name: getattr(data, name) for name in change.proposed}
        apply_changes(engagement, new_values, "engagement.agreement_change", actor=actor)
        _flush(engagement)
        if set(change.proposed) & {"starts_on", "ends_on"}:
            replan(engagement, actor)
    change.decision_note = note
    return _close_change(change, target, actor, {"note": note})


def withdraw_change(change: AgreementChange, actor: User) -> AgreementChange:
    if not may_work_on(change.engagement, actor):
        raise NotPermitted()
    _check_change_move(change, ChangeStatus.withdrawn)
    return _close_change(change, ChangeStatus.withdrawn, actor, {})


def _check_change_move(change: AgreementChange, target: ChangeStatus) -> None:
    try:
        check_transition(CHANGE_TRANSITIONS, change.status, target)
    except IllegalTransition:
        raise IllegalMove(
            _l("This change request was already %(status)s.", status=change.status.title)
        ) from None


def _close_change(
    change: AgreementChange, target: ChangeStatus, actor: User, audited: dict[str, Any]
) -> AgreementChange:
    """Records who ended the request and when (approved, refused or withdrawn), audited."""
    change.status = target
    change.decided_by_id = actor.id
    change.decided_at = utcnow()
    db.session.flush()
    record_audit(f"agreement_change.{target.value}", change, audited, actor=actor)
    return change


# --- Notices to the firm --------------------------------------------------------------------------------

# The status notice (crm/notices/templates.py) each move sends to the firm.
_NOTICE_EVENTS = {
    E.agreed: "agreement_guide",
    E.cancelled: "selection_cancelled",
    E.terminated: "termination",
}


def _notify(engagement: Engagement, target: EngagementStatus, reason: str) -> None:
    context = {
        "programme": engagement.programme.name,
        "agreed_on": engagement.agreed_on,
        "starts_on": engagement.starts_on,
        "ends_on": engagement.ends_on,
        "has_settlement": engagement.has_settlement,
        "reason": reason,
        "portal_path": portal_path("engagements.portal_detail", engagement_id=engagement.id),
    }
    queue_status_notice(engagement.firm, _NOTICE_EVENTS[target], context, about=engagement)


# --- For the pages ----------------------------------------------------------------------------------------


def funding_shares(engagement: Engagement) -> dict[str, Any]:
    """Each source's share of the total in %, and whether the 국비 share keeps to the 60 % rule."""
    total = engagement.total_krw
    own = engagement.self_cash_krw + engagement.self_inkind_krw

    def share(part: int) -> float:
        return round(part * 100 / total, 1) if total else 0.0

    return {
        "total": total,
        "gov": share(engagement.gov_krw),
        "local": share(engagement.local_krw),
        "own": share(own),
        "gov_ok": engagement.gov_krw * 100 <= total * GOV_SHARE_LIMIT_PERCENT,
    }


def documents_of(engagement: Engagement) -> list[Document]:
    return list(
        db.session.scalars(
            sa.select(Document)
            .where(Document.engagement_id == engagement.id)
            .order_by(Document.uploaded_at.desc(), Document.id.desc())
        )
    )
