"""The arithmetic of evaluation results, free of the database so it can be checked by hand.

Two numbers come out for each application:

- the **mean raw total**: each evaluator's weighted total on a 0–100 scale, averaged over the evaluators;
- the **mean z-score**: each evaluator's totals are first standardised against that evaluator's own mean and
  spread over the call, then averaged.

Panels mix lenient and harsh evaluators, and not every evaluator sees every application. With raw totals an
application that happened to get a lenient evaluator wins; with z-scores each evaluator contributes only how
far it placed an application above or below its *own* habit, so lenient and harsh evaluators weigh the same.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Standard deviations below this are treated as zero: float noise must not turn identical totals into
# huge z-scores.
_SD_EPSILON = 1e-9
# Ranking compares z-means rounded to this many places, so two applications whose z-means differ only by
# float noise count as tied and fall through to the raw-mean tie-break.
_RANK_PLACES = 9


@dataclass(frozen=True)
class NormalisedResult:
    """One application's results over the evaluators that scored it."""

    application_id: int
    mean_raw: float
    mean_z: float
    raw_by_evaluator: dict[int, float] = field(default_factory=dict)
    z_by_evaluator: dict[int, float] = field(default_factory=dict)

    @property
    def evaluator_count(self) -> int:
        return len(self.raw_by_evaluator)


def weighted_total(scores: Mapping[str, float], criteria: Iterable[Mapping[str, Any]]) -> float:
    """Σ(weight × value / max_score) / Σweight × 100: a 0–100 total whatever each criterion's scale.

    Dividing by max_score first puts a criterion scored out of 5 and one scored out of 20 on the same footing,
    so only the weights decide how much each counts. Every criterion must be scored; keys that are not
    criteria (a criterion removed later) are ignored.
    """
    criteria = list(criteria)
    total_weight = sum(c["weight"] for c in criteria)
    if total_weight <= 0:
        raise ValueError("the criteria have no weight")
    missing = [c["key"] for c in criteria if scores.get(c["key"]) is None]
    if missing:
        raise ValueError(f"no score for {', '.join(missing)}")
    weighted = sum(c["weight"] * float(scores[c["key"]]) / c["max_score"] for c in criteria)
    return weighted / total_weight * 100


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _population_sd(values: list[float], mean: float) -> float:
    """Population (not sample) standard deviation: the evaluator's totals are all there is, not a sample."""
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def z_scores(totals: Mapping[tuple[int, int], float]) -> dict[tuple[int, int], float]:
    """z = (x − mean_e) / sd_e per evaluator e over every application e scored.

    An evaluator who gave everything the same total, or scored a single application, says nothing about how
    the applications compare: its z-scores are 0 rather than undefined.
    """
    by_evaluator: dict[int, list[float]] = defaultdict(list)
    for (evaluator_id, _application_id), total in totals.items():
        by_evaluator[evaluator_id].append(float(total))
    spread: dict[int, tuple[float, float]] = {}
    for evaluator_id, values in by_evaluator.items():
        mean = _mean(values)
        spread[evaluator_id] = (mean, _population_sd(values, mean) if len(values) > 1 else 0.0)
    result: dict[tuple[int, int], float] = {}
    for (evaluator_id, application_id), total in totals.items():
        mean, sd = spread[evaluator_id]
        result[(evaluator_id, application_id)] = 0.0 if sd < _SD_EPSILON else (float(total) - mean) / sd
    return result


def normalise(totals: Mapping[tuple[int, int], float]) -> dict[int, NormalisedResult]:
    """{(evaluator_id, application_id): raw total} → {application_id: mean raw total and mean z}.

    `totals` should hold every submitted total of the call: an evaluator's mean and spread are only
    meaningful over all the applications it scored.
    """
    zs = z_scores(totals)
    raw: dict[int, dict[int, float]] = defaultdict(dict)
    z: dict[int, dict[int, float]] = defaultdict(dict)
    for (evaluator_id, application_id), total in totals.items():
        raw[application_id][evaluator_id] = float(total)
        z[application_id][evaluator_id] = zs[(evaluator_id, application_id)]
    return {
        application_id: NormalisedResult(
            application_id=application_id,
            mean_raw=_mean(list(raw[application_id].values())),
            mean_z=_mean(list(z[application_id].values())),
            raw_by_evaluator=dict(raw[application_id]),
            z_by_evaluator=dict(z[application_id]),
        )
        for application_id in raw
    }


def rank_key(result: NormalisedResult) -> tuple[float, float, int]:
    """Mean z descending; ties by mean raw total descending, then the lower application id (applied first)."""
    return (-round(result.mean_z, _RANK_PLACES), -round(result.mean_raw, _RANK_PLACES), result.application_id)


def ranked(results: Iterable[NormalisedResult]) -> list[NormalisedResult]:
    return sorted(results, key=rank_key)
