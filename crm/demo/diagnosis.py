"""Demo diagnoses: submitted AI-readiness results for about fifteen demo firms, a third of them with last
year's result too so progress shows, always including the demo portal users' firms. Rows are written
directly (no operations, no notices), scored with the real scoring so levels and recommendations are
consistent. Deterministic for a given rng; firms that already have a result of a year are left alone."""

from __future__ import annotations

import random
from datetime import date, time, timedelta

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.operations import completed_tracks, diagnosis_engagement_id
from crm.diagnosis.questionnaire import Questionnaire, current_questionnaire
from crm.diagnosis.scoring import dimension_scores, level_for, overall_score, recommend_track
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm, FirmLink

FIRMS = 15
WITH_LAST_YEAR = 5
# Where firms tend to be weaker or stronger than their overall readiness (data and people lag most often).
DIMENSION_LEAN = {"strategy": 0.3, "data": -0.4, "infrastructure": 0.0, "people": -0.3, "process": 0.2}


def seed_diagnosis(rng: random.Random, today: date) -> None:
    questionnaire = current_questionnaire()
    firms = _chosen_firms(rng)
    portal_users = _portal_users()
    two_years = {firm.id for firm in firms[:WITH_LAST_YEAR]}  # the portal users' firms come first
    for firm in firms:
        readiness = rng.uniform(1.2, 4.7)
        if firm.id in two_years:
            _add(
                questionnaire,
                firm,
                today.year - 1,
                readiness - rng.uniform(0.4, 0.9),
                rng,
                today,
                portal_users,
            )
        _add(questionnaire, firm, today.year, readiness, rng, today, portal_users)


def _portal_users() -> dict[int, User]:
    users = db.session.scalars(
        sa.select(User).where(User.role == Role.firm_user, User.firm_id.is_not(None)).order_by(User.id)
    )
    return {user.firm_id: user for user in users if user.firm_id is not None}


def _chosen_firms(rng: random.Random) -> list[Firm]:
    """The portal users' firms, then firms with engagements (their journeys are the interesting ones), then
    other firms related to a consortium, up to FIRMS."""
    chosen: list[Firm] = []
    seen: set[int] = set()

    def take(firms: list[Firm], count: int) -> None:
        for firm in firms[:count]:
            if firm.id not in seen and len(chosen) < FIRMS:
                seen.add(firm.id)
                chosen.append(firm)

    portal_firm_ids = list(_portal_users())
    take(list(db.session.scalars(sa.select(Firm).where(Firm.id.in_(portal_firm_ids)).order_by(Firm.id))), 2)
    engaged = list(
        db.session.scalars(
            sa.select(Firm).where(Firm.id.in_(sa.select(Engagement.firm_id))).order_by(Firm.id)
        )
    )
    take(rng.sample(engaged, len(engaged)), 9)
    related = list(
        db.session.scalars(sa.select(Firm).where(Firm.id.in_(sa.select(FirmLink.firm_id))).order_by(Firm.id))
    )
    take(rng.sample(related, min(len(related), FIRMS * 3)), FIRMS * 3)
    return chosen


def _filler(firm: Firm, portal_users: dict[int, User]) -> User | None:
    """The firm's own portal user, else a coordinator of an institution the firm is related to."""
    if firm.id in portal_users:
        return portal_users[firm.id]
    return db.session.scalar(
        sa.select(User)
        .join(FirmLink, FirmLink.institution_id == User.institution_id)
        .where(FirmLink.firm_id == firm.id, User.role == Role.coordinator)
        .order_by(User.id)
        .limit(1)
    )


def _answers(questionnaire: Questionnaire, readiness: float, rng: random.Random) -> dict[str, int]:
    return {
        q.id: max(1, min(5, round(rng.gauss(readiness + DIMENSION_LEAN.get(q.dimension_id, 0), 0.7))))
        for q in questionnaire.questions
    }


def _submitted_on(year: int, rng: random.Random, today: date) -> date:
    if year < today.year:
        return date(year, rng.randint(3, 11), rng.randint(1, 28))
    return max(date(year, 1, 1), today - timedelta(days=rng.randint(3, 90)))


def _add(
    questionnaire: Questionnaire,
    firm: Firm,
    year: int,
    readiness: float,
    rng: random.Random,
    today: date,
    portal_users: dict[int, User],
) -> None:
    exists = db.session.scalar(
        sa.select(DiagnosisResult.id).where(DiagnosisResult.firm_id == firm.id, DiagnosisResult.year == year)
    )
    if exists is not None:
        return
    answers = _answers(questionnaire, readiness, rng)
    scores = dimension_scores(questionnaire, answers)
    overall = overall_score(scores)
    level = level_for(overall, questionnaire)
    filler = _filler(firm, portal_users)
    db.session.add(
        DiagnosisResult(
            firm_id=firm.id,
            year=year,
            engagement_id=diagnosis_engagement_id(firm, year),
            questionnaire_version=questionnaire.version,
            status=DiagnosisStatus.submitted,
            answers=answers,
            dimension_scores=scores,
            overall_score=overall,
            level=level,
            recommended_track=recommend_track(level, completed_tracks(firm, questionnaire), questionnaire),
            filled_by_id=filler.id if filler is not None else None,
            submitted_at=kst_to_utc(_submitted_on(year, rng, today), time(rng.randint(9, 17), 0)),
        )
    )
    db.session.flush()
