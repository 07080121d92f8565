"""A small world for diagnosis tests: one consortium, an institution with its coordinator, a firm with a
portal user, and answer sets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm.auth.models import Role, User
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.questionnaire import current_questionnaire
from crm.diagnosis.scoring import dimension_scores, level_for, overall_score
from crm.firms.models import Firm
from crm.organisation.models import Consortium, Institution
from crm.programmes.models import Track
from tests.factories import (
    make_consortium,
    make_diagnosis_result,
    make_firm,
    make_institution,
    make_user,
)


@dataclass
class World:
    consortium: Consortium
    institution: Institution
    firm: Firm
    manager: User
    coordinator: User
    firm_user: User


def make_world() -> World:
    consortium = make_consortium()
    institution = make_institution(consortium)
    firm = make_firm(consortium, name="(주)진단테스트")
    return World(
        consortium=consortium,
        institution=institution,
        firm=firm,
        manager=make_user(Role.consortium_manager, consortium=consortium),
        coordinator=make_user(Role.coordinator, institution=institution),
        firm_user=make_user(Role.firm_user, firm=firm),
    )


def answers_by_dimension(**values: int) -> dict[str, int]:
    """Every question answered: the questions of each named dimension with that value, others with 3."""
    questionnaire = current_questionnaire()
    return {q.id: values.get(q.dimension_id, 3) for q in questionnaire.questions}


def form_data(answers: dict[str, Any], button: str = "save") -> dict[str, Any]:
    data: dict[str, Any] = {f"q_{qid}": str(value) for qid, value in answers.items()}
    data[button] = "1"
    return data


def submitted_result(firm: Firm, year: int, track: Track | None = None, **values: int) -> DiagnosisResult:
    """A submitted result written directly (as the demo does), scored like the operation scores."""
    questionnaire = current_questionnaire()
    answers = answers_by_dimension(**values)
    scores = dimension_scores(questionnaire, answers)
    overall = overall_score(scores)
    level = level_for(overall, questionnaire)
    return make_diagnosis_result(
        firm,
        year=year,
        status=DiagnosisStatus.submitted,
        answers=answers,
        dimension_scores=scores,
        overall_score=overall,
        level=level,
        recommended_track=track or questionnaire.track_by_level[level],
        submitted_at=datetime(year, 6, 1, 1, 0, tzinfo=UTC),
    )
