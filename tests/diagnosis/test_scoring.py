"""Scoring by hand: dimension scores, the overall, the level boundaries and the recommended next track."""

from __future__ import annotations

import pytest

from crm.diagnosis.models import ReadinessLevel
from crm.diagnosis.questionnaire import current_questionnaire
from crm.diagnosis.scoring import (
    dimension_score,
    dimension_scores,
    level_for,
    overall_score,
    recommend_track,
)
from crm.programmes.models import Track
from tests.diagnosis.helpers import answers_by_dimension

L = ReadinessLevel
Q = current_questionnaire()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([1, 1, 1, 1], 0.0),
        ([5, 5, 5, 5], 100.0),
        ([3, 3, 3, 3], 50.0),
        ([1, 1, 1, 2], 6.3),  # 6.25 rounds half up, not to even
        ([2, 2, 2, 3], 31.3),  # 31.25
        ([4, 4, 4, 5], 81.3),  # 81.25
        ([1, 2], 12.5),
        ([1, 1, 2], 8.3),  # 8.333…
        ([2, 3, 3], 41.7),  # 41.666…
    ],
)
def test_dimension_score(answers, expected):
    assert dimension_score(answers) == expected


@pytest.mark.parametrize("bad", [[], [0, 3], [6], [True, 3], [2.5]])
def test_dimension_score_refuses_answers_off_the_scale(bad):
    with pytest.raises(ValueError):
        dimension_score(bad)


def test_dimension_scores_per_dimension_in_order():
    scores = dimension_scores(Q, answers_by_dimension(strategy=5, data=1, infrastructure=2, people=4))
    assert scores == {"strategy": 100.0, "data": 0.0, "infrastructure": 25.0, "people": 75.0, "process": 50.0}
    assert list(scores) == ["strategy", "data", "infrastructure", "people", "process"]
    assert overall_score(scores) == 50.0


def test_dimension_scores_need_every_answer():
    answers = answers_by_dimension()
    del answers["data_quality"]
    with pytest.raises(ValueError, match="data_quality"):
        dimension_scores(Q, answers)


def test_overall_is_the_mean_of_the_dimension_scores_rounded_half_up():
    assert overall_score({"a": 6.3, "b": 0.0}) == 3.2  # 3.15 exactly, half up
    assert overall_score({"a": 10.0, "b": 20.0, "c": 25.0}) == 18.3
    assert overall_score({"a": 31.3, "b": 31.3, "c": 31.3, "d": 31.3, "e": 31.3}) == 31.3


@pytest.mark.parametrize(
    ("overall", "level"),
    [
        (0.0, L.pre_adoption),
        (24.9, L.pre_adoption),
        (25.0, L.initial),
        (49.9, L.initial),
        (50.0, L.expanding),
        (74.9, L.expanding),
        (75.0, L.advanced),
        (100.0, L.advanced),
    ],
)
def test_level_boundaries(overall, level):
    assert level_for(overall, Q) is level


@pytest.mark.parametrize(
    ("level", "track"),
    [
        (L.pre_adoption, Track.consulting),
        (L.initial, Track.adoption),
        (L.expanding, Track.validation),
        (L.advanced, Track.incubation),
    ],
)
def test_recommendation_by_level(level, track):
    assert recommend_track(level, [], Q) is track


@pytest.mark.parametrize(
    ("level", "completed", "track"),
    [
        # the recommended track is already done: the next one after it
        (L.initial, [Track.adoption], Track.validation),
        (L.pre_adoption, [Track.consulting], Track.adoption),
        # a track further on done: past that one
        (L.initial, [Track.diagnosis, Track.validation], Track.incubation),
        # earlier tracks done do not change anything
        (L.expanding, [Track.consulting, Track.adoption], Track.validation),
        (L.initial, [Track.diagnosis], Track.adoption),
        # side support is not on the journey
        (L.initial, [Track.training, Track.infrastructure], Track.adoption),
        # nothing after the last track
        (L.advanced, [Track.incubation], Track.incubation),
    ],
)
def test_recommendation_moves_past_completed_tracks(level, completed, track):
    assert recommend_track(level, completed, Q) is track
