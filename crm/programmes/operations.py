"""Programme years, programmes and calls: parsing of their text-entered lists, the funding rules, and one
function per verb (never committing)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask import has_app_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, record_audit
from crm.auth.models import Role, User
from crm.core.exceptions import ValidationFailed
from crm.engagements.models import TRACKS_WITHOUT_SETTLEMENT, EngagementStatus
from crm.extensions import db
from crm.organisation.models import Consortium, Institution
from crm.organisation.operations import require
from crm.programmes.models import (
    DEFAULT_COUNTING_POINT,
    DEFAULT_UNIT,
    Call,
    CountingPoint,
    Programme,
    ProgrammeYear,
    ReviewStage,
    TargetUnit,
    Track,
)

Problems = dict[str, list[Any]]

# DESIGN.md §1/§5: national money at most 60 % of a budget, local money at least 20 %.
GOV_MAX_PERCENT = 60
LOCAL_MIN_PERCENT = 20
MAX_EXCLUSIVITY_YEARS = 10

BUDGET_FIELDS = ("budget_gov_krw", "budget_local_krw", "budget_self_krw")
SOURCE_NAMES = {
    "budget_gov_krw": _l("national funds (국비)"),
    "budget_local_krw": _l("local funds (지방비)"),
    "budget_self_krw": _l("own share (자부담)"),
}

MILESTONE_ANCHORS = ("start", "mid", "end", "closed")
MILESTONE_OWNERS = ("staff", "firm")
# What a template's offset counts from: the engagement's agreement start, its midpoint, its end, or closing.
ANCHOR_TITLES = {
    "start": _l("Agreement start"),
    "mid": _l("Middle of the agreement"),
    "end": _l("Agreement end"),
    "closed": _l("Closing of the engagement"),
}
OWNER_TITLES = {"staff": _l("Staff"), "firm": _l("Firm")}
_SLUG = re.compile(r"[a-z0-9_]+\Z")
_KSIC_PREFIX = re.compile(r"[0-9]{1,5}\Z")

# Engagement settings: how long an engagement may stay in a status before the pipeline board flags it, and
# the yearly outcome surveys (성과조사) after closing. Only statuses an engagement moves on from can have an
# SLA: nobody is late for being closed, followed up, cancelled or terminated.
SLA_STATUSES = (
    EngagementStatus.pending_agreement,
    EngagementStatus.agreed,
    EngagementStatus.in_progress,
    EngagementStatus.final_report,
    EngagementStatus.final_check,
    EngagementStatus.settlement,
)
MAX_SLA_DAYS = 365
MAX_SURVEY_ROUNDS = 10
MAX_SURVEY_INDICATORS = 20
MAX_INDICATOR_LENGTH = 100
# `in_progress` has none by default: it lasts as long as the agreement says.
DEFAULT_SLA_DAYS = {
    "pending_agreement": 30,
    "agreed": 14,
    "final_report": 30,
    "final_check": 30,
    "settlement": 30,
}
# Tracks whose results (revenue, jobs) are followed up for years after closing.
SURVEYED_TRACKS = frozenset({Track.adoption, Track.validation, Track.incubation})
DEFAULT_SURVEY_ROUNDS = 3
DEFAULT_SURVEY_INDICATORS = ("매출", "고용")


# --- Funding split -----------------------------------------------------------------------------------------


def _percent(part: int, total: int, limit: int) -> str:
    """The share as a percentage, with as many decimals as it takes not to look like the limit itself
    (60.01 % must not read "60.0 %" in a message saying it is over 60 %)."""
    exact = Decimal(part * 100) / Decimal(total)
    shown = exact
    for places in range(1, 10):
        shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if shown != limit:
            break
    return str(shown)


def funding_split_problems(gov: int, local: int, own: int) -> Problems:
    """국비 ≤ 60 % and 지방비 ≥ 20 % of the total; an empty budget (total 0) is allowed. Exact integer
    arithmetic, so 60 % on the nose passes and 60.01 % does not."""
    problems: Problems = {}
    amounts = {"budget_gov_krw": gov, "budget_local_krw": local, "budget_self_krw": own}
    for name, amount in amounts.items():
        if amount is None or amount < 0:
            problems[name] = [_l("An amount cannot be negative.")]
    if problems:
        return problems
    total = gov + local + own
    if total == 0:
        return problems
    if gov * 100 > GOV_MAX_PERCENT * total:
        problems["budget_gov_krw"] = [
            _l(
                "National funds (국비) may be at most %(limit)s%% of the total (now %(percent)s%%).",
                limit=GOV_MAX_PERCENT,
                percent=_percent(gov, total, GOV_MAX_PERCENT),
            )
        ]
    if local * 100 < LOCAL_MIN_PERCENT * total:
        problems["budget_local_krw"] = [
            _l(
                "Local funds (지방비) must be at least %(limit)s%% of the total (now %(percent)s%%).",
                limit=LOCAL_MIN_PERCENT,
                percent=_percent(local, total, LOCAL_MIN_PERCENT),
            )
        ]
    return problems


def _won(amount: int) -> str:
    return f"{amount:,}"


# --- Text-entered lists ------------------------------------------------------------------------------------


def parse_ksic_prefixes(text: str) -> tuple[list[str], list[Any]]:
    """'58, 62 J63' → errors; '58, 62 631' → ['58', '62', '631']. Comma or space separated, duplicates
    dropped, order kept."""
    prefixes: list[str] = []
    errors: list[Any] = []
    for token in re.split(r"[\s,]+", text or ""):
        if not token:
            continue
        if not _KSIC_PREFIX.match(token):
            errors.append(_l("“%(value)s” is not a KSIC prefix: use 1 to 5 digits.", value=token))
        elif token not in prefixes:
            prefixes.append(token)
    return prefixes, errors


def ksic_prefix_problems(prefixes: list[str]) -> list[Any]:
    return [
        _l("“%(value)s” is not a KSIC prefix: use 1 to 5 digits.", value=p)
        for p in prefixes
        if not isinstance(p, str) or not _KSIC_PREFIX.match(p)
    ]


def format_ksic_prefixes(prefixes: list[str] | None) -> str:
    return ", ".join(prefixes or [])


def _split_line(line: str) -> list[str]:
    return [part.strip() for part in line.split("|")]


def _numbered_lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate((text or "").splitlines(), 1) if line.strip()]


def milestone_template_errors(number: int, template: dict[str, Any]) -> list[Any]:
    """What is wrong with one template; `number` is its line in the textarea."""
    errors: list[Any] = []
    kind = template.get("kind")
    if not isinstance(kind, str) or not _SLUG.match(kind):
        errors.append(
            _l("Line %(n)s: the kind “%(value)s” may use only a–z, 0–9 and _.", n=number, value=kind or "")
        )
    if not template.get("title"):
        errors.append(_l("Line %(n)s: the title is missing.", n=number))
    if template.get("anchor") not in MILESTONE_ANCHORS:
        errors.append(
            _l(
                "Line %(n)s: the anchor must be start, mid, end or closed, not “%(value)s”.",
                n=number,
                value=template.get("anchor") or "",
            )
        )
    offset = template.get("offset_days")
    if not isinstance(offset, int) or isinstance(offset, bool):
        errors.append(
            _l(
                "Line %(n)s: the offset “%(value)s” must be a whole number of days, e.g. 30 or -7.",
                n=number,
                value=offset if offset is not None else "",
            )
        )
    if template.get("owner") not in MILESTONE_OWNERS:
        errors.append(
            _l(
                "Line %(n)s: the owner must be staff or firm, not “%(value)s”.",
                n=number,
                value=template.get("owner") or "",
            )
        )
    return errors


def parse_milestone_templates(text: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """One template per line: `kind | title | anchor | offset_days | owner`; blank lines are skipped."""
    templates: list[dict[str, Any]] = []
    errors: list[Any] = []
    for number, line in _numbered_lines(text):
        parts = _split_line(line)
        if len(parts) != 5:
            errors.append(
                _l(
                    "Line %(n)s: write five parts: kind | title | anchor | offset_days | owner.",
                    n=number,
                )
            )
            continue
        kind, title, anchor, offset, owner = parts
        try:
            offset_days: Any = int(offset)
        except ValueError:
            offset_days = offset
        template = {
            "kind": kind,
            "title": title,
            "anchor": anchor.lower(),
            "offset_days": offset_days,
            "owner": owner.lower(),
        }
        if line_errors := milestone_template_errors(number, template):
            errors.extend(line_errors)
        else:
            templates.append(template)
    return templates, errors


def format_milestone_templates(templates: list[dict[str, Any]] | None) -> str:
    return "\n".join(
        f"{t['kind']} | {t['title']} | {t['anchor']} | {t['offset_days']} | {t['owner']}"
        for t in templates or []
    )


def _duplicate_error(number: int, value: str, first: int) -> Any:
    return _l(
        "Line %(n)s: “%(value)s” is already used on line %(first)s.", n=number, value=value, first=first
    )


def _document_errors(number: int, document: dict[str, str], seen: dict[str, int]) -> list[Any]:
    errors: list[Any] = []
    kind = document.get("kind") or ""
    if not _SLUG.match(kind):
        errors.append(
            _l("Line %(n)s: the kind “%(value)s” may use only a–z, 0–9 and _.", n=number, value=kind)
        )
    elif kind in seen:
        errors.append(_duplicate_error(number, kind, seen[kind]))
    else:
        seen[kind] = number
    if not document.get("label"):
        errors.append(_l("Line %(n)s: the label is missing.", n=number))
    return errors


def required_document_errors(documents: list[dict[str, str]]) -> list[Any]:
    seen: dict[str, int] = {}
    return [e for n, document in enumerate(documents, 1) for e in _document_errors(n, document, seen)]


def parse_required_documents(text: str) -> tuple[list[dict[str, str]], list[Any]]:
    """One document per line: `kind | label`, the kind a unique slug (business_plan | 사업계획서)."""
    documents: list[dict[str, str]] = []
    errors: list[Any] = []
    seen: dict[str, int] = {}
    for number, line in _numbered_lines(text):
        parts = _split_line(line)
        if len(parts) != 2:
            errors.append(_l("Line %(n)s: write two parts: kind | label.", n=number))
            continue
        document = {"kind": parts[0], "label": parts[1]}
        if line_errors := _document_errors(number, document, seen):
            errors.extend(line_errors)
        else:
            documents.append(document)
    return documents, errors


def _question_errors(number: int, question: dict[str, Any], seen: dict[str, int]) -> list[Any]:
    errors: list[Any] = []
    key = question.get("key") or ""
    if not _SLUG.match(key):
        errors.append(_l("Line %(n)s: the key “%(value)s” may use only a–z, 0–9 and _.", n=number, value=key))
    elif key in seen:
        errors.append(_duplicate_error(number, key, seen[key]))
    else:
        seen[key] = number
    if not question.get("label"):
        errors.append(_l("Line %(n)s: the label is missing.", n=number))
    if not isinstance(question.get("required"), bool):
        errors.append(_l("Line %(n)s: the last part must be required or optional.", n=number))
    return errors


def question_errors(questions: list[dict[str, Any]]) -> list[Any]:
    seen: dict[str, int] = {}
    return [e for n, question in enumerate(questions, 1) for e in _question_errors(n, question, seen)]


def parse_questions(text: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """One question per line: `key | label | required` or `key | label | optional`."""
    questions: list[dict[str, Any]] = []
    errors: list[Any] = []
    seen: dict[str, int] = {}
    for number, line in _numbered_lines(text):
        parts = _split_line(line)
        if len(parts) != 3:
            errors.append(
                _l(
                    "Line %(n)s: write three parts: key | label | required or optional.",
                    n=number,
                )
            )
            continue
        key, label, flag = parts
        required: Any = {"required": True, "optional": False}.get(flag.lower(), flag)
        question = {"key": key, "label": label, "required": required}
        if line_errors := _question_errors(number, question, seen):
            errors.extend(line_errors)
        else:
            questions.append(question)
    return questions, errors


# Scores are stored with two decimals (up to 9,999.99), so a criterion's scale stays well inside that.
MAX_CRITERION_SCORE = 1000


def _positive_number(text: str) -> Any:
    """'10' → 10, '7.5' → 7.5; anything else comes back as typed so the message can quote it."""
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() else number


def _criterion_errors(number: int, criterion: dict[str, Any], seen: dict[str, int]) -> list[Any]:
    errors: list[Any] = []
    key = criterion.get("key") or ""
    if not isinstance(key, str) or not _SLUG.match(key):
        errors.append(_l("Line %(n)s: the key “%(value)s” may use only a–z, 0–9 and _.", n=number, value=key))
    elif key in seen:
        errors.append(_duplicate_error(number, key, seen[key]))
    else:
        seen[key] = number
    if not criterion.get("label"):
        errors.append(_l("Line %(n)s: the label is missing.", n=number))
    weight = criterion.get("weight")
    if not isinstance(weight, int) or isinstance(weight, bool) or weight <= 0:
        errors.append(
            _l(
                "Line %(n)s: the weight “%(value)s” must be a whole number above 0.",
                n=number,
                value=weight if weight is not None else "",
            )
        )
    max_score = criterion.get("max_score")
    if (
        not isinstance(max_score, int | float)
        or isinstance(max_score, bool)
        or not 0 < max_score <= MAX_CRITERION_SCORE
    ):
        errors.append(
            _l(
                "Line %(n)s: the max score “%(value)s” must be a number above 0 and at most %(max)s.",
                n=number,
                value=max_score if max_score is not None else "",
                max=f"{MAX_CRITERION_SCORE:,}",
            )
        )
    return errors


def criterion_errors(criteria: list[dict[str, Any]]) -> list[Any]:
    seen: dict[str, int] = {}
    return [e for n, criterion in enumerate(criteria, 1) for e in _criterion_errors(n, criterion, seen)]


def parse_criteria(text: str) -> tuple[list[dict[str, Any]], list[Any]]:
    """One evaluation criterion per line: `key | label | weight | max score`, e.g.
    `feasibility | 실현가능성 | 60 | 10`. The weight is a whole number; the max score may have decimals."""
    criteria: list[dict[str, Any]] = []
    errors: list[Any] = []
    seen: dict[str, int] = {}
    for number, line in _numbered_lines(text):
        parts = _split_line(line)
        if len(parts) != 4:
            errors.append(_l("Line %(n)s: write four parts: key | label | weight | max score.", n=number))
            continue
        key, label, weight, max_score = parts
        try:
            weight_value: Any = int(weight)
        except ValueError:
            weight_value = weight
        criterion = {
            "key": key,
            "label": label,
            "weight": weight_value,
            "max_score": _positive_number(max_score),
        }
        if line_errors := _criterion_errors(number, criterion, seen):
            errors.extend(line_errors)
        else:
            criteria.append(criterion)
    return criteria, errors


def format_lines(rows: list[dict[str, Any]] | None, keys: tuple[str, ...]) -> str:
    def show(value: Any) -> str:
        if value is True:
            return "required"
        if value is False:
            return "optional"
        return str(value)

    return "\n".join(" | ".join(show(row.get(k)) for k in keys) for row in rows or [])


# --- Engagement settings: SLA per status, outcome surveys ---------------------------------------------------


def default_sla_days(track: Track) -> dict[str, int]:
    return {
        status: days
        for status, days in DEFAULT_SLA_DAYS.items()
        if not (status == EngagementStatus.settlement.value and track in TRACKS_WITHOUT_SETTLEMENT)
    }


def default_survey_rounds(track: Track) -> int:
    return DEFAULT_SURVEY_ROUNDS if track in SURVEYED_TRACKS else 0


def default_survey_indicators(track: Track) -> list[str]:
    return list(DEFAULT_SURVEY_INDICATORS) if track in SURVEYED_TRACKS else []


def _status_key(text: str) -> str:
    # "Final report", "final_report", "final-report" and "완료 보고" all name the same status.
    return re.sub(r"[\s_\-]+", "", text).casefold()


def _status_names() -> dict[str, EngagementStatus]:
    """Every way a status may be typed: its value, and its title in Korean and in English."""
    names: dict[str, EngagementStatus] = {}
    for status in EngagementStatus:
        names.setdefault(_status_key(status.value), status)
    if has_app_context():
        for locale in ("ko", "en"):
            with force_locale(locale):
                for status in EngagementStatus:
                    names.setdefault(_status_key(str(status.title)), status)
    return names


def _sla_days_value(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _days_error(number: int, days: Any) -> Any:
    return _l(
        "Line %(n)s: the days “%(value)s” must be a whole number from 1 to %(max)s.",
        n=number,
        value=days,
        max=MAX_SLA_DAYS,
    )


def _valid_days(days: Any) -> bool:
    return isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= MAX_SLA_DAYS


def parse_sla_days(text: str) -> tuple[dict[str, int], list[Any]]:
    """One status per line: `status | days`, e.g. `pending_agreement | 30` or `협약 대기 | 30`; stored by the
    status's value in lifecycle order."""
    names = _status_names()
    found: dict[EngagementStatus, int] = {}
    seen: dict[EngagementStatus, int] = {}
    errors: list[Any] = []
    for number, line in _numbered_lines(text):
        parts = _split_line(line)
        if len(parts) != 2:
            errors.append(_l("Line %(n)s: write two parts: status | days.", n=number))
            continue
        name, days_text = parts
        days = _sla_days_value(days_text)
        status = names.get(_status_key(name))
        line_errors: list[Any] = []
        if status is None:
            line_errors.append(
                _l(
                    "Line %(n)s: “%(value)s” is not an engagement status; use one of %(statuses)s.",
                    n=number,
                    value=name,
                    statuses=", ".join(s.value for s in SLA_STATUSES),
                )
            )
        elif status not in SLA_STATUSES:
            line_errors.append(
                _l(
                    "Line %(n)s: “%(value)s” is a final status; an SLA applies only to statuses an "
                    "engagement moves on from.",
                    n=number,
                    value=name,
                )
            )
        elif status in seen:
            line_errors.append(_duplicate_error(number, status.value, seen[status]))
        else:
            seen[status] = number
        if not _valid_days(days):
            line_errors.append(_days_error(number, days))
        if line_errors:
            errors.extend(line_errors)
        else:
            found[status] = days
    return {s.value: found[s] for s in SLA_STATUSES if s in found}, errors


def format_sla_days(sla_days: dict[str, int] | None) -> str:
    order = {s.value: n for n, s in enumerate(SLA_STATUSES)}
    return "\n".join(
        f"{status} | {days}"
        for status, days in sorted((sla_days or {}).items(), key=lambda i: order.get(i[0], 99))
    )


def sla_days_problems(sla_days: dict[str, Any], track: Track) -> list[Any]:
    """What is wrong with a stored SLA (the form's parser reports per line; this guards every caller)."""
    problems: list[Any] = []
    allowed = {s.value for s in SLA_STATUSES}
    for status, days in sla_days.items():
        if status not in allowed:
            problems.append(
                _l(
                    "“%(value)s” is not a status an SLA can apply to; use one of %(statuses)s.",
                    value=status,
                    statuses=", ".join(s.value for s in SLA_STATUSES),
                )
            )
        elif not _valid_days(days):
            problems.append(
                _l(
                    "The SLA for %(status)s must be a whole number of days from 1 to %(max)s.",
                    status=status,
                    max=MAX_SLA_DAYS,
                )
            )
    if EngagementStatus.settlement.value in sla_days and track in TRACKS_WITHOUT_SETTLEMENT:
        problems.append(
            _l(
                "%(track)s programmes have no settlement step, so they cannot have an SLA for it.",
                track=track.title,
            )
        )
    return problems


def sla_rows(programme: Programme) -> list[tuple[EngagementStatus, int]]:
    """The programme's SLA in lifecycle order, for display."""
    sla_days = programme.sla_days or {}
    return [(s, sla_days[s.value]) for s in SLA_STATUSES if s.value in sla_days]


def _indicator_length_error(number: int, indicator: str) -> Any:
    return _l(
        "Line %(n)s: an indicator may have at most %(max)s characters (this one has %(count)s).",
        n=number,
        max=MAX_INDICATOR_LENGTH,
        count=len(indicator),
    )


def _too_many_indicators(count: int) -> Any:
    return _l("Enter at most %(max)s indicators (now %(count)s).", max=MAX_SURVEY_INDICATORS, count=count)


def parse_survey_indicators(text: str) -> tuple[list[str], list[Any]]:
    """One KPI indicator per line (매출, 고용 …); the same name twice, in any letter case, is an error."""
    indicators: list[str] = []
    errors: list[Any] = []
    seen: dict[str, int] = {}
    lines = _numbered_lines(text)
    for number, indicator in lines:
        key = indicator.casefold()
        if len(indicator) > MAX_INDICATOR_LENGTH:
            errors.append(_indicator_length_error(number, indicator))
        elif key in seen:
            errors.append(_duplicate_error(number, indicator, seen[key]))
        else:
            seen[key] = number
            indicators.append(indicator)
    if len(lines) > MAX_SURVEY_INDICATORS:
        errors.append(_too_many_indicators(len(lines)))
    return indicators, errors


def format_survey_indicators(indicators: list[str] | None) -> str:
    return "\n".join(indicators or [])


def survey_indicator_problems(indicators: list[Any], rounds: int) -> list[Any]:
    problems: list[Any] = []
    seen: dict[str, int] = {}
    for number, indicator in enumerate(indicators, 1):
        if not isinstance(indicator, str) or not indicator.strip():
            problems.append(_l("Line %(n)s: the indicator is missing.", n=number))
        elif len(indicator) > MAX_INDICATOR_LENGTH:
            problems.append(_indicator_length_error(number, indicator))
        elif indicator.casefold() in seen:
            problems.append(_duplicate_error(number, indicator, seen[indicator.casefold()]))
        else:
            seen[indicator.casefold()] = number
    if len(indicators) > MAX_SURVEY_INDICATORS:
        problems.append(_too_many_indicators(len(indicators)))
    # A survey round asks the firm for these figures; a round asking for nothing is a mistake.
    if rounds > 0 and not indicators:
        problems.append(_l("Name at least one indicator for the outcome-survey rounds to ask about."))
    return problems


# --- Programme years ---------------------------------------------------------------------------------------


@dataclass
class ProgrammeYearData:
    ordinal: int | None
    starts_on: date | None
    ends_on: date | None
    budget_gov_krw: int = 0
    budget_local_krw: int = 0
    budget_self_krw: int = 0


def _committed(programme_year_id: int | None, excluding: Programme | None = None) -> dict[str, int]:
    """What the year's programmes already hold, per source."""
    if programme_year_id is None:
        return dict.fromkeys(BUDGET_FIELDS, 0)
    columns = [sa.func.coalesce(sa.func.sum(getattr(Programme, name)), 0) for name in BUDGET_FIELDS]
    statement = sa.select(*columns).where(Programme.programme_year_id == programme_year_id)
    if excluding is not None and excluding.id is not None:
        statement = statement.where(Programme.id != excluding.id)
    row = db.session.execute(statement).one()
    return {name: int(value) for name, value in zip(BUDGET_FIELDS, row, strict=True)}


def remaining_budget(year: ProgrammeYear, excluding: Programme | None = None) -> dict[str, int]:
    """Per source, what the year has not yet given to its programmes (`excluding` one being edited)."""
    committed = _committed(year.id, excluding=excluding)
    return {name: getattr(year, name) - committed[name] for name in BUDGET_FIELDS}


def _programme_year_problems(
    consortium_id: int, data: ProgrammeYearData, year: ProgrammeYear | None
) -> Problems:
    problems: Problems = {}
    if data.ordinal is None or data.ordinal < 1:
        problems["ordinal"] = [_l("Enter a whole number of 1 or more.")]
    else:
        clash = sa.select(ProgrammeYear.id).where(
            ProgrammeYear.consortium_id == consortium_id, ProgrammeYear.ordinal == data.ordinal
        )
        if year is not None:
            clash = clash.where(ProgrammeYear.id != year.id)
        if db.session.scalar(clash) is not None:
            problems["ordinal"] = [_l("This consortium already has year %(n)s.", n=data.ordinal)]
    if data.starts_on is None:
        problems["starts_on"] = [_l("Enter a date.")]
    if data.ends_on is None:
        problems["ends_on"] = [_l("Enter a date.")]
    elif data.starts_on is not None and data.ends_on <= data.starts_on:
        problems["ends_on"] = [_l("The end date must be after the start date.")]
    problems.update(funding_split_problems(data.budget_gov_krw, data.budget_local_krw, data.budget_self_krw))
    if year is not None:
        committed = _committed(year.id)
        for name in BUDGET_FIELDS:
            if name not in problems and getattr(data, name) < committed[name]:
                problems[name] = [
                    _l(
                        "The programmes of this year already hold %(amount)s won of %(source)s.",
                        amount=_won(committed[name]),
                        source=SOURCE_NAMES[name],
                    )
                ]
    return problems


def create_programme_year(consortium: Consortium, data: ProgrammeYearData, actor: User) -> ProgrammeYear:
    require(consortium.can_manage(actor))
    if problems := _programme_year_problems(consortium.id, data, None):
        raise ValidationFailed(problems)
    year = ProgrammeYear(consortium=consortium, **asdict(data))
    db.session.add(year)
    db.session.flush()
    record_audit("programme_year.create", year, {"consortium_id": consortium.id, **asdict(data)}, actor=actor)
    return year


def update_programme_year(year: ProgrammeYear, data: ProgrammeYearData, actor: User) -> ProgrammeYear:
    require(year.can_manage(actor))
    if problems := _programme_year_problems(year.consortium_id, data, year):
        raise ValidationFailed(problems)
    values = asdict(data)
    apply_changes(year, values, "programme_year.update", actor)
    return year


# --- Programmes --------------------------------------------------------------------------------------------


@dataclass
class ProgrammeData:
    name: str
    institution_id: int | None
    track: Track
    target: int | None
    unit: TargetUnit | None = None  # None: the track's default
    counting_point: CountingPoint | None = None  # None: the track's default
    budget_gov_krw: int = 0
    budget_local_krw: int = 0
    budget_self_krw: int = 0
    per_firm_cap_krw: int | None = None
    exclusivity_years: int = 0
    requires_sme_certificate: bool = False
    excluded_ksic_prefixes: list[str] = field(default_factory=list)
    review_stages: list[str] = field(default_factory=list)
    milestone_templates: list[dict[str, Any]] = field(default_factory=list)
    # None: the track's default, like `unit` and `counting_point` (see default_sla_days and the others).
    sla_days: dict[str, int] | None = None
    survey_rounds: int | None = None
    survey_indicators: list[str] | None = None
    reminders_on_business_days: bool = False


def _programme_values(data: ProgrammeData) -> dict[str, Any]:
    values = asdict(data)
    values["name"] = data.name.strip()
    values["unit"] = data.unit or DEFAULT_UNIT.get(data.track, TargetUnit.firms)
    values["counting_point"] = data.counting_point or DEFAULT_COUNTING_POINT[data.track]
    if data.sla_days is None:
        values["sla_days"] = default_sla_days(data.track)
    if data.survey_rounds is None:
        values["survey_rounds"] = default_survey_rounds(data.track)
    if data.survey_indicators is None:
        values["survey_indicators"] = default_survey_indicators(data.track)
    # Stored in the enum's order, so the same choice never shows up as a change in the audit trail.
    values["review_stages"] = [s.value for s in ReviewStage if s.value in data.review_stages]
    return values


def _programme_problems(
    year: ProgrammeYear, data: ProgrammeData, values: dict[str, Any], programme: Programme | None
) -> Problems:
    problems: Problems = {}
    if not values["name"]:
        problems["name"] = [_l("Enter a name.")]
    institution = db.session.get(Institution, data.institution_id) if data.institution_id else None
    if institution is None or institution.consortium_id != year.consortium_id:
        problems["institution_id"] = [_l("Choose an institution of this consortium.")]
    if data.target is None or data.target <= 0:
        problems["target"] = [_l("The target must be a whole number above 0.")]
    if data.per_firm_cap_krw is not None and data.per_firm_cap_krw <= 0:
        problems["per_firm_cap_krw"] = [_l("Leave the cap empty or enter an amount above 0.")]
    if not 0 <= (data.exclusivity_years or 0) <= MAX_EXCLUSIVITY_YEARS:
        problems["exclusivity_years"] = [
            _l("Enter a number of years from 0 to %(max)s.", max=MAX_EXCLUSIVITY_YEARS)
        ]
    if errors := ksic_prefix_problems(data.excluded_ksic_prefixes):
        problems["excluded_ksic_prefixes"] = errors
    unknown = set(data.review_stages) - {s.value for s in ReviewStage}
    if unknown:
        problems["review_stages"] = [_l("Choose review stages from the list.")]
    template_errors = [
        e for n, t in enumerate(data.milestone_templates, 1) for e in milestone_template_errors(n, t)
    ]
    if template_errors:
        problems["milestone_templates"] = template_errors
    if errors := sla_days_problems(values["sla_days"], data.track):
        problems["sla_days"] = errors
    rounds = values["survey_rounds"]
    if not isinstance(rounds, int) or not 0 <= rounds <= MAX_SURVEY_ROUNDS:
        problems["survey_rounds"] = [_l("Enter a number of rounds from 0 to %(max)s.", max=MAX_SURVEY_ROUNDS)]
        rounds = 0
    if errors := survey_indicator_problems(values["survey_indicators"], rounds):
        problems["survey_indicators"] = errors
    problems.update(funding_split_problems(data.budget_gov_krw, data.budget_local_krw, data.budget_self_krw))
    remaining_by_source = remaining_budget(year, excluding=programme)
    for name in BUDGET_FIELDS:
        remaining = remaining_by_source[name]
        if name not in problems and getattr(data, name) > remaining:
            problems[name] = [
                _l(
                    "This is more than the programme year has left: %(amount)s won of %(source)s remain.",
                    amount=_won(max(remaining, 0)),
                    source=SOURCE_NAMES[name],
                )
            ]
    return problems


def create_programme(year: ProgrammeYear, data: ProgrammeData, actor: User) -> Programme:
    require(year.can_manage(actor))
    values = _programme_values(data)
    if problems := _programme_problems(year, data, values, None):
        raise ValidationFailed(problems)
    programme = Programme(programme_year=year, **values)
    db.session.add(programme)
    db.session.flush()
    record_audit("programme.create", programme, {"programme_year_id": year.id, **values}, actor=actor)
    return programme


def update_programme(programme: Programme, data: ProgrammeData, actor: User) -> Programme:
    require(programme.can_manage(actor))
    values = _programme_values(data)
    if problems := _programme_problems(programme.programme_year, data, values, programme):
        raise ValidationFailed(problems)
    apply_changes(programme, values, "programme.update", actor)
    return programme


# --- Calls -------------------------------------------------------------------------------------------------


@dataclass
class CallData:
    title: str
    cohort: str
    opens_at: datetime | None  # aware; the view converts the KST wall clock typed in
    closes_at: datetime | None
    capacity: int | None
    eligibility_text: str = ""
    required_documents: list[dict[str, str]] = field(default_factory=list)
    questions: list[dict[str, Any]] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)


def _call_problems(data: CallData) -> Problems:
    problems: Problems = {}
    if not data.title:
        problems["title"] = [_l("Enter a title.")]
    if not data.cohort:
        problems["cohort"] = [_l("Enter a cohort label, e.g. 2026-1차.")]
    if data.opens_at is None:
        problems["opens_at"] = [_l("Enter a date and time.")]
    if data.closes_at is None:
        problems["closes_at"] = [_l("Enter a date and time.")]
    elif data.opens_at is not None and data.closes_at <= data.opens_at:
        problems["closes_at"] = [_l("The closing time must be after the opening time.")]
    if data.capacity is None or data.capacity <= 0:
        problems["capacity"] = [_l("The capacity must be a whole number above 0.")]
    if errors := required_document_errors(data.required_documents):
        problems["required_documents"] = errors
    if errors := question_errors(data.questions):
        problems["questions"] = errors
    if errors := criterion_errors(data.criteria):
        problems["criteria"] = errors
    return problems


def _has_scores(call: Call) -> bool:
    from crm.applications.models import Application
    from crm.evaluations.models import EvaluatorAssignment, Score

    return bool(
        db.session.scalar(
            sa.select(sa.literal(True))
            .select_from(Score)
            .join(EvaluatorAssignment, Score.assignment_id == EvaluatorAssignment.id)
            .join(Application, EvaluatorAssignment.application_id == Application.id)
            .where(Application.call_id == call.id)
            .limit(1)
        )
    )


def _call_values(data: CallData) -> dict[str, Any]:
    values = asdict(data)
    values["title"] = data.title.strip()
    values["cohort"] = data.cohort.strip()
    values["eligibility_text"] = (data.eligibility_text or "").strip()
    return values


def create_call(programme: Programme, data: CallData, actor: User) -> Call:
    require(programme.can_manage(actor))
    values = _call_values(data)
    if problems := _call_problems(CallData(**values)):
        raise ValidationFailed(problems)
    call = Call(programme=programme, **values)
    db.session.add(call)
    db.session.flush()
    record_audit("call.create", call, {"programme_id": programme.id, **values}, actor=actor)
    return call


def update_call(call: Call, data: CallData, actor: User) -> Call:
    require(call.programme.can_manage(actor))
    values = _call_values(data)
    problems = _call_problems(CallData(**values))
    # Totals already given were weighed by the old criteria: changing them would make results incomparable.
    if "criteria" not in problems and values["criteria"] != (call.criteria or []) and _has_scores(call):
        problems["criteria"] = [
            _l("Evaluators have already entered scores for this call, so its criteria can no longer change.")
        ]
    if problems:
        raise ValidationFailed(problems)
    apply_changes(call, values, "call.update", actor)
    return call


def managed_consortium(actor: User) -> Consortium | None:
    """The consortium a manager creates programme years in (admins choose one)."""
    if actor.role is Role.consortium_manager and actor.scope_consortium_id:
        return db.session.get(Consortium, actor.scope_consortium_id)
    return None
