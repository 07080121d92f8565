"""The firm list as CSV: the page's filters and visibility, CEO and primary contact masked by default,
unmasked only with a reason (access log and audit), and then only where the firm page shows them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from crm.audit.models import AccessLog, AuditEvent
from crm.auth.models import Role, User
from crm.extensions import db
from crm.firms.models import Firm
from tests.conftest import csrf_token, login, post_form
from tests.exports.helpers import filename_of, get_csv, kst_stamp, page_total, parse, post_reason
from tests.factories import (
    make_consortium,
    make_contact,
    make_firm,
    make_firm_link,
    make_institution,
    make_user,
)

REASON = "2차 공고 선정기업 협약 안내 전화"


@dataclass
class World:
    ours: Firm  # linked through the coordinator's institution: contacts visible to it
    theirs: Firm  # linked through another institution of the consortium: company data only
    foreign: Firm  # another consortium's firm: invisible
    coordinator: User
    manager: User


@pytest.fixture
def world(app) -> World:
    consortium = make_consortium()
    mine, other = make_institution(consortium), make_institution(consortium)
    ours = make_firm(name="(주)울산정밀가공", ceo_name="홍길동", employees=42)
    theirs = make_firm(name="(주)울산스마트팩토리", ceo_name="박서준", employees=7)
    foreign = make_firm(make_consortium(), name="(주)울산외부기업", ceo_name="최외부")
    make_firm_link(ours, consortium, mine)
    make_firm_link(theirs, consortium, other)
    make_contact(ours, name="김민지", phone="010-2345-6789", email="minji@precision.example")
    make_contact(theirs, name="이준호", phone="010-3456-7890", email="junho@smart.example")
    return World(
        ours=ours,
        theirs=theirs,
        foreign=foreign,
        coordinator=make_user(Role.coordinator, institution=mine),
        manager=make_user(Role.consortium_manager, consortium=consortium),
    )


def _access_logs(user: User) -> list[AccessLog]:
    return list(
        db.session.scalars(sa.select(AccessLog).where(AccessLog.actor_id == user.id).order_by(AccessLog.id))
    )


def test_csv_has_the_pages_rows_and_masks_personal_data(client_en, world):
    login(client_en, world.coordinator.email)
    html = client_en.get("/firms?q=울산").get_data(as_text=True)
    file = get_csv(client_en, "/firms?q=울산&format=csv")

    assert len(file.rows) == page_total(html) == 2
    assert file.column("Firm name") == ["(주)울산스마트팩토리", "(주)울산정밀가공"]  # the page's order
    assert file.header[:4] == [
        "Firm name",
        "Business registration number",
        "Corporate registration number (법인등록번호)",
        "CEO",
    ]
    assert {"Contact", "Contact phone", "Contact e-mail", "Employees", "Region"} <= set(file.header)
    row = file.rows[1]
    assert row["Business registration number"] == world.ours.brn_display
    assert row["Region"] == "울산광역시 남구" and row["Employees"] == "42"
    assert (row["CEO"], row["Contact"]) == ("홍*동", "김*지")
    assert (row["Contact phone"], row["Contact e-mail"]) == ("010-****-6789", "m***@precision.example")
    body = file.response.get_data().decode("utf-8-sig")
    assert "김민지" not in body and "홍길동" not in body and "010-2345-6789" not in body
    assert filename_of(file.response) == f"firms-{kst_stamp()}.csv"
    # a masked export is no view of personal data
    assert _access_logs(world.coordinator) == []


def test_filters_narrow_the_file_like_the_page(client_en, world):
    login(client_en, world.manager.email)
    assert get_csv(client_en, "/firms?q=정밀&format=csv").column("Firm name") == ["(주)울산정밀가공"]
    assert get_csv(client_en, "/firms?format=csv").column("Firm name") == [
        "(주)울산스마트팩토리",
        "(주)울산정밀가공",
    ]


def test_reason_form_then_unmasked_file_logged_with_the_reason(client_en, world):
    login(client_en, world.coordinator.email)
    url = "/firms?q=울산&format=csv&personal=1"
    form = client_en.get(url)
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Export with personal data" in page and "CEO, Contact, Contact phone, Contact e-mail" in page
    assert _access_logs(world.coordinator) == []

    refused = post_reason(client_en, url, "업무")
    assert refused.status_code == 422
    assert "Describe the purpose in 5 to 300 characters." in refused.get_data(as_text=True)
    assert _access_logs(world.coordinator) == []

    file = post_reason(client_en, url, REASON)
    rows = {row["Firm name"]: row for row in parse(file).rows}
    ours, theirs = rows["(주)울산정밀가공"], rows["(주)울산스마트팩토리"]
    # The CEO shows on the firm page to whoever sees the firm; contacts only under the contact rule.
    assert (ours["CEO"], theirs["CEO"]) == ("홍길동", "박서준")
    assert (ours["Contact"], ours["Contact phone"], ours["Contact e-mail"]) == (
        "김민지",
        "010-2345-6789",
        "minji@precision.example",
    )
    assert (theirs["Contact"], theirs["Contact e-mail"]) == ("이*호", "j***@smart.example")
    assert file.headers["Cache-Control"] == "no-store"

    [entry] = _access_logs(world.coordinator)
    assert (entry.action, entry.purpose) == ("export.firms", REASON)
    assert (entry.subject_type, entry.subject_id) == ("users", world.coordinator.id)
    [event] = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "export.firms", AuditEvent.actor_id == world.coordinator.id
        )
    )
    assert event.changes["rows"] == 2
    assert event.changes["filters"] == {"q": ["울산"]}
    assert event.changes["personal_columns"] == ["CEO", "Contact", "Contact phone", "Contact e-mail"]


def test_manager_unmasks_every_contact_of_its_consortium(client_en, world):
    login(client_en, world.manager.email)
    file = parse(post_reason(client_en, "/firms?format=csv&personal=1", REASON))
    assert sorted(file.column("Contact")) == ["김민지", "이준호"]


def test_each_export_is_logged_again(client_en, world):
    login(client_en, world.manager.email)
    post_reason(client_en, "/firms?format=csv&personal=1", REASON)
    post_reason(client_en, "/firms?format=csv&personal=1", "같은 명단 재확인 (담당자 변경)")
    assert [e.purpose for e in _access_logs(world.manager)] == [REASON, "같은 명단 재확인 (담당자 변경)"]


@pytest.mark.parametrize("role", [Role.national_viewer, Role.evaluator, Role.firm_user])
def test_roles_without_personal_data_are_refused_even_with_a_reason(client_en, world, role):
    user = make_user(role)
    login(client_en, user.email)
    assert client_en.get("/firms?format=csv").status_code == 403
    assert client_en.get("/firms?format=csv&personal=1").status_code == 403
    token = csrf_token(client_en, "/account")
    response = client_en.post("/firms?format=csv&personal=1", data={"csrf_token": token, "reason": REASON})
    assert response.status_code == 403
    assert _access_logs(user) == []


def test_post_is_only_for_the_reason_form(client_en, world):
    login(client_en, world.manager.email)
    assert post_form(client_en, "/firms", {"q": "x"}, page="/firms").status_code == 405
    assert post_form(client_en, "/firms?format=csv", {"reason": REASON}, page="/firms").status_code == 405
    assert _access_logs(world.manager) == []


def test_korean_headers_and_titles_for_korean_readers(client, world):
    login(client, world.manager.email)
    file = get_csv(client, "/firms?q=정밀&format=csv")
    assert file.header[0] == "기업명" and "사업자등록번호" in file.header and "대표자" in file.header
    [row] = file.rows
    assert row["기업명"] == "(주)울산정밀가공" and row["대표자"] == "홍*동"


def test_list_page_links_to_the_csv_with_its_filters(client_en, world):
    login(client_en, world.manager.email)
    html = client_en.get("/firms?q=울산&page=1").get_data(as_text=True)
    assert 'href="/firms?q=%EC%9A%B8%EC%82%B0&amp;format=csv"' in html
    assert 'href="/firms?q=%EC%9A%B8%EC%82%B0&amp;format=csv&amp;personal=1"' in html
