"""The demo diagnoses: about fifteen firms, the portal users' firms among them, some with two years, scored
consistently; a second run adds nothing."""

from __future__ import annotations

import random
from collections import Counter

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.time import today_kst
from crm.demo.diagnosis import seed_diagnosis
from crm.demo.seed import seed_demo
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.questionnaire import current_questionnaire
from crm.diagnosis.scoring import dimension_scores, level_for, overall_score
from crm.extensions import db


def _results() -> list[DiagnosisResult]:
    return list(db.session.scalars(sa.select(DiagnosisResult).order_by(DiagnosisResult.id)))


def test_demo_diagnoses(app):
    assert seed_demo() is True
    # The full demo may already include diagnoses: start this feature's seeding from none.
    db.session.execute(sa.delete(DiagnosisResult))
    today = today_kst()
    seed_diagnosis(random.Random(2026), today)
    results = _results()
    per_firm = Counter(r.firm_id for r in results)
    assert 13 <= len(per_firm) <= 15
    assert sum(1 for n in per_firm.values() if n == 2) >= 3
    assert {r.year for r in results} == {today.year - 1, today.year}
    portal_firms = set(
        db.session.scalars(
            sa.select(User.firm_id).where(User.role == Role.firm_user, User.firm_id.is_not(None))
        )
    )
    assert portal_firms and all(per_firm[firm_id] == 2 for firm_id in portal_firms)

    questionnaire = current_questionnaire()
    for r in results:
        assert r.status is DiagnosisStatus.submitted and r.submitted_at is not None
        assert r.dimension_scores == dimension_scores(questionnaire, r.answers)
        assert r.overall_score == overall_score(r.dimension_scores)
        assert r.level is level_for(r.overall_score, questionnaire)
        assert r.recommended_track is not None

    seed_diagnosis(random.Random(2026), today)
    assert len(_results()) == len(results)
