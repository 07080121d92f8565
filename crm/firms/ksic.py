"""한국표준산업분류 (KSIC) sections and divisions, enough to validate and group firms' industry codes.

Programmes exclude or target industries by section (e.g. no 부동산업), and dashboards group firms by
section, so we need the 5-digit 세세분류 code → section letter mapping. The full 5-digit tables are not
bundled: a code is accepted when its 2-digit division exists, which catches typos and swapped fields
without shipping (and maintaining) thousands of rows per revision. Revisions 10 (2017) and 11 (2024)
share the same sections and divisions, so one table serves both.
"""

from __future__ import annotations

__all__ = ["DIVISIONS", "KSIC_REVISIONS", "SECTIONS", "is_valid_ksic", "section_name", "section_of"]

#: Revisions a firm's KSIC code may be recorded under.
KSIC_REVISIONS: tuple[int, ...] = (10, 11)

#: Section letter → official Korean name (대분류).
SECTIONS: dict[str, str] = {
    "A": "농업, 임업 및 어업",
    "B": "광업",
    "C": "제조업",
    "D": "전기, 가스, 증기 및 공기 조절 공급업",
    "E": "수도, 하수 및 폐기물 처리, 원료 재생업",
    "F": "건설업",
    "G": "도매 및 소매업",
    "H": "운수 및 창고업",
    "I": "숙박 및 음식점업",
    "J": "정보통신업",
    "K": "금융 및 보험업",
    "L": "부동산업",
    "M": "전문, 과학 및 기술 서비스업",
    "N": "사업시설 관리, 사업 지원 및 임대 서비스업",
    "O": "공공 행정, 국방 및 사회보장 행정",
    "P": "교육 서비스업",
    "Q": "보건업 및 사회복지 서비스업",
    "R": "예술, 스포츠 및 여가관련 서비스업",
    "S": "협회 및 단체, 수리 및 기타 개인 서비스업",
    "T": "가구 내 고용활동 및 달리 분류되지 않은 자가 소비 생산활동",
    "U": "국제 및 외국기관",
}

# Inclusive division ranges per section; every number in a range is an existing division (중분류).
_SECTION_RANGES: tuple[tuple[str, int, int], ...] = (
    ("A", 1, 3),
    ("B", 5, 8),
    ("C", 10, 34),
    ("D", 35, 35),
    ("E", 36, 39),
    ("F", 41, 42),
    ("G", 45, 47),
    ("H", 49, 52),
    ("I", 55, 56),
    ("J", 58, 63),
    ("K", 64, 66),
    ("L", 68, 68),
    ("M", 70, 73),
    ("N", 74, 76),
    ("O", 84, 84),
    ("P", 85, 85),
    ("Q", 86, 87),
    ("R", 90, 91),
    ("S", 94, 96),
    ("T", 97, 98),
    ("U", 99, 99),
)

#: 2-digit division (중분류) → section letter. Gaps (04, 09, 40, 43, 44, …) are not divisions.
DIVISIONS: dict[str, str] = {
    f"{number:02d}": letter for letter, low, high in _SECTION_RANGES for number in range(low, high + 1)
}


def is_valid_ksic(code: str | None) -> bool:
    """True for exactly five ASCII digits whose 2-digit division exists in KSIC.

    ASCII is checked explicitly because ``str.isdigit`` also accepts full-width and other Unicode digits,
    which no registry issues but which do arrive from copy-pasted documents.
    """
    return (
        isinstance(code, str)
        and len(code) == 5
        and code.isascii()
        and code.isdigit()
        and code[:2] in DIVISIONS
    )


def section_of(code: str | None) -> str | None:
    """Section letter of a 5-digit KSIC code ("26110" → "C"), or None when the code is not valid."""
    if not isinstance(code, str) or not is_valid_ksic(code):
        return None
    return DIVISIONS[code[:2]]


def section_name(letter: str | None) -> str | None:
    """Korean name of a section letter, or None when unknown."""
    if not isinstance(letter, str):
        return None
    return SECTIONS.get(letter.strip().upper())
