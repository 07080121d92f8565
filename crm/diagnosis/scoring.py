"""The arithmetic of a diagnosis, free of the database so it can be checked by hand.

- **Dimension score** = (mean answer − 1) ÷ 4 × 100: all 1s give 0, all 5s give 100. Rounded half up to
  one decimal (6.25 → 6.3, as people round, not Python's half-to-even).
- **Overall score** = the mean of the (rounded, as shown) dimension scores, rounded the same way, so the
  overall a reader recomputes from the page matches.
- **Level** (AI 전환 수준): the first level whose threshold the overall stays under; with the shipped file
  < 25 도입 전, < 50 초기, < 75 확산, else 고도화. A score on a threshold belongs to the higher level.
- **Recommended next track**: the level's track (도입 전 → consulting, 초기 → adoption, 확산 → validation,
  고도화 → incubation), unless the firm has already completed that track or one after it in the journey
  order; then the track after the furthest completed one (never beyond the last). A firm that finished
  adoption and still scores "initial" is not sent back to adoption but on to validation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from crm.diagnosis.models import ReadinessLevel
from crm.diagnosis.questionnaire import SCALE_VALUES, Questionnaire
from crm.programmes.models import Track

_ONE_DECIMAL = Decimal("0.1")


def _round1(value: Fraction | Decimal) -> float:
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    return float(value.quantize(_ONE_DECIMAL, rounding=ROUND_HALF_UP))


def dimension_score(values: Iterable[int]) -> float:
    """(mean − 1) ÷ 4 × 100 of answers on the 1–5 scale, to one decimal. Exact fractions until the rounding,
    so 6.25 really is half-way and rounds up."""
    values = list(values)
    if not values:
        raise ValueError("a dimension score needs at least one answer")
    if any(isinstance(v, bool) or v not in SCALE_VALUES for v in values):
        raise ValueError(f"answers must be whole numbers from 1 to 5: {values}")
    mean = Fraction(sum(values), len(values))
    return _round1((mean - 1) / 4 * 100)


def dimension_scores(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> dict[str, float]:
    """{dimension id: score} in the questionnaire's order; every question must be answered."""
    missing = [q.id for q in questionnaire.questions if answers.get(q.id) is None]
    if missing:
        raise ValueError(f"unanswered: {', '.join(missing)}")
    return {
        dimension.id: dimension_score(int(answers[q.id]) for q in dimension.questions)
        for dimension in questionnaire.dimensions
    }


def overall_score(scores: Mapping[str, float]) -> float:
    if not scores:
        raise ValueError("no dimension scores")
    total = sum((Decimal(str(value)) for value in scores.values()), Decimal(0))
    return _round1(total / len(scores))


def level_for(overall: float, questionnaire: Questionnaire) -> ReadinessLevel:
    for rule in questionnaire.levels:
        if rule.below is None or overall < rule.below:
            return rule.level
    raise AssertionError("the questionnaire's top level has no threshold")  # checked at load


def recommend_track(
    level: ReadinessLevel, completed_tracks: Iterable[Track], questionnaire: Questionnaire
) -> Track:
    """The level's track, moved past what the firm already completed (see the module docstring).
    Completed tracks outside the journey order (training, infrastructure) do not matter."""
    order = questionnaire.track_order
    recommended = questionnaire.track_by_level[level]
    done = [order.index(track) for track in completed_tracks if track in order]
    if done and max(done) >= order.index(recommended):
        return order[min(max(done) + 1, len(order) - 1)]
    return recommended
