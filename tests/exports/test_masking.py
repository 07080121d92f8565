"""The masks and cell formats of every export, and the SQL contact rule against the page's own rule."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.exports.csvexport import cell, mask_address, mask_email, mask_name, mask_names, mask_phone
from crm.exports.visibility import contacts_visible_clause
from crm.extensions import db
from crm.firms.models import Firm, LinkKind
from tests.factories import (
    make_consortium,
    make_firm,
    make_firm_link,
    make_institution,
    make_user,
)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("홍길동", "홍*동"),
        ("남궁민수", "남**수"),
        ("이준", "이*"),
        ("김", "*"),
        ("John Smith", "J**n S***h"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_mask_names_masks_each_person_of_a_list():
    assert mask_names("김대표, 이과장 / 박책임(팀장)") == "김*표, 이*장 / 박*임(팀*)"


@pytest.mark.parametrize(
    ("email", "masked"),
    [("hong@example.com", "h***@example.com"), ("a@b.kr", "a***@b.kr"), ("", ""), (None, "")],
)
def test_mask_email(email, masked):
    assert mask_email(email) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("010-1234-5678", "010-****-5678"),
        ("01012345678", "010****5678"),
        ("052-123-4567", "052-***-4567"),
        ("+82 10-1234-5678", "+82 1*-****-5678"),
        ("1588", "**88"),
        ("", ""),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_mask_address_tells_e_mail_from_phone():
    assert mask_address("kim@firm.example") == "k***@firm.example"
    assert mask_address("010-9876-5432") == "010-****-5432"


def test_cells_dates_in_kst_money_plain_enums_by_locale_and_formulas_defused(app_ctx):
    # 2026-03-01 15:30 UTC is already 2 March in Seoul
    assert cell(datetime(2026, 3, 1, 15, 30, tzinfo=UTC)) == "2026-03-02 00:30"
    assert cell(date(2026, 3, 1)) == "2026-03-01"
    assert cell(1_234_000_000) == "1234000000"
    assert cell(Decimal("2.5")) == "2.5"
    assert cell(None) == ""
    with force_locale("en"):
        assert (cell(EngagementStatus.in_progress), cell(True)) == ("In progress", "Yes")
    with force_locale("ko"):
        assert cell(True) == "예"
        assert cell(EngagementStatus.in_progress) not in ("In progress", "in_progress")
    assert cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert cell("+821012345678") == "'+821012345678"
    assert cell("(주)울산") == "(주)울산"


def test_contacts_visible_clause_agrees_with_the_firm_page_rule(app):
    consortium = make_consortium()
    mine, theirs = make_institution(consortium), make_institution(consortium)
    elsewhere = make_consortium()
    firms = [
        make_firm(),  # no link at all
        make_firm(consortium),  # linked, no institution
        make_firm(),
        make_firm(),
        make_firm(elsewhere),
        make_firm(),
    ]
    make_firm_link(firms[2], consortium, mine)
    make_firm_link(firms[3], consortium, theirs)
    # company data only: a link that does not share contacts
    make_firm_link(firms[5], consortium, mine, kind=LinkKind.applied, grants_contacts=False)
    users = [
        make_user(Role.admin),
        make_user(Role.consortium_manager, consortium=consortium),
        make_user(Role.consortium_manager, consortium=elsewhere),
        make_user(Role.coordinator, institution=mine),
        make_user(Role.coordinator, institution=theirs),
        make_user(Role.national_viewer),
        make_user(Role.evaluator),
        make_user(Role.firm_user, firm=firms[4]),
    ]
    ids = [firm.id for firm in firms]
    db.session.expire_all()
    for user in users:
        in_sql = set(
            db.session.scalars(sa.select(Firm.id).where(Firm.id.in_(ids), contacts_visible_clause(user)))
        )
        in_python = {
            firm.id
            for firm in db.session.scalars(sa.select(Firm).where(Firm.id.in_(ids)))
            if firm.contacts_visible_to(user)
        }
        assert in_sql == in_python, user.role
    manager_sees = set(
        db.session.scalars(sa.select(Firm.id).where(Firm.id.in_(ids), contacts_visible_clause(users[1])))
    )
    assert manager_sees == {ids[1], ids[2], ids[3]}
