"""Korean administrative regions: 시도 and 시군구 codes for firm addresses and consortium regions.

Codes are the first five digits of the 법정동코드 (행정표준코드관리시스템), which public data APIs
(국토부 실거래, 공공데이터포털) and most firm registries use, so storing them lets us join against
those sources without matching names. The list lives in ``data/sigungu.csv`` rather than in code so
that a reorganisation is a reviewed data edit, not a code change. It already reflects
강원 42 → 51 (2023), 전북 45 → 52 (2024), 군위군 47720 → 27720 (2023), the 부천시 구 (2024)
and the 화성시 구 (2026-02).

Cities with 일반구 (수원시, 성남시, 청주시 …) appear twice: the city row (41110 수원시) and one
row per 구 (41111 수원시 장안구). Both are valid codes — sources that only know the city must
validate too.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

__all__ = [
    "SIDO",
    "is_valid_sigungu",
    "sido_choices",
    "sido_for_address",
    "sido_name",
    "sigungu_choices",
    "sigungu_full_name",
    "sigungu_name",
    "sigungu_of",
]

_CSV_PATH = Path(__file__).parent / "data" / "sigungu.csv"

#: 2-digit 시도 code → current official name. Kept literal (not derived from the CSV) so that importing
#: this module never touches the filesystem and the canonical names are visible in review; a test checks
#: the CSV agrees with it.
SIDO: dict[str, str] = {
    "11": "서울특별시",
    "26": "부산광역시",
    "27": "대구광역시",
    "28": "인천광역시",
    "29": "광주광역시",
    "30": "대전광역시",
    "31": "울산광역시",
    "36": "세종특별자치시",
    "41": "경기도",
    "43": "충청북도",
    "44": "충청남도",
    "46": "전라남도",
    "47": "경상북도",
    "48": "경상남도",
    "50": "제주특별자치도",
    "51": "강원특별자치도",
    "52": "전북특별자치도",
}

#: Address prefixes → 시도 code. Includes the common short forms used on business registrations and in
#: road-name addresses typed by hand ("경기 성남시 …"), plus the pre-2023/2024 names of 강원 and 전북 that
#: still appear on older documents.
_ADDRESS_PREFIXES: dict[str, str] = {
    **{name: code for code, name in SIDO.items()},
    "서울": "11",
    "부산": "26",
    "대구": "27",
    "인천": "28",
    "광주": "29",
    "대전": "30",
    "울산": "31",
    "세종": "36",
    "경기": "41",
    "충북": "43",
    "충청북도": "43",
    "충남": "44",
    "충청남도": "44",
    "전남": "46",
    "전라남도": "46",
    "경북": "47",
    "경상북도": "47",
    "경남": "48",
    "경상남도": "48",
    "제주": "50",
    "강원": "51",
    "강원도": "51",
    "전북": "52",
    "전라북도": "52",
}
# Longest first so that "전라북도" wins over any shorter prefix that might also match.
_PREFIXES_BY_LENGTH: tuple[tuple[str, str], ...] = tuple(
    sorted(_ADDRESS_PREFIXES.items(), key=lambda item: len(item[0]), reverse=True)
)


class _Sigungu(NamedTuple):
    code: str
    sido_code: str
    name: str


@cache
def _sigungu_table() -> MappingProxyType[str, _Sigungu]:
    """Load the CSV once; read-only so callers cannot corrupt the shared cached table."""
    table: dict[str, _Sigungu] = {}
    with _CSV_PATH.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            code = row["code"].strip()
            table[code] = _Sigungu(code=code, sido_code=row["sido_code"].strip(), name=row["name"].strip())
    return MappingProxyType(dict(sorted(table.items())))


def sido_name(code: str | None) -> str | None:
    """Official name of a 2-digit 시도 code, or None when unknown."""
    if not isinstance(code, str):
        return None
    return SIDO.get(code.strip())


def sigungu_name(code: str | None) -> str | None:
    """시군구 name without the 시도 ("31140" → "남구"); None when the code is unknown."""
    if not isinstance(code, str):
        return None
    entry = _sigungu_table().get(code.strip())
    return entry.name if entry else None


def sigungu_full_name(code: str | None) -> str | None:
    """시도 plus 시군구 ("31140" → "울산광역시 남구"), since bare names like 남구 or 중구 are ambiguous.

    세종 has no 시군구 below it; its single row is named after the 시도 itself, so the name is not doubled.
    """
    if not isinstance(code, str):
        return None
    entry = _sigungu_table().get(code.strip())
    if entry is None:
        return None
    sido = SIDO[entry.sido_code]
    return sido if entry.name == sido else f"{sido} {entry.name}"


def sigungu_of(sido_code: str) -> list[tuple[str, str]]:
    """(code, name) of every 시군구 in one 시도, sorted by code — feeds a dependent region select."""
    return [(e.code, e.name) for e in _sigungu_table().values() if e.sido_code == sido_code]


def sido_choices() -> list[tuple[str, str]]:
    """(code, name) of all 17 시도 sorted by code, for form select fields."""
    return sorted(SIDO.items())


def sigungu_choices() -> list[tuple[str, str]]:
    """(code, "울산광역시 남구") for every 시군구 sorted by code; full labels because 구 names repeat."""
    return [(code, sigungu_full_name(code) or code) for code in _sigungu_table()]


def is_valid_sigungu(code: str | None, sido_code: str | None = None) -> bool:
    """True when the code exists and, if ``sido_code`` is given, lies in that 시도.

    The 시도 check catches forms where the 시도 select and 시군구 select disagree (a stale dependent
    select), which would otherwise store a firm under the wrong consortium region.
    """
    if not isinstance(code, str):
        return False
    entry = _sigungu_table().get(code)
    if entry is None:
        return False
    return sido_code is None or entry.sido_code == sido_code


def sido_for_address(address: str | None) -> str | None:
    """Best-effort 시도 code for a free-text Korean address, from the name it starts with.

    Used to pre-fill the region when importing firms whose address is text only; it is a prefix match,
    not a geocoder, so an address that does not start with a 시도 name or short form gives None.
    """
    if not isinstance(address, str):
        return None
    text = address.strip()
    for prefix, code in _PREFIXES_BY_LENGTH:
        if text.startswith(prefix):
            return code
    return None
