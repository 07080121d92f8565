"""Evaluation of applications: assigning evaluators, the conflict-of-interest declaration, scoring, and the
results (mean and per-evaluator normalised mean) and ranking built from them. Never commits."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from crm.applications.models import Application, ApplicationStatus
from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.core.enums import LabelledEnum, check_transition
from crm.core.exceptions import Conflict, NotPermitted, RuleViolation, ValidationFailed
from crm.evaluations import scoring
from crm.evaluations.models import ASSIGNMENT_TRANSITIONS, AssignmentStatus, EvaluatorAssignment, Score
from crm.extensions import db
from crm.programmes.models import Call

S = ApplicationStatus
A = AssignmentStatus

# Evaluators may be assigned ahead, during the eligibility check, and until a decision is taken.
ASSIGNABLE_STATUSES = frozenset({S.eligibility, S.document_review, S.presentation})
# Scores may change only while the application is still under review; a decision freezes them.
SCORING_STATUSES = ASSIGNABLE_STATUSES
# The applications a call's ranking lists (and whose totals calibrate each evaluator).
RANKED_STATUSES = frozenset({S.document_review, S.presentation, S.selected, S.reserve, S.rejected})
# Rows of the ranking a bulk decision can still move.
DECIDABLE_STATUSES = frozenset({S.document_review, S.presentation, S.reserve})
# A manager may take back an assignment until scores are submitted; a recusal stays on record.
REMOVABLE = frozenset({A.awaiting_declaration, A.scoring})
MAX_COMMENT_LENGTH = 5000
MAX_STATEMENT_LENGTH = 2000

STALE = _l("This evaluation was changed by someone else — reload the page.")
CLOSED = _l("This application is no longer being evaluated; its scores can no longer change.")


class DueState(LabelledEnum):
    """What an evaluator still owes on an assignment (there is no deadline column: the application's stage
    decides whether the work is still open)."""

    declaration_due = "declaration_due"
    scores_due = "scores_due"
    done = "done"
    closed = "closed"
    removed = "removed"

    @classmethod
    def _titles(cls):
        return {
            cls.declaration_due: _l("Declaration due"),
            cls.scores_due: _l("Scores due"),
            cls.done: _l("Done"),
            cls.closed: _l("Closed without scores"),
            cls.removed: _l("Removed"),
        }

    @property
    def badge(self) -> str:
        return {"declaration_due": "badge-warn", "scores_due": "badge-warn", "done": "badge-ok"}.get(
            self.value, ""
        )


def due_state(assignment: EvaluatorAssignment) -> DueState:
    if assignment.status is A.recused:
        return DueState.removed
    if assignment.status is A.submitted:
        return DueState.done
    if assignment.application.status not in SCORING_STATUSES:
        return DueState.closed
    return DueState.declaration_due if assignment.status is A.awaiting_declaration else DueState.scores_due


def score_field(key: str) -> str:
    """The form field (and error key) of one criterion's score; prefixed so no criterion key can clash with
    the form's own fields (comment, version …)."""
    return f"score_{key}"


def _require(allowed: bool) -> None:
    if not allowed:
        raise NotPermitted()


# --- Who sees what -----------------------------------------------------------------------------------------


def visible_assignments(user: Any) -> sa.ColumnElement[bool]:
    """An evaluator its own assignments (in any status: it must see that it was assigned in order to declare);
    staff the assignments of the applications they see; nobody else any."""
    if user.role is Role.evaluator:
        return EvaluatorAssignment.evaluator_id == user.id
    if user.role in (Role.admin, Role.consortium_manager, Role.coordinator):
        return EvaluatorAssignment.application_id.in_(
            sa.select(Application.id).where(Application.visible_to(user))
        )
    return sa.false()


def may_manage_evaluators(call: Call, user: Any) -> bool:
    return call.programme.can_manage(user)


def may_see_ranking(call: Call, user: Any) -> bool:
    """Admins; the consortium's managers; coordinators of the institution running the call's programme."""
    if user.role in (Role.admin, Role.consortium_manager):
        return call.programme.can_manage(user)
    return (
        user.role is Role.coordinator
        and user.institution_id is not None
        and user.institution_id == call.programme.institution_id
    )


def active_evaluators() -> sa.Select[tuple[User]]:
    return sa.select(User).where(User.role == Role.evaluator, User.is_active.is_(True)).order_by(User.name)


def assignments_of(evaluator: User) -> sa.Select[tuple[EvaluatorAssignment]]:
    """The evaluator's assignments, the ones needing action first, newest first within a status."""
    order = sa.case(
        {A.awaiting_declaration: 0, A.scoring: 1, A.submitted: 2, A.recused: 3},
        value=EvaluatorAssignment.status,
        else_=4,
    )
    return (
        sa.select(EvaluatorAssignment)
        .where(EvaluatorAssignment.evaluator_id == evaluator.id)
        .options(selectinload(EvaluatorAssignment.application).selectinload(Application.call))
        .order_by(order, EvaluatorAssignment.assigned_at.desc(), EvaluatorAssignment.id.desc())
    )


# --- Assigning ---------------------------------------------------------------------------------------------


def assign_evaluators(
    applications: Sequence[Application], evaluators: Sequence[User], actor: User
) -> list[EvaluatorAssignment]:
    """Assigns every evaluator to every application. A pair already assigned is left as it is, and a pair
    whose evaluator declared a conflict is never assigned again. Returns the new assignments."""
    problems: dict[str, list[Any]] = {}
    if not applications:
        problems["application_ids"] = [_l("Choose at least one application.")]
    if not evaluators:
        problems["evaluator_ids"] = [_l("Choose at least one evaluator.")]
    if problems:
        raise ValidationFailed(problems)
    for application in applications:
        _require(application.call.programme.can_manage(actor))
    for call in {application.call for application in applications}:
        if not call.criteria:
            raise RuleViolation(
                "no_criteria",
                _l(
                    "Add evaluation criteria to the call “%(title)s” before assigning evaluators.",
                    title=call.title,
                ),
            )
    application_errors = [
        _l(
            "%(firm)s: the application is at “%(status)s”; evaluators are assigned during the eligibility "
            "check, document review or presentation review.",
            firm=application.firm.name,
            status=application.status.title,
        )
        for application in applications
        if application.status not in ASSIGNABLE_STATUSES
    ]
    evaluator_errors = [
        _l("%(name)s is not an active evaluator.", name=user.name)
        for user in evaluators
        if user.role is not Role.evaluator or not user.is_active
    ]
    if application_errors:
        problems["application_ids"] = application_errors
    if evaluator_errors:
        problems["evaluator_ids"] = evaluator_errors
    if problems:
        raise ValidationFailed(problems)

    existing = set(
        db.session.execute(
            sa.select(EvaluatorAssignment.application_id, EvaluatorAssignment.evaluator_id).where(
                EvaluatorAssignment.application_id.in_([a.id for a in applications]),
                EvaluatorAssignment.evaluator_id.in_([u.id for u in evaluators]),
            )
        ).tuples()
    )
    created: list[EvaluatorAssignment] = []
    for application in applications:
        for evaluator in evaluators:
            if (application.id, evaluator.id) in existing:
                continue
            assignment = EvaluatorAssignment(
                application=application,
                evaluator=evaluator,
                status=A.awaiting_declaration,
                assigned_by_id=actor.id,
            )
            db.session.add(assignment)
            created.append(assignment)
    db.session.flush()
    for assignment in created:
        record_audit(
            "evaluation.assign",
            assignment,
            {"application_id": assignment.application_id, "evaluator_id": assignment.evaluator_id},
            actor=actor,
        )
    return created


def unassign(assignment: EvaluatorAssignment, actor: User) -> None:
    """Takes an evaluator off an application, with any draft scores. Not once scores are submitted (they
    count in the results), and not after a recusal (the declared conflict stays on record)."""
    _require(assignment.application.call.programme.can_manage(actor))
    if assignment.status is A.submitted:
        raise RuleViolation(
            "already_submitted",
            _l(
                "%(name)s has already submitted scores; the assignment can no longer be removed.",
                name=assignment.evaluator.name,
            ),
        )
    if assignment.status is A.recused:
        raise RuleViolation(
            "recused",
            _l(
                "%(name)s declared a conflict of interest; that record is kept.",
                name=assignment.evaluator.name,
            ),
        )
    record_audit(
        "evaluation.unassign",
        assignment,
        {
            "application_id": assignment.application_id,
            "evaluator_id": assignment.evaluator_id,
            "status": assignment.status,
            "draft_scores": {s.criterion_key: s.value for s in assignment.scores},
        },
        actor=actor,
    )
    db.session.delete(assignment)
    db.session.flush()


# --- Declaring ---------------------------------------------------------------------------------------------


def declare(
    assignment: EvaluatorAssignment, has_conflict: bool, statement: str, actor: User
) -> EvaluatorAssignment:
    """The evaluator's conflict-of-interest declaration. No conflict opens the application for scoring; a
    conflict removes the assignment from the evaluation (recused) and keeps the statement on record."""
    _require(actor.id == assignment.evaluator_id)
    statement = (statement or "").strip()
    if has_conflict:
        if not statement:
            raise ValidationFailed(
                {
                    "statement": [
                        _l("Describe the conflict of interest, e.g. a business or family relationship.")
                    ]
                }
            )
        if len(statement) > MAX_STATEMENT_LENGTH:
            raise ValidationFailed(
                {
                    "statement": [
                        _l("Keep the statement under %(n)s characters.", n=f"{MAX_STATEMENT_LENGTH:,}")
                    ]
                }
            )
    target = A.recused if has_conflict else A.scoring
    check_transition(ASSIGNMENT_TRANSITIONS, assignment.status, target)
    if not has_conflict and assignment.application.status not in SCORING_STATUSES:
        raise RuleViolation("evaluation_closed", CLOSED)
    values = {
        "status": target,
        "declared_at": utcnow(),
        "conflict_statement": statement if has_conflict else "",
    }
    apply_changes(assignment, values, "evaluation.declare", actor)
    return assignment


# --- Scoring -----------------------------------------------------------------------------------------------


def _format_number(value: float) -> str:
    return f"{value:g}"


def _score_problems(
    criteria: list[dict[str, Any]], values: Mapping[str, float | None], comment: str, complete: bool
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    cleaned: dict[str, float] = {}
    problems: dict[str, list[Any]] = {}
    for criterion in criteria:
        name = score_field(criterion["key"])
        value = values.get(criterion["key"])
        if value is None:
            if complete:
                problems[name] = [
                    _l("Enter a score for “%(label)s” before submitting.", label=criterion["label"])
                ]
            continue
        value = float(value)
        if not math.isfinite(value) or not 0 <= value <= criterion["max_score"]:
            problems[name] = [
                _l(
                    "Enter a score for “%(label)s” from 0 to %(max)s.",
                    label=criterion["label"],
                    max=_format_number(criterion["max_score"]),
                )
            ]
        elif round(value, 2) != value:
            problems[name] = [_l("Use at most two decimal places, e.g. 7.25.")]
        else:
            cleaned[criterion["key"]] = value
    if len(comment) > MAX_COMMENT_LENGTH:
        problems["comment"] = [_l("Keep the comment under %(n)s characters.", n=f"{MAX_COMMENT_LENGTH:,}")]
    return cleaned, problems


def _check_may_score(assignment: EvaluatorAssignment, actor: User, expected_version: int | None) -> None:
    _require(actor.id == assignment.evaluator_id)
    if assignment.status is not A.scoring:
        raise RuleViolation(
            "not_scoring",
            _l(
                "Scores can be entered only after declaring no conflict of interest, "
                "and until they are submitted."
            ),
        )
    if assignment.application.status not in SCORING_STATUSES:
        raise RuleViolation("evaluation_closed", CLOSED)
    if expected_version is None or expected_version != assignment.version:
        raise Conflict(STALE, existing_id=assignment.id)


def _write_scores(assignment: EvaluatorAssignment, cleaned: dict[str, float], comment: str) -> dict[str, Any]:
    """Replaces the assignment's scores by `cleaned` (a criterion left empty loses its draft score) and
    returns the audit changes."""
    current = {score.criterion_key: score for score in assignment.scores}
    changes: dict[str, Any] = {}
    for key, score in current.items():
        if key not in cleaned:
            changes[key] = [score.value, None]
            assignment.scores.remove(score)
    for key, value in cleaned.items():
        score = current.get(key)
        if score is None:
            assignment.scores.append(Score(criterion_key=key, value=value))
            changes[key] = [None, value]
        elif score.value != value:
            changes[key] = [score.value, value]
            score.value = value
    audit: dict[str, Any] = {"scores": changes} if changes else {}
    if assignment.comment != comment:
        audit["comment"] = [assignment.comment, comment]
    assignment.comment = comment
    # Scores are child rows: touching the assignment row makes every save bump its version, so a second
    # browser tab holding the old version is refused.
    flag_modified(assignment, "comment")
    return audit


def _flush(assignment: EvaluatorAssignment) -> None:
    try:
        db.session.flush()
    except StaleDataError as error:  # another transaction saved the assignment since it was read
        raise Conflict(STALE, existing_id=assignment.id) from error


def save_scores(
    assignment: EvaluatorAssignment,
    values: Mapping[str, float | None],
    comment: str,
    actor: User,
    expected_version: int | None,
    submit: bool = False,
) -> EvaluatorAssignment:
    """Saves the evaluator's scores (a draft: criteria may be left empty unless `submit`). `values` maps
    criterion keys to scores between 0 and the criterion's max_score; `expected_version` is the version the
    form was loaded with, so a save from an outdated page is refused instead of overwriting."""
    _check_may_score(assignment, actor, expected_version)
    criteria = assignment.application.call.criteria or []
    if submit and not criteria:
        raise RuleViolation("no_criteria", _l("This call has no evaluation criteria to score yet."))
    comment = (comment or "").strip()
    cleaned, problems = _score_problems(criteria, values, comment, complete=submit)
    if problems:
        raise ValidationFailed(problems)
    audit = _write_scores(assignment, cleaned, comment)
    if submit:
        check_transition(ASSIGNMENT_TRANSITIONS, assignment.status, A.submitted)
        assignment.status = A.submitted
        assignment.submitted_at = utcnow()
        audit["status"] = [A.scoring, A.submitted]
        audit["total"] = round(scoring.weighted_total(cleaned, criteria), 4)
    _flush(assignment)
    if audit:
        record_audit("evaluation.submit" if submit else "evaluation.save", assignment, audit, actor=actor)
    return assignment


def submit_scores(
    assignment: EvaluatorAssignment,
    values: Mapping[str, float | None],
    comment: str,
    actor: User,
    expected_version: int | None,
) -> EvaluatorAssignment:
    """Saves the scores and hands them in (scoring → submitted): every criterion must be scored."""
    return save_scores(assignment, values, comment, actor, expected_version, submit=True)


# --- Results -----------------------------------------------------------------------------------------------


@dataclass
class EvaluatorResult:
    evaluator: User
    total: float
    z: float
    comment: str
    scores: dict[str, float]


@dataclass
class ApplicationResult:
    """The results of one application once every (non-recused) evaluator has submitted."""

    application: Application
    mean_raw: float
    mean_z: float
    evaluations: list[EvaluatorResult] = field(default_factory=list)


@dataclass
class RankedApplication:
    application: Application
    submitted: int
    expected: int  # assignments that count: every one but the recused
    result: ApplicationResult | None = None
    rank: int | None = None

    @property
    def is_complete(self) -> bool:
        return self.result is not None

    @property
    def is_decidable(self) -> bool:
        return self.application.status in DECIDABLE_STATUSES


def _counting_assignments(application_ids: Iterable[int]) -> list[EvaluatorAssignment]:
    ids = list(application_ids)
    if not ids:
        return []
    return list(
        db.session.scalars(
            sa.select(EvaluatorAssignment)
            .where(
                EvaluatorAssignment.application_id.in_(ids),
                EvaluatorAssignment.status != A.recused,
            )
            .options(selectinload(EvaluatorAssignment.scores), selectinload(EvaluatorAssignment.evaluator))
            .order_by(EvaluatorAssignment.id)
        )
    )


def _totals(
    assignments: Iterable[EvaluatorAssignment], criteria: list[dict[str, Any]]
) -> dict[tuple[int, int], float]:
    totals: dict[tuple[int, int], float] = {}
    if not criteria:
        return totals
    for assignment in assignments:
        if assignment.status is not A.submitted:
            continue
        scores = {s.criterion_key: s.value for s in assignment.scores}
        try:
            totals[(assignment.evaluator_id, assignment.application_id)] = scoring.weighted_total(
                scores, criteria
            )
        except ValueError:  # criteria changed after submission (the call form refuses this); leave it out
            continue
    return totals


def _complete(assignments: list[EvaluatorAssignment], totals: dict[tuple[int, int], float]) -> bool:
    return bool(assignments) and all((a.evaluator_id, a.application_id) in totals for a in assignments)


def _result(
    application: Application,
    assignments: list[EvaluatorAssignment],
    normalised: scoring.NormalisedResult,
) -> ApplicationResult:
    evaluations = [
        EvaluatorResult(
            evaluator=a.evaluator,
            total=normalised.raw_by_evaluator[a.evaluator_id],
            z=normalised.z_by_evaluator[a.evaluator_id],
            comment=a.comment,
            scores={s.criterion_key: s.value for s in a.scores},
        )
        for a in assignments
    ]
    return ApplicationResult(
        application=application,
        mean_raw=normalised.mean_raw,
        mean_z=normalised.mean_z,
        evaluations=evaluations,
    )


def _ranked_application_ids(call: Call, also: int | None = None) -> list[int]:
    condition = Application.status.in_(RANKED_STATUSES)
    if also is not None:
        condition = sa.or_(condition, Application.id == also)
    return list(
        db.session.scalars(sa.select(Application.id).where(Application.call_id == call.id, condition))
    )


def results_for_application(application: Application) -> ApplicationResult | None:
    """Mean total and mean z of the application, or None until every evaluator that counts (all but the
    recused, at least one) has submitted. Each evaluator's z is computed over all the applications of the
    call it scored, so the figures move as other evaluations come in."""
    call = application.call
    assignments = _counting_assignments(_ranked_application_ids(call, also=application.id))
    totals = _totals(assignments, call.criteria or [])
    own = [a for a in assignments if a.application_id == application.id]
    if not _complete(own, totals):
        return None
    normalised = scoring.normalise(totals)
    return _result(application, own, normalised[application.id])


def ranking_for_call(call: Call) -> list[RankedApplication]:
    """The call's reviewed applications: those with complete results first, best mean z first; then the
    ones still waiting for scores, with their progress."""
    applications = list(
        db.session.scalars(
            sa.select(Application)
            .where(Application.call_id == call.id, Application.status.in_(RANKED_STATUSES))
            .options(selectinload(Application.firm))
            .order_by(Application.id)
        )
    )
    assignments = _counting_assignments(a.id for a in applications)
    by_application: dict[int, list[EvaluatorAssignment]] = defaultdict(list)
    for assignment in assignments:
        by_application[assignment.application_id].append(assignment)
    totals = _totals(assignments, call.criteria or [])
    normalised = scoring.normalise(totals)

    complete: list[RankedApplication] = []
    incomplete: list[RankedApplication] = []
    for application in applications:
        own = by_application.get(application.id, [])
        row = RankedApplication(
            application=application,
            submitted=sum(1 for a in own if (a.evaluator_id, a.application_id) in totals),
            expected=len(own),
        )
        if _complete(own, totals):
            row.result = _result(application, own, normalised[application.id])
            complete.append(row)
        else:
            incomplete.append(row)
    complete.sort(key=lambda row: scoring.rank_key(normalised[row.application.id]))
    for position, row in enumerate(complete, 1):
        row.rank = position
    return complete + incomplete
