"""The application lifecycle: start, edit, declare other support, and one `transition` driven by the table in
models.py (permission, preconditions, write, history row, audit event, notices after commit). Never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from crm.applications.models import (
    APPLICATION_TRANSITIONS,
    DECISIONS,
    EDITABLE_BY_FIRM,
    FIRM_MOVES,
    Application,
    ApplicationHistory,
    ApplicationStatus,
    DeclaredSupport,
)
from crm.applications.rules import duplicate_support_conflicts, eligibility_problems, selected_count
from crm.audit.operations import record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.enums import IllegalTransition, check_transition
from crm.core.exceptions import Conflict, NotPermitted, OperationError, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementHistory, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm, FirmLink, LinkKind
from crm.notices.templates import portal_path, queue_status_notice
from crm.programmes.models import Call, Programme, ReviewStage, Track

S = ApplicationStatus
MAX_ANSWER_LENGTH = 5000
STALE = _l("This application was changed by someone else in the meantime. Reload the page and try again.")
CALL_CLOSED = _l("This call is not accepting applications (it opens %(opens)s and closes %(closes)s, KST).")


class IllegalMove(OperationError):
    """A status move the transition table (or the programme's stages) does not allow; nothing changes."""

    code = "illegal_transition"
    status = 409


# --- Who may do what ------------------------------------------------------------------------------------


def _is_own_firm(actor: User, firm_id: int) -> bool:
    return actor.role is Role.firm_user and actor.firm_id is not None and actor.firm_id == firm_id


def _may_see(actor: User, application: Application) -> bool:
    return bool(
        db.session.scalar(
            sa.select(sa.literal(True)).where(Application.id == application.id, Application.visible_to(actor))
        )
    )


def is_staff_of(actor: User, application: Application) -> bool:
    """Case work on the application: admins, the consortium's managers, the institution's coordinators."""
    return actor.role in STAFF_ROLES and _may_see(actor, application)


def _may_staff_the_call(actor: User, call: Call) -> bool:
    if actor.role is Role.admin:
        return True
    programme = call.programme
    if actor.role is Role.consortium_manager:
        return actor.scope_consortium_id == programme.consortium_id
    return actor.role is Role.coordinator and actor.institution_id == programme.institution_id


def may_override_duplicate(actor: User, application: Application) -> bool:
    return actor.role is Role.admin or (
        actor.role is Role.consortium_manager
        and actor.scope_consortium_id == application.programme.consortium_id
    )


def _check_version(application: Application, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != application.version:
        raise Conflict(STALE, existing_id=application.id)


def flush_or_stale(application: Application) -> None:
    """Writes now; another transaction that changed the row since it was read turns into the same
    "changed by someone else" answer as a stale form (the version column makes the UPDATE match nothing)."""
    try:
        db.session.flush()
    except StaleDataError as error:
        raise Conflict(STALE, existing_id=application.id) from error


# --- Starting and editing --------------------------------------------------------------------------------


def _answer_problems(call: Call, answers: dict[str, Any], *, complete: bool) -> dict[str, list[Any]]:
    problems: dict[str, list[Any]] = {}
    known = {q["key"] for q in call.questions or []}
    for key in answers:
        if key not in known:
            problems.setdefault(f"answer_{key}", []).append(
                _l("This call has no question “%(key)s”.", key=key)
            )
    for question in call.questions or []:
        value = answers.get(question["key"])
        if value is not None and not isinstance(value, str):
            problems.setdefault(f"answer_{question['key']}", []).append(_l("Answer in text."))
        elif value and len(value) > MAX_ANSWER_LENGTH:
            problems.setdefault(f"answer_{question['key']}", []).append(
                _l("Answers are limited to %(n)s characters.", n=f"{MAX_ANSWER_LENGTH:,}")
            )
        elif complete and question.get("required") and not (value or "").strip():
            problems.setdefault(f"answer_{question['key']}", []).append(
                _l("Answer “%(label)s”; it is required.", label=question["label"])
            )
    return problems


def _clean_answers(answers: dict[str, Any]) -> dict[str, str]:
    return {key: value.strip() for key, value in answers.items() if isinstance(value, str)}


def start_application(
    call: Call, firm: Firm, actor: User, answers: dict[str, Any] | None = None
) -> Application:
    """A draft application of `firm` to `call`; one per firm and call."""
    if not (_is_own_firm(actor, firm.id) or _may_staff_the_call(actor, call)):
        raise NotPermitted()
    existing = db.session.scalar(
        sa.select(Application).where(Application.call_id == call.id, Application.firm_id == firm.id)
    )
    if existing is not None:
        raise Conflict(
            _l("%(firm)s has already applied to this call.", firm=firm.name), existing_id=existing.id
        )
    if not call.is_open():
        raise RuleViolation("call_closed", _call_closed_message(call))
    answers = answers or {}
    if problems := _answer_problems(call, answers, complete=False):
        raise ValidationFailed(problems)
    application = Application(call=call, firm=firm, answers=_clean_answers(answers), created_by_id=actor.id)
    db.session.add(application)
    link_firm(firm, call.programme, LinkKind.applied)
    db.session.flush()
    _add_history(application, None, S.draft, actor, "")
    record_audit("application.start", application, {"call_id": call.id, "firm_id": firm.id}, actor=actor)
    return application


def _call_closed_message(call: Call) -> str:
    from crm.core.formatting import format_datetime

    return str(
        CALL_CLOSED % {"opens": format_datetime(call.opens_at), "closes": format_datetime(call.closes_at)}
    )


def link_firm(firm: Firm, programme: Programme, kind: LinkKind) -> None:
    """Relates the firm to the programme's consortium and institution, so their staff see it."""
    exists = db.session.scalar(
        sa.select(FirmLink.id).where(
            FirmLink.firm_id == firm.id,
            FirmLink.consortium_id == programme.consortium_id,
            FirmLink.institution_id == programme.institution_id,
            FirmLink.kind == kind,
        )
    )
    if exists is None:
        db.session.add(
            FirmLink(
                firm_id=firm.id,
                consortium_id=programme.consortium_id,
                institution_id=programme.institution_id,
                kind=kind,
            )
        )


def _check_editable(application: Application, actor: User) -> None:
    if _is_own_firm(actor, application.firm_id):
        if application.status not in EDITABLE_BY_FIRM:
            raise RuleViolation(
                "not_editable",
                _l(
                    "The application can no longer be changed (status: %(status)s).",
                    status=application.status.public_title,
                ),
            )
        return
    if not is_staff_of(actor, application):
        raise NotPermitted()
    if application.status.is_final:
        raise RuleViolation(
            "not_editable",
            _l(
                "A decided or withdrawn application cannot be changed (status: %(status)s).",
                status=application.status.title,
            ),
        )


def update_answers(
    application: Application, answers: dict[str, Any], actor: User, expected_version: int | None = None
) -> Application:
    """Saves answers (a draft may leave required ones empty; submitting checks them)."""
    _check_editable(application, actor)
    _check_version(application, expected_version)
    if problems := _answer_problems(application.call, answers, complete=False):
        raise ValidationFailed(problems)
    new_answers = {**(application.answers or {}), **_clean_answers(answers)}
    changed = {
        k: [application.answers.get(k), v] for k, v in new_answers.items() if application.answers.get(k) != v
    }
    if changed:
        application.answers = new_answers
        flush_or_stale(application)
        record_audit("application.answers", application, changed, actor=actor)
    return application


@dataclass
class SupportData:
    agency: str
    programme_name: str
    track: Track | None
    started_on: date | None
    ended_on: date | None
    amount_krw: int | None = None


def add_declared_support(application: Application, data: SupportData, actor: User) -> DeclaredSupport:
    _check_editable(application, actor)
    problems: dict[str, list[Any]] = {}
    if not data.agency.strip():
        problems["agency"] = [_l("Name the agency that gave the support.")]
    if not data.programme_name.strip():
        problems["programme_name"] = [_l("Name the programme.")]
    if data.started_on is None:
        problems["started_on"] = [_l("Enter when the support started.")]
    elif data.ended_on is not None and data.ended_on < data.started_on:
        problems["ended_on"] = [_l("The end cannot be before the start.")]
    if data.amount_krw is not None and data.amount_krw < 0:
        problems["amount_krw"] = [_l("An amount cannot be negative.")]
    if problems:
        raise ValidationFailed(problems)
    support = DeclaredSupport(
        application=application,
        agency=data.agency.strip(),
        programme_name=data.programme_name.strip(),
        track=data.track,
        started_on=data.started_on,
        ended_on=data.ended_on,
        amount_krw=data.amount_krw,
    )
    db.session.add(support)
    db.session.flush()
    record_audit("application.declare_support", application, {"support_id": support.id}, actor=actor)
    return support


def remove_declared_support(support: DeclaredSupport, actor: User) -> None:
    application = support.application
    _check_editable(application, actor)
    record_audit(
        "application.remove_support",
        application,
        {"support": [support.agency, support.programme_name, support.started_on]},
        actor=actor,
    )
    db.session.delete(support)
    db.session.flush()


# --- Transitions -----------------------------------------------------------------------------------------


def review_path(programme: Programme) -> list[ApplicationStatus]:
    """The review stages this programme uses, in order: eligibility always, then the optional ones."""
    stages = [S.eligibility]
    if programme.uses_stage(ReviewStage.document_review):
        stages.append(S.document_review)
    if programme.uses_stage(ReviewStage.presentation):
        stages.append(S.presentation)
    return stages


def _stage_allows(application: Application, target: ApplicationStatus) -> bool:
    """The transition table allows shortcuts past unused stages; this keeps only the programme's own path."""
    current = application.status
    path = review_path(application.programme)
    if current not in path:
        return True
    following = path[path.index(current) + 1 :]
    if target in (S.document_review, S.presentation):
        return bool(following) and target == following[0]
    if target in DECISIONS:
        return not following
    return True


def _allowed_actor(application: Application, target: ApplicationStatus, actor: User) -> bool:
    if target in FIRM_MOVES:
        return _is_own_firm(actor, application.firm_id)
    return is_staff_of(actor, application)


def available_moves(application: Application, actor: User) -> list[ApplicationStatus]:
    """What `actor` may do next with the application, in lifecycle order; pages show one button each."""
    order = list(ApplicationStatus)
    moves = [
        target
        for target in APPLICATION_TRANSITIONS[application.status]
        if _stage_allows(application, target) and _allowed_actor(application, target, actor)
    ]
    return sorted(moves, key=order.index)


@dataclass
class TransitionOptions:
    reason: str = ""
    expected_version: int | None = None
    supplement_due_on: date | None = None
    confirm_over_capacity: bool = False
    override_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def transition(
    application: Application, target: ApplicationStatus, actor: User, options: TransitionOptions | None = None
) -> Application:
    """Moves the application to `target`. Raises before writing anything when the move is illegal, the
    actor may not make it, a precondition fails, or the form was loaded from an older version."""
    options = options or TransitionOptions()
    current = application.status
    try:
        check_transition(APPLICATION_TRANSITIONS, current, target)
    except IllegalTransition as error:
        raise IllegalMove(
            _l(
                "An application that is “%(current)s” cannot become “%(target)s”.",
                current=current.title,
                target=target.title,
            )
        ) from error
    if not _stage_allows(application, target):
        raise IllegalMove(
            _l(
                "This programme's next step after “%(current)s” is not “%(target)s”.",
                current=current.title,
                target=target.title,
            )
        )
    if not _allowed_actor(application, target, actor):
        raise NotPermitted()
    _check_version(application, options.expected_version)
    reason = (options.reason or "").strip()
    extra_audit = _PRECONDITIONS.get(target, _no_precondition)(application, actor, options, reason)

    application.status = target
    now = utcnow()
    if target is S.submitted:
        application.submitted_at = now
        application.supplement_message = ""
        application.supplement_due_on = None
    elif target is S.supplement_requested:
        application.supplement_message = reason
        application.supplement_due_on = options.supplement_due_on
    if target in DECISIONS or target is S.ineligible:
        application.decided_at = now
        application.decision_reason = reason
    flush_or_stale(application)
    _add_history(application, current, target, actor, reason)
    record_audit(
        "application.transition",
        application,
        {"status": [current.value, target.value], "reason": reason, **(extra_audit or {})},
        actor=actor,
    )
    if target is S.selected:
        create_engagement(application, actor, options.override_reason if extra_audit else "")
    _notify_status(application, current, target)
    return application


def _add_history(
    application: Application,
    current: ApplicationStatus | None,
    target: ApplicationStatus,
    actor: User,
    reason: str,
) -> None:
    db.session.add(
        ApplicationHistory(
            application_id=application.id,
            from_status=current,
            to_status=target,
            actor_id=actor.id,
            reason=reason,
        )
    )


def _no_precondition(*_args: Any) -> None:
    return None


def _require_reason(reason: str, message: Any) -> None:
    if not reason:
        raise ValidationFailed({"reason": [message]})


def _pre_submit(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    if application.status is S.draft and not application.call.is_open():
        raise RuleViolation("call_closed", _call_closed_message(application.call))
    due = application.supplement_due_on
    if application.status is S.supplement_requested and due is not None and today_kst() > due:
        raise RuleViolation(
            "supplement_overdue",
            _l("The supplement was due on %(day)s; contact the programme's staff.", day=due.isoformat()),
        )
    problems = _answer_problems(application.call, application.answers or {}, complete=True)
    for document in application.missing_document_kinds:
        problems.setdefault(f"document_{document['kind']}", []).append(
            _l("Attach “%(label)s”; it is required.", label=document["label"])
        )
    if problems:
        raise ValidationFailed(problems, _l("The application is incomplete; nothing was submitted."))


def _pre_eligibility(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    run_eligibility_check(application)


def _pre_supplement(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    problems: dict[str, list[Any]] = {}
    if not reason:
        problems["reason"] = [_l("Tell the firm what to supplement.")]
    if options.supplement_due_on is None:
        problems["supplement_due_on"] = [_l("Set the date the supplement is due.")]
    elif options.supplement_due_on < today_kst():
        problems["supplement_due_on"] = [_l("The due date cannot be in the past.")]
    if problems:
        raise ValidationFailed(problems)


def _pre_ineligible(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    _require_reason(reason, _l("Give the reason the application is ineligible; the firm is told."))


def _require_eligible(application: Application) -> None:
    problems = run_eligibility_check(application)
    if problems:
        raise RuleViolation(
            "ineligible",
            _l(
                "The eligibility check found problems: %(problems)s",
                problems=" ".join(p.message for p in problems),
            ),
            problems=[p.as_dict() for p in problems],
        )


def _pre_advance(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    """Leaving the eligibility stage needs a clean check; later stages were checked on the way in."""
    if application.status is S.eligibility:
        _require_eligible(application)


def _pre_rejected(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    _require_reason(reason, _l("Give the reason for the decision; the firm is told."))


def _pre_reserve(application: Application, actor: User, options: TransitionOptions, reason: str) -> None:
    _pre_advance(application, actor, options, reason)


def _pre_selected(
    application: Application, actor: User, options: TransitionOptions, reason: str
) -> dict[str, Any] | None:
    _require_eligible(application)  # again at selection: a ban or a closure may have come since
    extra: dict[str, Any] | None = None
    conflicts = duplicate_support_conflicts(application)
    if conflicts:
        override = (options.override_reason or "").strip()
        if not override:
            raise RuleViolation(
                "duplicate_support",
                _l("Duplicate support: %(conflicts)s", conflicts="; ".join(c.description for c in conflicts)),
                conflicts=[c.as_dict() for c in conflicts],
            )
        if not may_override_duplicate(actor, application):
            raise RuleViolation(
                "duplicate_support",
                _l(
                    "Only a consortium manager may override the duplicate-support guard: %(conflicts)s",
                    conflicts="; ".join(c.description for c in conflicts),
                ),
                conflicts=[c.as_dict() for c in conflicts],
            )
        extra = {"duplicate_override": override, "conflicts": [c.as_dict() for c in conflicts]}
        record_audit("application.duplicate_override", application, extra, actor=actor)
    capacity = application.call.capacity
    if selected_count(application.call_id) >= capacity and not options.confirm_over_capacity:
        raise RuleViolation(
            "over_capacity",
            _l("The call's capacity of %(n)s is already reached; confirm to select beyond it.", n=capacity),
            fields={"confirm_over_capacity": [_l("Tick to confirm selecting beyond the capacity.")]},
        )
    return extra


_PRECONDITIONS = {
    S.submitted: _pre_submit,
    S.eligibility: _pre_eligibility,
    S.supplement_requested: _pre_supplement,
    S.ineligible: _pre_ineligible,
    S.document_review: _pre_advance,
    S.presentation: _pre_advance,
    S.selected: _pre_selected,
    S.reserve: _pre_reserve,
    S.rejected: _pre_rejected,
}


def run_eligibility_check(application: Application) -> list:
    """Runs the automatic check and keeps its result on the application for the review page."""
    problems = eligibility_problems(application)
    application.eligibility_result = {
        "checked_at": utcnow().isoformat(),
        "problems": [p.as_dict() for p in problems],
    }
    return problems


def recheck_eligibility(application: Application, actor: User) -> list:
    if not is_staff_of(actor, application):
        raise NotPermitted()
    problems = run_eligibility_check(application)
    db.session.flush()
    record_audit("application.eligibility_check", application, {"problems": len(problems)}, actor=actor)
    return problems


def create_engagement(application: Application, actor: User | None, override_reason: str = "") -> Engagement:
    """The selected application's engagement, awaiting its agreement; its coordinator is the coordinator who
    selected it (a manager's selection leaves it to be assigned)."""
    engagement = Engagement(
        firm_id=application.firm_id,
        programme_id=application.call.programme_id,
        application_id=application.id,
        status=EngagementStatus.pending_agreement,
        coordinator_id=actor.id if actor is not None and actor.role is Role.coordinator else None,
        duplicate_override_reason=override_reason,
    )
    db.session.add(engagement)
    link_firm(application.firm, application.programme, LinkKind.engaged)
    db.session.flush()
    db.session.add(
        EngagementHistory(
            engagement_id=engagement.id,
            from_status=None,
            to_status=EngagementStatus.pending_agreement,
            actor_id=actor.id if actor is not None else None,
            reason=str(_l("Selected from application #%(id)s", id=application.id)),
        )
    )
    record_audit("engagement.create", engagement, {"application_id": application.id}, actor=actor)
    return engagement


# --- Notices to the firm ---------------------------------------------------------------------------------


def _status_notice(
    application: Application, previous: ApplicationStatus, target: ApplicationStatus
) -> tuple[str, dict[str, Any]] | None:
    """Which status notice (crm/notices/templates.py) a move sends, and its own variables; None for moves
    the firm is not told about (its own withdrawal, staff taking it into review)."""
    reason = application.decision_reason or ""
    if target is S.submitted:
        return "application_received", {"resubmitted": previous is S.supplement_requested}
    if target is S.supplement_requested:
        return "supplement_requested", {
            "due": application.supplement_due_on,
            "reason": application.supplement_message,
        }
    if previous is S.eligibility and target in (S.document_review, S.presentation):
        return "eligibility_result", {"passed": True, "next_stage": target.value, "reason": ""}
    if target is S.ineligible:
        return "eligibility_result", {"passed": False, "next_stage": None, "reason": reason}
    if target in DECISIONS:
        return "selection_result", {"outcome": target.value, "reason": reason}
    return None


def _notify_status(application: Application, previous: ApplicationStatus, target: ApplicationStatus) -> None:
    notice = _status_notice(application, previous, target)
    if notice is None:
        return
    event, values = notice
    context = {
        "call": application.call.title,
        "programme": application.programme.name,
        "portal_path": portal_path("applications.portal_detail", application_id=application.id),
        **values,
    }
    queue_status_notice(application.firm, event, context, about=application)


# --- Bulk decisions --------------------------------------------------------------------------------------


@dataclass
class BulkOutcome:
    done: list[Application] = field(default_factory=list)
    refused: list[tuple[Application, OperationError]] = field(default_factory=list)


def decide_many(
    applications: list[Application],
    decision: ApplicationStatus,
    actor: User,
    reason: str,
    confirm_over_capacity: bool = False,
) -> BulkOutcome:
    """Decides each application on its own (a savepoint each), so one refusal does not undo the others."""
    if decision not in DECISIONS:
        raise ValidationFailed({"decision": [_l("Choose select, reserve or reject.")]})
    if not applications:
        raise ValidationFailed({"application_ids": [_l("Tick at least one application.")]})
    if decision is S.selected and not confirm_over_capacity:
        call = applications[0].call
        if selected_count(call.id) + len(applications) > call.capacity:
            raise RuleViolation(
                "over_capacity",
                _l(
                    "Selecting %(n)s more would exceed the call's capacity of %(capacity)s; confirm to go "
                    "beyond it.",
                    n=len(applications),
                    capacity=call.capacity,
                ),
                fields={"confirm_over_capacity": [_l("Tick to confirm selecting beyond the capacity.")]},
            )
    outcome = BulkOutcome()
    options = TransitionOptions(reason=reason, confirm_over_capacity=True)
    for application in applications:
        savepoint = db.session.begin_nested()
        try:
            transition(application, decision, actor, options)
        except OperationError as error:
            savepoint.rollback()
            outcome.refused.append((application, error))
        else:
            savepoint.commit()
            outcome.done.append(application)
    return outcome
