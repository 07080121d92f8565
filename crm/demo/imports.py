"""Demo import: 울산's manager uploaded a small firm list (CSV) and ran the dry run, so the import pages show
new firms, updates and invalid rows with their reasons, ready to apply and revert. The file and the rows go
through the import operations (which compute the verdicts the same way as for a real upload); no firm is
written until someone applies it. Never commits."""

from __future__ import annotations

import io
import random
from datetime import date

import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from crm.auth.models import Role, User
from crm.extensions import db
from crm.firms.identifiers import brn_check_digit, format_brn
from crm.firms.models import Firm, FirmLink
from crm.imports import operations

HEADER = ["사업자등록번호", "상호", "대표자", "사업장 소재지", "시도", "시군구", "업종코드", "상시근로자수"]
HEADER += ["담당자명", "담당자 이메일", "담당자 연락처"]
NEW_FIRMS = (
    ("(주)태화강에이아이", "정태화", "울산광역시 중구 태화로 150", "울산", "중구", "62010", "김하늘"),
    (
        "울주스마트팜 농업회사법인",
        "이울주",
        "울산광역시 울주군 언양읍 반천로 22",
        "울산",
        "울주군",
        "01110",
        "",
    ),
    (
        "(주)방어진조선기자재",
        "박방어",
        "울산광역시 동구 방어진순환도로 400",
        "울산",
        "동구",
        "31113",
        "최바다",
    ),
)


def _unused_brn(rng: random.Random) -> str:
    while True:
        first_nine = f"{rng.randint(600, 699)}{rng.choice(('81', '86', '87'))}{rng.randint(0, 9999):04d}"
        brn = first_nine + str(brn_check_digit(first_nine))
        if db.session.scalar(sa.select(Firm.id).where(Firm.brn == brn)) is None:
            return brn


def _csv(rows: list[list[str]]) -> bytes:
    return "\r\n".join(",".join(f'"{cell}"' if "," in cell else cell for cell in row) for row in rows).encode(
        "utf-8-sig"
    )


def seed_imports(rng: random.Random, today: date) -> None:
    manager = db.session.scalar(
        sa.select(User).where(User.role == Role.consortium_manager).order_by(User.id).limit(1)
    )
    if manager is None or manager.consortium_id is None:
        return
    registered = db.session.scalars(
        sa.select(Firm)
        .where(
            sa.exists().where(FirmLink.firm_id == Firm.id, FirmLink.consortium_id == manager.consortium_id),
            Firm.employees.is_not(None),
        )
        .order_by(Firm.id)
        .limit(2)
    ).all()
    rows = [HEADER]
    for name, ceo, address, sido, sigungu, ksic, contact_name in NEW_FIRMS:
        email = f"contact{rng.randint(10, 99)}@example.com" if contact_name else ""
        phone = f"010-{rng.randint(2000, 9999)}-{rng.randint(1000, 9999)}" if contact_name else ""
        employees = str(rng.randint(5, 80))
        brn = format_brn(_unused_brn(rng))
        rows.append([brn, name, ceo, address, sido, sigungu, ksic, employees, contact_name, email, phone])
    for firm in registered:  # this year's headcount from the firms' own reports
        employees = str(firm.employees + rng.randint(1, 6))
        rows.append([format_brn(firm.brn), firm.name, "", "", "", "", "", employees, "", "", ""])
    typo = _unused_brn(rng)
    rows.append(
        [typo[:9] + str((int(typo[9]) + 1) % 10), "(주)번호오타", "", "", "", "", "", "12", "", "", ""]
    )
    rows.append([_unused_brn(rng), "", "한이름", "", "", "", "", "7", "", "", ""])
    rows.append([_unused_brn(rng), "(주)주소확인필요", "", "", "울산", "남동구", "", "", "", "", ""])
    upload = FileStorage(stream=io.BytesIO(_csv(rows)), filename=f"{today:%Y%m%d}_울산_참여기업_명단.csv")
    job = operations.upload_import(upload, manager)
    operations.preview(job, job.mapping, manager)
