"""What an import can fill (firm and contact fields), the header names that suggest each, and turning a
row's text cells into typed values: numbers, dates and region codes typed the way Korean sheets write them.
The rules for what a valid firm or contact is stay in crm.firms.operations."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l

from crm.firms import regions


@dataclass(frozen=True)
class ImportField:
    key: str
    label: Any
    synonyms: tuple[str, ...]
    contact: bool = False


FIELDS: tuple[ImportField, ...] = (
    ImportField(
        "brn",
        _l("Business registration number (사업자등록번호)"),
        (
            "사업자등록번호",
            "사업자번호",
            "사업자등록 번호",
            "등록번호",
            "brn",
            "business registration number",
            "bizno",
            "biz no",
            "business number",
        ),
    ),
    ImportField(
        "name",
        _l("Firm name"),
        (
            "기업명",
            "업체명",
            "회사명",
            "상호",
            "상호명",
            "법인명",
            "기업",
            "업체",
            "name",
            "firm",
            "firm name",
            "company",
            "company name",
        ),
    ),
    ImportField(
        "corp_no",
        _l("Corporate registration number (법인등록번호)"),
        ("법인등록번호", "법인번호", "corporate registration number", "corp no", "corporate number"),
    ),
    ImportField(
        "ceo_name",
        _l("CEO"),
        ("대표자", "대표자명", "대표자 성명", "대표", "대표이사", "ceo", "ceo name", "representative"),
    ),
    ImportField(
        "founded_on",
        _l("Founded on"),
        (
            "설립일",
            "설립일자",
            "설립연월일",
            "창업일",
            "개업일",
            "개업일자",
            "founded",
            "founded on",
            "founding date",
            "established",
        ),
    ),
    ImportField(
        "address",
        _l("Address"),
        ("주소", "소재지", "사업장주소", "사업장 소재지", "본사주소", "본점주소", "address"),
    ),
    ImportField("sido", _l("시도"), ("시도", "시·도", "시도명", "광역시도", "sido", "province")),
    ImportField("sigungu", _l("시군구"), ("시군구", "시·군·구", "시군구명", "sigungu", "district")),
    ImportField(
        "ksic_code",
        _l("KSIC code"),
        (
            "업종코드",
            "산업분류코드",
            "표준산업분류코드",
            "표준산업분류",
            "ksic",
            "ksic code",
            "industry code",
        ),
    ),
    ImportField(
        "employees",
        _l("Employees"),
        (
            "종업원수",
            "종업원 수",
            "상시근로자수",
            "상시 근로자 수",
            "근로자수",
            "직원수",
            "임직원수",
            "employees",
            "headcount",
            "staff",
        ),
    ),
    ImportField(
        "contact_name",
        _l("Contact name"),
        ("담당자", "담당자명", "담당자 성명", "담당자 이름", "contact", "contact name", "contact person"),
        contact=True,
    ),
    ImportField(
        "contact_position",
        _l("Contact position"),
        ("직위", "직책", "담당자 직위", "담당자 직책", "position", "job title", "contact position"),
        contact=True,
    ),
    ImportField(
        "contact_phone",
        _l("Contact phone"),
        (
            "전화",
            "전화번호",
            "연락처",
            "휴대폰",
            "휴대전화",
            "핸드폰",
            "담당자 연락처",
            "담당자 전화",
            "담당자 휴대폰",
            "phone",
            "mobile",
            "tel",
            "telephone",
            "contact phone",
        ),
        contact=True,
    ),
    ImportField(
        "contact_email",
        _l("Contact e-mail"),
        (
            "이메일",
            "이메일주소",
            "전자우편",
            "메일",
            "담당자 이메일",
            "email",
            "e-mail",
            "email address",
            "contact email",
        ),
        contact=True,
    ),
)
FIELD_BY_KEY: dict[str, ImportField] = {f.key: f for f in FIELDS}
CONTACT_KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.contact)
REQUIRED_KEYS: tuple[str, ...] = ("brn",)  # the name is needed only for new firms: checked per row

_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|（[^）]*）")


def normalise_header(text: str) -> str:
    """'사업자등록번호 (10자리)' → '사업자등록번호', 'E-Mail' → 'email', '시·도' → '시도'."""
    text = _BRACKETS.sub("", unicodedata.normalize("NFKC", text or "")).lower()
    return "".join(char for char in text if char.isalnum())


@cache
def _synonyms() -> dict[str, tuple[str, ...]]:
    return {f.key: tuple(normalise_header(s) for s in f.synonyms) for f in FIELDS}


def _score(header: str, synonyms: tuple[str, ...]) -> tuple[int, int, int] | None:
    """How well a header names a field: an exact synonym beats one the header ends with ('담당자 이메일' is
    an e-mail, Korean puts the head noun last), which beats one it merely contains; longer beats shorter."""
    best = None
    for synonym in synonyms:
        if not synonym:
            continue
        if header == synonym:
            score = (3, len(synonym), 0)
        elif header.endswith(synonym):
            score = (2, len(synonym), 0)
        elif synonym in header and len(synonym) >= 3:
            score = (1, len(synonym), 0)
        else:
            continue
        best = max(best or score, score)
    return best


def suggest_mapping(headers: list[str]) -> dict[str, int]:
    """{field key: column index} from the header names, each field and each column used at most once, the
    best matches first."""
    candidates = []
    for index, header in enumerate(headers):
        normalised = normalise_header(header)
        if not normalised:
            continue
        for position, (key, synonyms) in enumerate(_synonyms().items()):
            if (score := _score(normalised, synonyms)) is not None:
                candidates.append((score, -position, -index, key, index))
    mapping: dict[str, int] = {}
    used: set[int] = set()
    for *_, key, index in sorted(candidates, reverse=True):
        if key not in mapping and index not in used:
            mapping[key] = index
            used.add(index)
    return mapping


def mapping_problems(mapping: dict[str, int | None], width: int) -> dict[str, list[Any]]:
    """{field key: [message]} for a mapping the user chose: BRN mapped, columns that exist, each once."""
    problems: dict[str, list[Any]] = {}
    seen: dict[int, str] = {}
    for key, index in mapping.items():
        if index is None:
            continue
        if key not in FIELD_BY_KEY or not 0 <= index < width:
            problems[key] = [_l("Choose a column of the file.")]
        elif index in seen:
            problems[key] = [
                _l("This column is already used for %(field)s.", field=FIELD_BY_KEY[seen[index]].label)
            ]
        else:
            seen[index] = key
    for key in REQUIRED_KEYS:
        if mapping.get(key) is None:
            problems.setdefault(key, []).append(
                _l("Choose the column with the business registration number: rows are matched by it.")
            )
    return problems


# --- typed values from text -------------------------------------------------------------------------


def parse_whole_number(text: str) -> int:
    """'1,234', '25명', '25.0' → int; ValueError otherwise."""
    cleaned = re.sub(r"[,\s]|명$", "", text)
    if re.fullmatch(r"\d+(\.0+)?", cleaned):
        return int(cleaned.split(".")[0])
    raise ValueError(text)


_DATE = re.compile(r"(\d{4})\s*[-./년]\s*(\d{1,2})\s*[-./월]\s*(\d{1,2})\s*일?")


def parse_date(text: str) -> date:
    """'2015-03-02', '2015.3.2', '2015/03/02', '2015년 3월 2일', '20150302' or an Excel date → date."""
    text = text.strip()
    if re.fullmatch(r"\d{8}", text):
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    if match := _DATE.fullmatch(text.rstrip(".")):
        return date(*(int(part) for part in match.groups()))
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(text) from None


# --- regions by code or name ---------------------------------------------------------------------------


@cache
def _sigungu_index() -> tuple[dict[str, str], dict[tuple[str, str], str], dict[str, list[str]]]:
    """Full name → code, (시도, name) → code, name → codes (several for 중구, 남구 …)."""
    by_full: dict[str, str] = {}
    by_pair: dict[tuple[str, str], str] = {}
    by_name: dict[str, list[str]] = {}
    for sido in regions.SIDO:
        for code, name in regions.sigungu_of(sido):
            by_full[_squash(regions.sigungu_full_name(code) or "")] = code
            by_pair[(sido, _squash(name))] = code
            by_name.setdefault(_squash(name), []).append(code)
    return by_full, by_pair, by_name


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def resolve_sido(text: str) -> str | None:
    """A 2-digit code, an official name or a short form ('울산', '경기', '강원도') → code; None if unknown."""
    text = text.strip()
    if text in regions.SIDO:
        return text
    code = regions.sido_for_address(text)
    # A bare name only: "울산 남구" in the 시도 column is a 시군구 typed in the wrong place, not 울산.
    return code if code and " " not in text else None


def resolve_sigungu(text: str, sido: str | None) -> tuple[str | None, Any | None]:
    """(code, None), or (None, message) for a 시군구 typed as a code, a name within the 시도, or a full name
    ('울산광역시 남구', '울산 남구')."""
    text = text.strip()
    if regions.is_valid_sigungu(text):
        return text, None
    by_full, by_pair, by_name = _sigungu_index()
    squashed = _squash(text)
    if squashed in by_full:
        return by_full[squashed], None
    parts = text.split(None, 1)
    if len(parts) == 2 and (prefix_sido := resolve_sido(parts[0])) is not None:
        sido, squashed = prefix_sido, _squash(parts[1])
    if sido is not None:
        if (sido, squashed) in by_pair:
            return by_pair[(sido, squashed)], None
        return None, _l("Unknown 시군구 “%(value)s” in %(sido)s.", value=text, sido=regions.sido_name(sido))
    codes = by_name.get(squashed, [])
    if len(codes) == 1:
        return codes[0], None
    if codes:
        return None, _l("“%(value)s” exists in several 시도: fill in the 시도 column too.", value=text)
    return None, _l("Unknown 시군구 “%(value)s”.", value=text)


def region_from_address(address: str) -> tuple[str | None, str | None]:
    """Best effort for rows with an address but no region columns: the 시도 it starts with, and its 시군구
    when the next words name one ('경기도 성남시 분당구 …' → 41135)."""
    sido = regions.sido_for_address(address)
    if sido is None:
        return None, None
    _, by_pair, _ = _sigungu_index()
    words = address.split()[1:3]
    for count in (2, 1):
        if len(words) >= count and (sido, "".join(words[:count])) in by_pair:
            return sido, by_pair[(sido, "".join(words[:count]))]
    return sido, None
