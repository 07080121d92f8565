"""Reading XLSX and CSV (UTF-8 and CP949) by content, limits, header-based mapping and typed cells."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from crm.imports import parsing
from crm.imports.mapping import parse_date, parse_whole_number, resolve_sido, resolve_sigungu, suggest_mapping
from tests.imports.conftest import HEADER, csv_bytes, xlsx_bytes


def _file(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(path: Path) -> tuple[list[str], list[parsing.DataRow]]:
    file_format = parsing.detect_format(path)
    headers, count = parsing.read_header(path, file_format)
    rows = list(parsing.data_rows(path, file_format, len(headers)))
    assert count == len(rows)
    return headers, rows


def test_xlsx_with_korean_headers_dates_and_numbers(tmp_path):
    path = _file(
        tmp_path,
        xlsx_bytes(
            [
                ["사업자등록번호", "기업명", "설립일", "종업원수", "비고"],
                ["124-81-00998", "(주)엑셀기업", datetime(2015, 3, 2), 25.0, None],
                [None, None, None, None, None],
                [1248100998, "숫자로 된 번호", date(2020, 1, 31), 7, "메모"],
            ]
        ),
    )
    assert parsing.detect_format(path) == "xlsx"
    headers, rows = _read(path)
    assert headers == ["사업자등록번호", "기업명", "설립일", "종업원수", "비고"]
    assert [row.number for row in rows] == [2, 4]  # the blank row keeps its place in the numbering
    assert rows[0].cells == ["124-81-00998", "(주)엑셀기업", "2015-03-02", "25", ""]
    assert rows[1].cells == ["1248100998", "숫자로 된 번호", "2020-01-31", "7", "메모"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp949"])
def test_csv_in_utf8_with_or_without_bom_and_cp949(tmp_path, encoding):
    path = _file(
        tmp_path, csv_bytes([HEADER[:3], ["124-81-00998", "(주)울산스마트팩토리", "홍길동"]], encoding)
    )
    assert parsing.detect_format(path) == "csv"
    headers, rows = _read(path)
    assert headers == ["사업자등록번호", "기업명", "대표자"]
    assert rows[0].cells == ["124-81-00998", "(주)울산스마트팩토리", "홍길동"]


def test_csv_with_semicolons_and_quoted_commas(tmp_path):
    path = _file(tmp_path, '기업명;주소\n"(주)가나";"울산광역시 남구, 3층"\n'.encode())
    headers, rows = _read(path)
    assert headers == ["기업명", "주소"] and rows[0].cells == ["(주)가나", "울산광역시 남구, 3층"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "Old Excel files"),
        (b"%PDF-1.7\n", "neither an Excel workbook"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "neither an Excel workbook"),
    ],
)
def test_files_that_are_not_tables_are_refused_by_content(tmp_path, english, data, fragment):
    with pytest.raises(parsing.TableError) as refused:
        parsing.detect_format(_file(tmp_path, data, "firms.csv"))
    assert fragment in str(refused.value.message)


def test_row_and_header_limits(tmp_path, english, monkeypatch):
    monkeypatch.setattr(parsing, "MAX_ROWS", 3)
    path = _file(tmp_path, csv_bytes([["기업명"]] + [[f"기업{i}"] for i in range(4)]))
    with pytest.raises(parsing.TableError) as refused:
        parsing.read_header(path, "csv")
    assert str(refused.value.message) == "The file has more than 3 data rows. Split it into smaller files."
    with pytest.raises(parsing.TableError) as refused:
        parsing.read_header(_file(tmp_path, csv_bytes([["기업명"]]), "header-only.csv"), "csv")
    assert "no data rows" in str(refused.value.message)
    with pytest.raises(parsing.TableError) as refused:
        parsing.read_header(_file(tmp_path, csv_bytes([["", ""], ["a", "b"]]), "no-header.csv"), "csv")
    assert "column names" in str(refused.value.message)


def test_mapping_suggestion_from_korean_and_english_headers():
    korean = [
        "사업자등록번호(10자리)",
        "상호",
        "대표자 성명",
        "E-Mail",
        "담당자 연락처",
        "시·도",
        "비고",
        "법인등록번호",
    ]
    assert suggest_mapping(korean) == {
        "brn": 0,
        "name": 1,
        "ceo_name": 2,
        "contact_email": 3,
        "contact_phone": 4,
        "sido": 5,
        "corp_no": 7,
    }
    english = ["BRN", "Company Name", "Employees", "Contact Name", "Phone", "KSIC", "District"]
    assert suggest_mapping(english) == {
        "brn": 0,
        "name": 1,
        "employees": 2,
        "contact_name": 3,
        "contact_phone": 4,
        "ksic_code": 5,
        "sigungu": 6,
    }


def test_numbers_dates_and_regions_typed_the_korean_way():
    assert parse_whole_number("1,234") == 1234 and parse_whole_number("25명") == 25
    with pytest.raises(ValueError):
        parse_whole_number("스물다섯")
    assert (
        parse_date("2015.3.2") == parse_date("2015년 3월 2일") == parse_date("20150302") == date(2015, 3, 2)
    )
    assert resolve_sido("울산") == resolve_sido("울산광역시") == resolve_sido("31") == "31"
    assert resolve_sido("강원도") == "51" and resolve_sido("화성") is None
    assert resolve_sigungu("남구", "31") == ("31140", None)
    assert resolve_sigungu("울산광역시 남구", None) == ("31140", None)
    assert resolve_sigungu("울산 남구", None) == ("31140", None)
    assert resolve_sigungu("성남시 분당구", "41") == ("41135", None)
    assert resolve_sigungu("31140", None) == ("31140", None)
