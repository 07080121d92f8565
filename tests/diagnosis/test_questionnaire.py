"""The questionnaire file: the shipped one loads, and every kind of mistake in it is refused at load."""

from __future__ import annotations

import copy
import json

import pytest
from flask_babel import refresh

from crm.diagnosis.models import ReadinessLevel
from crm.diagnosis.questionnaire import (
    DEFAULT_PATH,
    QuestionnaireError,
    current_questionnaire,
    load_questionnaire,
    localized,
    parse_questionnaire,
    questionnaire_for,
)
from crm.programmes.models import Track

SHIPPED = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def _raw() -> dict:
    return copy.deepcopy(SHIPPED)


def test_the_shipped_questionnaire():
    questionnaire = load_questionnaire()
    assert questionnaire.version == "2026.1"
    assert [d.id for d in questionnaire.dimensions] == [
        "strategy",
        "data",
        "infrastructure",
        "people",
        "process",
    ]
    assert [d.titles["ko"] for d in questionnaire.dimensions] == [
        "전략",
        "데이터",
        "인프라",
        "인력",
        "프로세스",
    ]
    assert all(len(d.questions) == 4 for d in questionnaire.dimensions)
    assert len(set(questionnaire.question_ids)) == 20
    assert [s.value for s in questionnaire.scale] == [1, 2, 3, 4, 5]
    assert [(r.level, r.below) for r in questionnaire.levels] == [
        (ReadinessLevel.pre_adoption, 25),
        (ReadinessLevel.initial, 50),
        (ReadinessLevel.expanding, 75),
        (ReadinessLevel.advanced, None),
    ]
    assert questionnaire.track_by_level == {
        ReadinessLevel.pre_adoption: Track.consulting,
        ReadinessLevel.initial: Track.adoption,
        ReadinessLevel.expanding: Track.validation,
        ReadinessLevel.advanced: Track.incubation,
    }
    assert (
        questionnaire.track_order[0] is Track.diagnosis and questionnaire.track_order[-1] is Track.incubation
    )


def test_duplicate_question_ids_are_refused():
    raw = _raw()
    raw["dimensions"][1]["questions"][0]["id"] = raw["dimensions"][0]["questions"][0]["id"]
    with pytest.raises(QuestionnaireError, match="used twice"):
        parse_questionnaire(raw)


def test_duplicate_dimension_ids_are_refused():
    raw = _raw()
    raw["dimensions"][2]["id"] = "strategy"
    with pytest.raises(QuestionnaireError, match="dimension id 'strategy' is used twice"):
        parse_questionnaire(raw)


def test_a_dimension_without_questions_is_refused():
    raw = _raw()
    raw["dimensions"][3]["questions"] = []
    with pytest.raises(QuestionnaireError, match="'people' has no questions"):
        parse_questionnaire(raw)


def test_no_dimensions_is_refused():
    raw = _raw()
    raw["dimensions"] = []
    with pytest.raises(QuestionnaireError, match="at least one dimension"):
        parse_questionnaire(raw)


def test_every_text_needs_korean_and_english():
    raw = _raw()
    del raw["dimensions"][0]["questions"][2]["en"]
    with pytest.raises(QuestionnaireError, match="question 3: the en text is missing"):
        parse_questionnaire(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["scale"].pop(), "exactly the values 1, 2, 3, 4, 5"),
        (lambda raw: raw["levels"][1].update(below=20), "must rise"),
        (lambda raw: raw["levels"][3].update(below=100), "top level"),
        (lambda raw: raw["levels"][2].update(level="initial"), "exactly once"),
        (lambda raw: raw["recommendation"]["by_level"].update(initial="gardening"), "not a known Track"),
        (lambda raw: raw["recommendation"]["by_level"].pop("advanced"), "every readiness level"),
        (lambda raw: raw["recommendation"]["by_level"].update(initial="training"), "must be in the order"),
        (lambda raw: raw["recommendation"].update(completed_statuses=["done"]), "EngagementStatus"),
        (lambda raw: raw.update(version=""), "version"),
    ],
)
def test_rules_and_scale_are_checked(change, message):
    raw = _raw()
    change(raw)
    with pytest.raises(QuestionnaireError, match=message):
        parse_questionnaire(raw)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "questionnaire.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match="not valid JSON"):
        load_questionnaire(path)


def test_text_is_picked_by_locale(app):
    question = current_questionnaire().questions[0]
    assert localized(question.texts, "ko").startswith("경영진이")
    assert localized(question.texts, "en").startswith("Management")
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        assert question.text.startswith("Management")
        assert current_questionnaire().dimensions[0].title == "Strategy"
    with app.test_request_context():
        refresh()  # the test's shared app context would keep the locale chosen above
        assert question.text.startswith("경영진이")  # Korean first
    assert question.text.startswith("경영진이")  # outside a request: Korean


def test_only_the_current_version_is_available():
    assert questionnaire_for("2026.1") is current_questionnaire()
    with pytest.raises(QuestionnaireError):
        questionnaire_for("2025.9")
