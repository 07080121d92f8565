"""Unit tests for the region code list and KSIC tables: pure data, no app or database needed.

These pin the facts most likely to be wrong in a hand-maintained code list — renamed 시도 (강원 51,
전북 52), moved 군 (군위군 to 대구) and the 구 of 일반구 cities — so a bad edit to the CSV fails loudly.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from crm.firms import ksic, regions

CSV_PATH = Path(regions.__file__).parent / "data" / "sigungu.csv"


def _csv_rows() -> list[dict[str, str]]:
    with CSV_PATH.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --- regions -------------------------------------------------------------------------------------------


def test_all_seventeen_sido_with_current_names() -> None:
    assert len(regions.SIDO) == 17
    assert regions.SIDO["11"] == "서울특별시"
    assert regions.SIDO["31"] == "울산광역시"
    assert regions.SIDO["36"] == "세종특별자치시"
    assert regions.SIDO["44"] == "충청남도"
    assert regions.SIDO["50"] == "제주특별자치도"
    assert regions.SIDO["51"] == "강원특별자치도"
    assert regions.SIDO["52"] == "전북특별자치도"
    # The pre-2023/2024 codes must be gone, or firms could be filed under a dead region.
    assert "42" not in regions.SIDO
    assert "45" not in regions.SIDO
    assert regions.sido_choices() == sorted(regions.SIDO.items())


def test_every_sido_has_sigungu_and_csv_agrees_with_sido_names() -> None:
    rows = _csv_rows()
    assert {row["sido_code"] for row in rows} == set(regions.SIDO)
    for row in rows:
        assert row["sido_name"] == regions.SIDO[row["sido_code"]], row
    assert 250 <= len(rows) <= 280


def test_codes_are_five_digits_prefixed_by_sido_and_unique() -> None:
    rows = _csv_rows()
    for row in rows:
        code = row["code"]
        assert len(code) == 5 and code.isascii() and code.isdigit(), row
        assert code.startswith(row["sido_code"]), row
        assert row["name"], row
    duplicates = [code for code, count in Counter(row["code"] for row in rows).items() if count > 1]
    assert duplicates == []


def test_ulsan_has_its_five_districts() -> None:
    assert regions.sigungu_of("31") == [
        ("31110", "중구"),
        ("31140", "남구"),
        ("31170", "동구"),
        ("31200", "북구"),
        ("31710", "울주군"),
    ]
    assert regions.sigungu_name("31140") == "남구"
    assert regions.sigungu_full_name("31140") == "울산광역시 남구"


def test_gangwon_under_51_and_jeonbuk_under_52() -> None:
    assert regions.sigungu_full_name("51110") == "강원특별자치도 춘천시"
    assert regions.sigungu_name("51130") == "원주시"
    assert regions.sigungu_full_name("52111") == "전북특별자치도 전주시 완산구"
    assert regions.sigungu_name("42110") is None
    assert regions.sigungu_name("45111") is None
    assert len(regions.sigungu_of("51")) == 18


def test_gunwi_belongs_to_daegu() -> None:
    assert regions.sigungu_full_name("27720") == "대구광역시 군위군"
    assert regions.is_valid_sigungu("27720", "27")
    assert not regions.is_valid_sigungu("47720")


def test_general_gu_rows_sit_beside_their_city() -> None:
    assert regions.sigungu_name("41110") == "수원시"
    assert regions.sigungu_name("41111") == "수원시 장안구"
    assert regions.sigungu_full_name("44131") == "충청남도 천안시 동남구"


def test_sejong_full_name_is_not_doubled() -> None:
    assert regions.sigungu_of("36") == [("36110", "세종특별자치시")]
    assert regions.sigungu_full_name("36110") == "세종특별자치시"


def test_sigungu_choices_are_sorted_with_full_labels() -> None:
    choices = regions.sigungu_choices()
    assert [code for code, _ in choices] == sorted(code for code, _ in choices)
    assert ("31140", "울산광역시 남구") in choices
    assert len(choices) == len(_csv_rows())


@pytest.mark.parametrize(
    ("code", "sido_code", "expected"),
    [
        ("31140", None, True),
        ("31140", "31", True),
        ("31140", "26", False),
        ("99999", None, False),
        ("3114", None, False),
        ("", None, False),
        (None, None, False),
    ],
)
def test_is_valid_sigungu(code: str | None, sido_code: str | None, expected: bool) -> None:
    assert regions.is_valid_sigungu(code, sido_code) is expected


def test_unknown_lookups_return_none() -> None:
    assert regions.sido_name("31") == "울산광역시"
    assert regions.sido_name("99") is None
    assert regions.sigungu_name("00000") is None
    assert regions.sigungu_full_name("00000") is None
    assert regions.sigungu_of("99") == []


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("울산광역시 남구 삼산로 1", "31"),
        ("경기 성남시 분당구 판교역로 1", "41"),
        ("서울 강남구 테헤란로 1", "11"),
        ("  부산광역시 해운대구 센텀중앙로 1", "26"),
        ("강원도 춘천시 중앙로 1", "51"),
        ("전라북도 전주시 완산구 효자로 225", "52"),
        ("전남 무안군 삼향읍 오룡길 1", "46"),
        ("충청남도 천안시 동남구 목천읍", "44"),
        ("세종특별자치시 한누리대로 2130", "36"),
        ("제주시 첨단로 1", "50"),
        ("성남시 분당구 판교역로 1", None),
        ("", None),
        (None, None),
    ],
)
def test_sido_for_address(address: str | None, expected: str | None) -> None:
    assert regions.sido_for_address(address) == expected


# --- KSIC ----------------------------------------------------------------------------------------------


def test_sections_cover_a_to_u() -> None:
    assert list(ksic.SECTIONS) == [chr(c) for c in range(ord("A"), ord("U") + 1)]
    assert ksic.section_name("J") == "정보통신업"
    assert ksic.section_name("c") == "제조업"
    assert ksic.section_name("Z") is None
    assert ksic.KSIC_REVISIONS == (10, 11)


def test_every_section_has_a_division_and_gaps_are_not_divisions() -> None:
    assert set(ksic.DIVISIONS.values()) == set(ksic.SECTIONS)
    for missing in ("00", "04", "09", "40", "43", "44", "48", "53", "57", "67", "69", "77", "83", "88", "92"):
        assert missing not in ksic.DIVISIONS


@pytest.mark.parametrize(
    ("code", "section"),
    [
        ("26110", "C"),
        ("62010", "J"),
        ("01110", "A"),
        ("34019", "C"),
        ("35110", "D"),
        ("68112", "L"),
        ("99001", "U"),
        ("00000", None),
        ("04000", None),
        ("2611", None),
        ("261100", None),
        ("abcde", None),
        ("２６１１０", None),
        ("", None),
        (None, None),
    ],
)
def test_section_of_and_is_valid_ksic(code: str | None, section: str | None) -> None:
    assert ksic.section_of(code) == section
    assert ksic.is_valid_ksic(code) is (section is not None)
