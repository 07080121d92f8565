"""The arithmetic of results, checked against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from crm.evaluations.scoring import normalise, ranked, weighted_total, z_scores

CRITERIA = [
    {"key": "feasibility", "label": "실현가능성", "weight": 60, "max_score": 10},
    {"key": "impact", "label": "기대효과", "weight": 40, "max_score": 10},
]


def test_weighted_total_is_on_a_0_to_100_scale():
    # (60 × 7/10 + 40 × 5/10) / 100 × 100 = 42 + 20 = 62
    assert weighted_total({"feasibility": 7, "impact": 5}, CRITERIA) == pytest.approx(62)
    assert weighted_total({"feasibility": 10, "impact": 10}, CRITERIA) == pytest.approx(100)
    assert weighted_total({"feasibility": 0, "impact": 0}, CRITERIA) == pytest.approx(0)


def test_weighted_total_puts_different_scales_on_the_same_footing():
    criteria = [
        {"key": "plan", "label": "계획", "weight": 30, "max_score": 5},
        {"key": "team", "label": "역량", "weight": 70, "max_score": 20},
    ]
    # (30 × 4/5 + 70 × 10/20) / 100 × 100 = 24 + 35 = 59
    assert weighted_total({"plan": 4, "team": 10}, criteria) == pytest.approx(59)
    # A removed criterion's old score is ignored; a missing one is an error, never a silent zero.
    assert weighted_total({"plan": 4, "team": 10, "old": 3}, criteria) == pytest.approx(59)
    with pytest.raises(ValueError):
        weighted_total({"plan": 4}, criteria)


def test_normalisation_on_a_hand_computed_example():
    """Three evaluators, each scoring two of three applications.

    lenient L: A 90, B 86   mean 88, population sd √((2² + 2²)/2) = 2   →  z A +1, B −1
    harsh   H: B 60, C 70   mean 65, sd √((5² + 5²)/2) = 5             →  z B −1, C +1
    middle  M: A 70, C 80   mean 75, sd 5                               →  z A −1, C +1

    mean raw: A (90 + 70)/2 = 80, B (86 + 60)/2 = 73, C (70 + 80)/2 = 75  → by raw A, C, B
    mean z:   A (+1 − 1)/2 = 0,   B (−1 − 1)/2 = −1, C (+1 + 1)/2 = +1   → by z   C, A, B
    A wins on raw totals only because the lenient evaluator happened to score it.
    """
    L, H, M = 1, 2, 3
    A, B, C = 10, 20, 30
    totals = {(L, A): 90, (L, B): 86, (H, B): 60, (H, C): 70, (M, A): 70, (M, C): 80}
    results = normalise(totals)

    assert results[A].mean_raw == pytest.approx(80)
    assert results[B].mean_raw == pytest.approx(73)
    assert results[C].mean_raw == pytest.approx(75)
    assert results[A].mean_z == pytest.approx(0)
    assert results[B].mean_z == pytest.approx(-1)
    assert results[C].mean_z == pytest.approx(1)
    assert results[A].z_by_evaluator == pytest.approx({L: 1, M: -1})
    assert results[B].raw_by_evaluator == pytest.approx({L: 86, H: 60})
    assert results[C].evaluator_count == 2
    assert [r.application_id for r in ranked(results.values())] == [C, A, B]


def test_z_scores_with_three_applications_per_evaluator():
    """L: 90, 80, 70 → mean 80, sd √((100 + 0 + 100)/3) = √66.67 = 8.165 → z +1.2247, 0, −1.2247.
    H: 50, 45, 40 → mean 45, sd √((25 + 0 + 25)/3) = 2.887 → the same z: harshness and spread cancel out."""
    totals = {(1, 1): 90, (1, 2): 80, (1, 3): 70, (2, 1): 50, (2, 2): 45, (2, 3): 40}
    z = z_scores(totals)
    root = math.sqrt(1.5)  # 10 / √(200/3) = √1.5 = 1.2247
    assert z[(1, 1)] == pytest.approx(root)
    assert z[(1, 2)] == pytest.approx(0)
    assert z[(1, 3)] == pytest.approx(-root)
    assert z[(2, 1)] == pytest.approx(root)
    assert z[(2, 3)] == pytest.approx(-root)
    results = normalise(totals)
    assert results[1].mean_raw == pytest.approx(70)
    assert results[1].mean_z == pytest.approx(root)


def test_an_evaluator_without_spread_or_with_one_application_has_z_zero():
    # Evaluator 1 gave everything 75 (sd 0); evaluator 2 scored one application only.
    totals = {(1, 1): 75, (1, 2): 75, (1, 3): 75, (2, 3): 95}
    z = z_scores(totals)
    assert z == {(1, 1): 0.0, (1, 2): 0.0, (1, 3): 0.0, (2, 3): 0.0}
    results = normalise(totals)
    assert results[3].mean_raw == pytest.approx(85)
    assert results[3].mean_z == 0.0


def test_ties_on_z_go_to_the_higher_raw_mean_then_the_lower_id():
    # Every evaluator's z is 0 (one application each), so raw means decide, then ids.
    totals = {(1, 5): 70, (2, 4): 80, (3, 6): 80}
    assert [r.application_id for r in ranked(normalise(totals).values())] == [4, 6, 5]


def test_no_totals_give_no_results():
    assert normalise({}) == {}
