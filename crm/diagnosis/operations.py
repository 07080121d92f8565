"""Diagnosis verbs: start (or resume) a firm's diagnosis of a year, save answers, submit, reopen; and the
queries the pages ask. One result per firm per year. Never commits.

Who: staff (admin, consortium manager, coordinator) who see the firm's company data, and the firm's own
portal users for their firm. Only staff reopen a submitted diagnosis.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from crm.audit.operations import apply_changes, diff, record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.questionnaire import (
    SCALE_VALUES,
    Questionnaire,
    QuestionnaireError,
    current_questionnaire,
    questionnaire_for,
)
from crm.diagnosis.scoring import dimension_scores, level_for, overall_score, recommend_track
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Programme, ProgrammeYear, Track

FIRST_YEAR = 2000  # diagnoses of earlier years are typing mistakes


def answer_field(question_id: str) -> str:
    """The form field (and error key) of a question; prefixed so an id can never clash with a form
    attribute such as `data`."""
    return f"q_{question_id}"


# --- permissions ----------------------------------------------------------------------------------------


def _firm_visible(firm: Firm, actor: User) -> bool:
    return db.session.scalar(sa.select(Firm.id).where(Firm.id == firm.id, Firm.visible_to(actor))) is not None


def may_fill(firm: Firm, actor: User) -> bool:
    if actor.role is Role.firm_user:
        return actor.firm_id is not None and actor.firm_id == firm.id and _firm_visible(firm, actor)
    return actor.role in STAFF_ROLES and _firm_visible(firm, actor)


def may_reopen(result: DiagnosisResult, actor: User) -> bool:
    return actor.role in STAFF_ROLES and _firm_visible(result.firm, actor)


def _require_fill(firm: Firm, actor: User) -> None:
    if not may_fill(firm, actor):
        raise NotPermitted()


def _require_draft(result: DiagnosisResult) -> None:
    if result.status is not DiagnosisStatus.draft:
        raise RuleViolation(
            "already_submitted",
            _l("This diagnosis was already submitted; its answers can no longer change."),
        )


def _questionnaire_of(result: DiagnosisResult) -> Questionnaire:
    try:
        return questionnaire_for(result.questionnaire_version)
    except QuestionnaireError:
        raise RuleViolation(
            "questionnaire_version",
            _l(
                "This diagnosis was filled with questionnaire %(version)s, which is no longer in use.",
                version=result.questionnaire_version,
            ),
        ) from None


# --- queries --------------------------------------------------------------------------------------------


def result_for(firm: Firm, year: int) -> DiagnosisResult | None:
    return db.session.scalar(
        sa.select(DiagnosisResult).where(DiagnosisResult.firm_id == firm.id, DiagnosisResult.year == year)
    )


def results_statement(firm: Firm) -> sa.Select:
    """The firm's results, newest year first (for a paginated list)."""
    return (
        sa.select(DiagnosisResult)
        .where(DiagnosisResult.firm_id == firm.id)
        .order_by(DiagnosisResult.year.desc(), DiagnosisResult.id.desc())
    )


def submitted_results(firm: Firm, limit: int | None = None) -> list[DiagnosisResult]:
    """The firm's submitted results, oldest year first; `limit` keeps the most recent ones."""
    statement = (
        sa.select(DiagnosisResult)
        .where(DiagnosisResult.firm_id == firm.id, DiagnosisResult.status == DiagnosisStatus.submitted)
        .order_by(DiagnosisResult.year.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(reversed(db.session.scalars(statement).all()))


def latest_submitted(firm: Firm) -> DiagnosisResult | None:
    results = submitted_results(firm, limit=1)
    return results[0] if results else None


def previous_submitted(result: DiagnosisResult) -> DiagnosisResult | None:
    """The firm's submitted result of the closest earlier year: the baseline progress is measured from."""
    return db.session.scalar(
        sa.select(DiagnosisResult)
        .where(
            DiagnosisResult.firm_id == result.firm_id,
            DiagnosisResult.year < result.year,
            DiagnosisResult.status == DiagnosisStatus.submitted,
        )
        .order_by(DiagnosisResult.year.desc())
        .limit(1)
    )


def completed_tracks(firm: Firm, questionnaire: Questionnaire) -> set[Track]:
    """The tracks of the firm's engagements that finished (closed or in follow-up), in any consortium: the
    recommendation is about the firm, not about what one user happens to see."""
    return set(
        db.session.scalars(
            sa.select(Programme.track)
            .join(Engagement, Engagement.programme_id == Programme.id)
            .where(
                Engagement.firm_id == firm.id,
                Engagement.status.in_(sorted(questionnaire.completed_statuses)),
            )
            .distinct()
        )
    )


def diagnosis_engagement_id(firm: Firm, year: int) -> int | None:
    """The firm's diagnosis-track engagement of a programme year starting in `year`, if it has one: the
    result is then the deliverable of that engagement."""
    return db.session.scalar(
        sa.select(Engagement.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
        .where(
            Engagement.firm_id == firm.id,
            Programme.track == Track.diagnosis,
            Engagement.status.not_in([EngagementStatus.cancelled, EngagementStatus.terminated]),
            ProgrammeYear.starts_on >= date(year, 1, 1),
            ProgrammeYear.starts_on <= date(year, 12, 31),
        )
        .order_by(Engagement.id)
        .limit(1)
    )


# --- answers --------------------------------------------------------------------------------------------


def _answer_value(value: Any) -> int | None:
    """An answer as stored: an int 1–5, or None for blank. Raises ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, str):
        value = int(value.strip())
    if not isinstance(value, int) or value not in SCALE_VALUES:
        raise ValueError(value)
    return value


def _merged_answers(
    result: DiagnosisResult, answers: Mapping[str, Any], questionnaire: Questionnaire
) -> dict[str, int]:
    """The stored answers with `answers` applied: a value sets, a blank clears, a question left out keeps
    what it had."""
    known = set(questionnaire.question_ids)
    merged = {key: value for key, value in (result.answers or {}).items() if key in known}
    problems: dict[str, list[Any]] = {}
    for question_id, raw in answers.items():
        if question_id not in known:
            problems[answer_field(str(question_id))] = [
                _l("There is no question %(id)s in this questionnaire.", id=question_id)
            ]
            continue
        try:
            value = _answer_value(raw)
        except (TypeError, ValueError):
            problems[answer_field(question_id)] = [_l("Choose an answer from 1 to 5.")]
            continue
        if value is None:
            merged.pop(question_id, None)
        else:
            merged[question_id] = value
    if problems:
        raise ValidationFailed(problems)
    # In questionnaire order, so the stored JSON and the audit trail read like the form.
    return {qid: merged[qid] for qid in questionnaire.question_ids if qid in merged}


# --- verbs ----------------------------------------------------------------------------------------------


def start_or_resume(firm: Firm, year: int | None, actor: User) -> DiagnosisResult:
    """The firm's diagnosis of `year` (default: this year in Korea). An existing one, draft or submitted, is
    returned as it is; a submitted one is not started again. Two people starting at once get the same row:
    the unique (firm, year) constraint decides and the loser reads the winner's row."""
    _require_fill(firm, actor)
    this_year = today_kst().year
    year = this_year if year is None else year
    if isinstance(year, bool) or not isinstance(year, int) or not FIRST_YEAR <= year <= this_year:
        raise ValidationFailed(
            {"year": [_l("Choose a year from %(first)s to %(last)s.", first=FIRST_YEAR, last=this_year)]}
        )
    existing = result_for(firm, year)
    if existing is not None:
        return existing
    questionnaire = current_questionnaire()
    result = DiagnosisResult(
        firm_id=firm.id,
        year=year,
        engagement_id=diagnosis_engagement_id(firm, year),
        questionnaire_version=questionnaire.version,
        status=DiagnosisStatus.draft,
        answers={},
        dimension_scores={},
        filled_by_id=actor.id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(result)
            db.session.flush()
    except IntegrityError:
        existing = result_for(firm, year)
        if existing is None:
            raise
        return existing
    record_audit(
        "diagnosis.start",
        result,
        {"firm_id": firm.id, "year": year, "questionnaire_version": questionnaire.version},
        actor=actor,
    )
    return result


def save_answers(result: DiagnosisResult, answers: Mapping[str, Any], actor: User) -> DiagnosisResult:
    """Saves some or all answers of a draft ({question id: 1–5 or blank}); unknown ids are refused."""
    _require_fill(result.firm, actor)
    _require_draft(result)
    questionnaire = _questionnaire_of(result)
    merged = _merged_answers(result, answers, questionnaire)
    apply_changes(result, {"answers": merged, "filled_by_id": actor.id}, "diagnosis.save", actor)
    return result


def submit(result: DiagnosisResult, actor: User, answers: Mapping[str, Any] | None = None) -> DiagnosisResult:
    """Applies `answers` (if given), then scores the diagnosis: every question must be answered (one error
    per unanswered question, under its field). Computes the dimension scores, overall, level and the
    recommended next track (see crm.diagnosis.scoring)."""
    _require_fill(result.firm, actor)
    _require_draft(result)
    questionnaire = _questionnaire_of(result)
    merged = _merged_answers(result, answers or {}, questionnaire)
    missing = [q for q in questionnaire.questions if q.id not in merged]
    if missing:
        raise ValidationFailed(
            {answer_field(q.id): [_l("Answer this question.")] for q in missing},
            message=_l("Answer every question before submitting: %(count)s still open.", count=len(missing)),
        )
    scores = dimension_scores(questionnaire, merged)
    overall = overall_score(scores)
    level = level_for(overall, questionnaire)
    track = recommend_track(level, completed_tracks(result.firm, questionnaire), questionnaire)
    apply_changes(
        result,
        {
            "answers": merged,
            "dimension_scores": scores,
            "overall_score": overall,
            "level": level,
            "recommended_track": track,
            "status": DiagnosisStatus.submitted,
            "submitted_at": utcnow(),
            "filled_by_id": actor.id,
        },
        "diagnosis.submit",
        actor,
    )
    return result


def reopen(result: DiagnosisResult, actor: User, reason: str) -> DiagnosisResult:
    """Turns a submitted diagnosis back into a draft so its answers can be corrected (staff only, with a
    reason). The answers stay; the scores, level and recommendation are cleared until it is submitted again,
    and the audit event keeps what they were."""
    if not may_reopen(result, actor):
        raise NotPermitted(_l("Only the programme's staff may reopen a submitted diagnosis."))
    if result.status is not DiagnosisStatus.submitted:
        raise RuleViolation("not_submitted", _l("Only a submitted diagnosis can be reopened."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_l("Enter why the diagnosis is reopened.")]})
    values = {
        "status": DiagnosisStatus.draft,
        "dimension_scores": {},
        "overall_score": None,
        "level": None,
        "recommended_track": None,
        "submitted_at": None,
    }
    changes = diff(result, values)
    for key, value in values.items():
        setattr(result, key, value)
    db.session.flush()
    record_audit("diagnosis.reopen", result, {**changes, "reason": reason}, actor=actor)
    return result
