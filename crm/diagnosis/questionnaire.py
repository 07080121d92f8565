"""The AI-readiness questionnaire, kept as data in questionnaire.json and checked when it is loaded.

The file holds everything that is a matter of policy rather than code: the dimensions and their questions
(Korean and English), the 1–5 scale's labels, the level thresholds and the recommendation rules. Editing the
file changes the questionnaire; a mistake in it (a duplicate id, an empty dimension, a threshold out of
order, an unknown track) stops the app at start-up instead of producing wrong scores later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from crm.diagnosis.models import ReadinessLevel
from crm.engagements.models import EngagementStatus
from crm.programmes.models import Track

DEFAULT_PATH = Path(__file__).with_name("questionnaire.json")
LOCALES = ("ko", "en")
SCALE_VALUES = (1, 2, 3, 4, 5)


class QuestionnaireError(ValueError):
    """The questionnaire file is not usable; the message says what and where."""


def current_locale() -> str:
    """The request's language, Korean outside a request (CLI, workers, demo seeding)."""
    from flask import has_request_context
    from flask_babel import get_locale

    if not has_request_context():
        return "ko"
    locale = str(get_locale() or "ko")
    return locale if locale in LOCALES else "ko"


def localized(texts: dict[str, str], locale: str | None = None) -> str:
    """The text in `locale` (default: the request's), falling back to Korean, the text every entry has."""
    return texts.get(locale or current_locale()) or texts["ko"]


@dataclass(frozen=True)
class Question:
    id: str
    dimension_id: str
    texts: dict[str, str]

    @property
    def text(self) -> str:
        return localized(self.texts)


@dataclass(frozen=True)
class Dimension:
    id: str
    titles: dict[str, str]
    questions: tuple[Question, ...]

    @property
    def title(self) -> str:
        return localized(self.titles)


@dataclass(frozen=True)
class ScaleStep:
    value: int
    labels: dict[str, str]

    @property
    def label(self) -> str:
        return localized(self.labels)


@dataclass(frozen=True)
class LevelRule:
    level: ReadinessLevel
    below: float | None  # the overall score this level stays under; None for the top level
    descriptions: dict[str, str]

    @property
    def description(self) -> str:
        return localized(self.descriptions)


@dataclass(frozen=True)
class Questionnaire:
    version: str
    dimensions: tuple[Dimension, ...]
    scale: tuple[ScaleStep, ...]
    levels: tuple[LevelRule, ...]  # ascending thresholds, the last without one
    track_order: tuple[Track, ...]  # the journey order the recommendation moves along
    track_by_level: dict[ReadinessLevel, Track]
    completed_statuses: frozenset[EngagementStatus]
    texts: dict[str, dict[str, str]]  # "about", "scoring", "rule": explanations shown on the pages

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for d in self.dimensions for q in d.questions)

    @property
    def question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def dimension(self, dimension_id: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.id == dimension_id:
                return dimension
        raise KeyError(dimension_id)

    def level_rule(self, level: ReadinessLevel) -> LevelRule:
        return next(rule for rule in self.levels if rule.level is level)

    def text(self, key: str) -> str:
        return localized(self.texts[key])


# --- loading and checking -------------------------------------------------------------------------------


def _texts(raw: dict[str, Any], where: str) -> dict[str, str]:
    texts = {locale: raw.get(locale) for locale in LOCALES}
    for locale, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            raise QuestionnaireError(f"{where}: the {locale} text is missing")
    return texts  # type: ignore[return-value]


def _identifier(raw: dict[str, Any], where: str) -> str:
    value = raw.get("id")
    if not isinstance(value, str) or not value.strip() or not value.replace("_", "").isalnum():
        raise QuestionnaireError(f"{where}: needs an id of letters, digits and underscores")
    return value


def _enum(enum_cls: type[Any], value: Any, where: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        raise QuestionnaireError(f"{where}: {value!r} is not a known {enum_cls.__name__}") from None


def _dimensions(raw: Any) -> tuple[Dimension, ...]:
    if not isinstance(raw, list) or not raw:
        raise QuestionnaireError("dimensions: at least one dimension is needed")
    dimensions: list[Dimension] = []
    seen_dimensions: set[str] = set()
    seen_questions: set[str] = set()
    for index, entry in enumerate(raw):
        dimension_id = _identifier(entry, f"dimensions[{index}]")
        if dimension_id in seen_dimensions:
            raise QuestionnaireError(f"dimension id {dimension_id!r} is used twice")
        seen_dimensions.add(dimension_id)
        questions_raw = entry.get("questions")
        if not isinstance(questions_raw, list) or not questions_raw:
            raise QuestionnaireError(f"dimension {dimension_id!r} has no questions")
        questions: list[Question] = []
        for q_index, q_raw in enumerate(questions_raw):
            where = f"dimension {dimension_id!r}, question {q_index + 1}"
            question_id = _identifier(q_raw, where)
            if question_id in seen_questions:
                raise QuestionnaireError(f"question id {question_id!r} is used twice")
            seen_questions.add(question_id)
            questions.append(Question(question_id, dimension_id, _texts(q_raw, where)))
        titles = _texts(entry, f"dimension {dimension_id!r}")
        dimensions.append(Dimension(dimension_id, titles, tuple(questions)))
    return tuple(dimensions)


def _scale(raw: Any) -> tuple[ScaleStep, ...]:
    if not isinstance(raw, list):
        raise QuestionnaireError("scale: a list of the five answer labels is needed")
    steps = tuple(ScaleStep(entry.get("value"), _texts(entry, f"scale[{i}]")) for i, entry in enumerate(raw))
    if tuple(step.value for step in steps) != SCALE_VALUES:
        raise QuestionnaireError("scale: needs exactly the values 1, 2, 3, 4, 5 in order")
    return steps


def _levels(raw: Any) -> tuple[LevelRule, ...]:
    if not isinstance(raw, list) or not raw:
        raise QuestionnaireError("levels: the level thresholds are missing")
    rules: list[LevelRule] = []
    previous = 0.0
    for index, entry in enumerate(raw):
        where = f"levels[{index}]"
        level = _enum(ReadinessLevel, entry.get("level"), where)
        below = entry.get("below")
        last = index == len(raw) - 1
        if last and below is not None:
            raise QuestionnaireError(
                f"{where}: the top level takes every score above the others (below: null)"
            )
        if not last:
            if isinstance(below, bool) or not isinstance(below, int | float) or not previous < below <= 100:
                raise QuestionnaireError(f"{where}: 'below' must rise and stay within 0–100")
            previous = float(below)
        rules.append(LevelRule(level, None if below is None else float(below), _texts(entry, where)))
    if sorted(rule.level for rule in rules) != sorted(ReadinessLevel) or len(rules) != len(ReadinessLevel):
        raise QuestionnaireError("levels: every readiness level must appear exactly once")
    return tuple(rules)


def parse_questionnaire(raw: dict[str, Any]) -> Questionnaire:
    """The questionnaire described by `raw` (the JSON document), or QuestionnaireError."""
    if not isinstance(raw, dict):
        raise QuestionnaireError("the questionnaire must be a JSON object")
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 20:
        raise QuestionnaireError("version: a short text such as '2026.1' is needed")
    dimensions = _dimensions(raw.get("dimensions"))
    scale = _scale(raw.get("scale"))
    levels = _levels(raw.get("levels"))

    rules = raw.get("recommendation")
    if not isinstance(rules, dict):
        raise QuestionnaireError("recommendation: the rules are missing")
    order = tuple(_enum(Track, value, "recommendation.order") for value in rules.get("order") or [])
    if not order or len(set(order)) != len(order):
        raise QuestionnaireError("recommendation.order: a list of distinct tracks is needed")
    by_level_raw = rules.get("by_level") or {}
    by_level = {
        _enum(ReadinessLevel, level, "recommendation.by_level"): _enum(
            Track, track, "recommendation.by_level"
        )
        for level, track in by_level_raw.items()
    }
    if set(by_level) != set(ReadinessLevel):
        raise QuestionnaireError("recommendation.by_level: every readiness level needs a track")
    if any(track not in order for track in by_level.values()):
        raise QuestionnaireError("recommendation.by_level: each recommended track must be in the order")
    completed = frozenset(
        _enum(EngagementStatus, value, "recommendation.completed_statuses")
        for value in rules.get("completed_statuses") or []
    )
    if not completed:
        raise QuestionnaireError("recommendation.completed_statuses: name the statuses that count as done")

    texts = {
        "about": _texts(raw.get("about") or {}, "about"),
        "scoring": _texts(raw.get("scoring") or {}, "scoring"),
        "rule": _texts(rules.get("rule") or {}, "recommendation.rule"),
    }
    return Questionnaire(
        version=version,
        dimensions=dimensions,
        scale=scale,
        levels=levels,
        track_order=order,
        track_by_level=by_level,
        completed_statuses=completed,
        texts=texts,
    )


def load_questionnaire(path: Path | str = DEFAULT_PATH) -> Questionnaire:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise QuestionnaireError(f"{path}: not valid JSON ({error})") from None
    return parse_questionnaire(raw)


@lru_cache(maxsize=1)
def current_questionnaire() -> Questionnaire:
    """The questionnaire new diagnoses are filled with (read once per process)."""
    return load_questionnaire()


def questionnaire_for(version: str) -> Questionnaire:
    """The questionnaire a result was filled with. Only the current version is kept: a result of another
    version can be shown (its stored scores) but not edited or scored again."""
    questionnaire = current_questionnaire()
    if questionnaire.version != version:
        raise QuestionnaireError(f"questionnaire version {version!r} is not available")
    return questionnaire
