"""Import tests never talk to a broker: enqueueing is recorded instead, and tests run the job in-process."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from openpyxl import Workbook
from werkzeug.datastructures import FileStorage

from crm.auth.models import Role
from crm.firms.models import LinkKind
from crm.imports import operations
from tests.factories import (
    make_brn,
    make_consortium,
    make_contact,
    make_firm,
    make_firm_link,
    make_institution,
    make_user,
)

HEADER = [
    "사업자등록번호",
    "기업명",
    "대표자",
    "주소",
    "시도",
    "시군구",
    "업종코드",
    "종업원수",
    "담당자명",
    "이메일",
    "전화",
]


@pytest.fixture(autouse=True)
def enqueued(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls: list[int] = []
    monkeypatch.setattr(operations, "enqueue_apply", lambda job_id: calls.append(job_id) or True)
    yield calls


def bad_check_digit(brn: str) -> str:
    return brn[:9] + str((int(brn[9]) + 1) % 10)


def dashed(brn: str) -> str:
    return f"{brn[:3]}-{brn[3:5]}-{brn[5:]}"


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    return "\r\n".join(",".join(cells) for cells in rows).encode(encoding) + b"\r\n"


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(data: bytes, filename: str = "firms.csv") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename)


@pytest.fixture
def world(app_ctx):
    """울산 (managers, two institutions' coordinators, a registered firm with a contact) and 강원."""
    ulsan = make_consortium(name="울산 AI 사업단")
    institution = make_institution(ulsan)
    other_institution = make_institution(ulsan)
    existing = make_firm(name="(주)울산기존", employees=25)
    make_firm_link(existing, ulsan, institution)
    make_contact(existing, name="김담당", email="kim@example.com")
    gangwon = make_consortium(name="강원 AI 사업단", sido_code="51")
    brns = {"new": make_brn(), "noname": make_brn(), "badregion": make_brn(), "other": make_brn()}
    return {
        "ulsan": ulsan,
        "institution": institution,
        "manager": make_user(Role.consortium_manager, consortium=ulsan),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=other_institution),
        "gangwon_manager": make_user(Role.consortium_manager, consortium=gangwon),
        "gangwon": gangwon,
        "existing": existing,
        "brns": brns,
        "link_kind": LinkKind.registered,
    }


def sample_rows(world: dict) -> list[list[str]]:
    """Row 2 new, row 3 updates the registered firm, rows 4–7 invalid (check digit, no name, unknown 시도,
    BRN repeated), row 8 blank."""
    b = world["brns"]
    existing = world["existing"]
    return [
        HEADER,
        [
            dashed(b["new"]),
            "(주)새기업",
            "이대표",
            "울산광역시 남구 삼산로 10",
            "울산",
            "남구",
            "26110",
            "12",
            "박담당",
            "park@example.com",
            "010-1111-2222",
        ],
        [existing.brn, "", "", "", "", "", "", "30", "", "", ""],
        [bad_check_digit(b["other"]), "(주)오류기업", "", "", "", "", "", "", "", "", ""],
        [b["noname"], "", "최대표", "", "", "", "", "5", "", "", ""],
        [b["badregion"], "(주)지역오류", "", "", "화성", "", "", "", "", "", ""],
        [b["new"], "(주)새기업 중복", "", "", "", "", "", "", "", "", ""],
        ["", "", "", "", "", "", "", "", "", "", ""],
    ]
