from __future__ import annotations

import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.extensions import db
from crm.firms.models import Firm, FirmFinancial, FirmLink, LinkKind
from tests.conftest import login, post_form
from tests.factories import make_consortium, make_contact, make_firm, make_institution, make_user
from tests.firms.helpers import firm_count, firm_form


def test_coordinator_registers_a_firm_with_a_10_digit_brn_and_a_registered_link(client):
    coordinator = make_user(Role.coordinator)
    login(client, coordinator.email)
    response = post_form(client, "/firms/new", firm_form())
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    firm = db.session.scalar(sa.select(Firm).where(Firm.brn == "1248100998"))
    assert firm is not None
    assert response.headers["Location"].endswith(f"/firms/{firm.id}")
    assert firm.corp_no == "1101110062432"
    assert firm.name_initials.startswith("ㅇㅅ")
    assert (firm.sido_code, firm.sigungu_code, firm.ksic_code, firm.ksic_revision) == (
        "31",
        "31140",
        "26110",
        11,
    )
    assert firm.employees == 42
    assert firm.registered_by_id == coordinator.id
    links = db.session.scalars(sa.select(FirmLink).where(FirmLink.firm_id == firm.id)).all()
    assert [(lk.kind, lk.consortium_id, lk.institution_id) for lk in links] == [
        (LinkKind.registered, coordinator.institution.consortium_id, coordinator.institution_id)
    ]
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(AuditEvent.action == "firm.create", AuditEvent.object_id == firm.id)
    )

    page = client.get(f"/firms/{firm.id}").get_data(as_text=True)
    assert "124-81-00998" in page and "110111-0062432" in page and "울산광역시 남구" in page


def test_admin_registers_without_a_consortium_link(client):
    admin = make_user(Role.admin)
    login(client, admin.email)
    assert post_form(client, "/firms/new", firm_form(brn="1248100998")).status_code == 302
    firm = db.session.scalar(sa.select(Firm).where(Firm.brn == "1248100998"))
    assert firm.links == []


def test_duplicate_brn_with_or_without_dashes_creates_nothing_and_links_to_the_firm(client_en):
    consortium = make_consortium()
    existing = make_firm(consortium, brn="1248100998", name="(주)기존기업")
    manager = make_user(Role.consortium_manager, consortium=consortium)
    login(client_en, manager.email)
    before = firm_count()
    for typed in ("124-81-00998", "1248100998"):
        response = post_form(client_en, "/firms/new", firm_form(brn=typed, name="(주)새이름"))
        html = response.get_data(as_text=True)
        assert response.status_code == 422
        assert f'href="/firms/{existing.id}"' in html
        assert "already registered" in html
        assert 'value="(주)새이름"' in html
    assert firm_count() == before
    assert len(db.session.scalars(sa.select(FirmLink).where(FirmLink.firm_id == existing.id)).all()) == 1


def test_duplicate_from_another_consortium_opens_company_data_but_not_contacts(client):
    home = make_consortium()
    existing = make_firm(home, brn="1248100998")
    contact = make_contact(existing, name="비공개담당자")
    other = make_user(Role.coordinator, institution=make_institution())
    login(client, other.email)
    assert client.get(f"/firms/{existing.id}").status_code == 404

    response = post_form(client, "/firms/new", firm_form())
    assert f'href="/firms/{existing.id}"' in response.get_data(as_text=True)
    assert firm_count() == 1
    link = db.session.scalar(
        sa.select(FirmLink).where(
            FirmLink.firm_id == existing.id, FirmLink.consortium_id == other.scope_consortium_id
        )
    )
    assert link is not None and link.kind is LinkKind.registered and link.grants_contacts is False
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "firm.link"))

    page = client.get(f"/firms/{existing.id}")
    assert page.status_code == 200
    assert contact.name not in page.get_data(as_text=True)


def test_bad_brn_keeps_the_other_typed_values(client_en):
    login(client_en, make_user(Role.coordinator).email)
    response = post_form(
        client_en, "/firms/new", firm_form(brn="124-81-00997", name="(주)보존테스트", ceo_name="이보존")
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "check digit does not match" in html
    assert 'value="124-81-00997"' in html
    assert 'value="(주)보존테스트"' in html and 'value="이보존"' in html
    assert 'value="울산광역시 남구 삼산로 100"' in html
    assert '<option selected value="31140">' in html
    assert firm_count() == 0


def test_wrong_length_and_non_digit_brn_get_their_own_messages(client_en):
    login(client_en, make_user(Role.coordinator).email)
    short = post_form(client_en, "/firms/new", firm_form(brn="124-81-0099")).get_data(as_text=True)
    letters = post_form(client_en, "/firms/new", firm_form(brn="124-81-0099x")).get_data(as_text=True)
    assert "has 10 digits" in short
    assert "in digits" in letters


def test_bad_corp_no_sigungu_outside_sido_negative_employees_and_future_founding(client_en):
    login(client_en, make_user(Role.coordinator).email)
    response = post_form(
        client_en,
        "/firms/new",
        firm_form(corp_no="110111-0062433", sido_code="26", employees="-1", founded_on="2999-01-01"),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "corporate registration number is not valid" in html
    assert "not in the chosen" in html
    assert "cannot be negative" in html
    assert "cannot be in the future" in html
    assert firm_count() == 0


def test_unknown_ksic_division_is_refused(client_en):
    login(client_en, make_user(Role.coordinator).email)
    html = post_form(client_en, "/firms/new", firm_form(ksic_code="04110")).get_data(as_text=True)
    assert "official list" in html
    assert firm_count() == 0


def test_edit_cannot_change_the_brn_and_is_audited(client):
    consortium = make_consortium()
    firm = make_firm(consortium, brn="1248100998", name="(주)예전이름")
    login(client, make_user(Role.consortium_manager, consortium=consortium).email)
    page = client.get(f"/firms/{firm.id}/edit").get_data(as_text=True)
    assert 'name="brn"' not in page and "124-81-00998" in page

    response = post_form(
        client, f"/firms/{firm.id}/edit", firm_form(brn="2208162517", name="(주)새이름", employees="50")
    )
    assert response.status_code == 302
    db.session.refresh(firm)
    assert firm.brn == "1248100998"
    assert firm.name == "(주)새이름" and firm.employees == 50
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "firm.update", AuditEvent.object_id == firm.id)
    )
    assert event.changes["name"] == ["(주)예전이름", "(주)새이름"]
    assert "brn" not in event.changes


def test_financials_are_upserted_per_year(client_en):
    consortium = make_consortium()
    firm = make_firm(consortium)
    login(client_en, make_user(Role.consortium_manager, consortium=consortium).email)
    page = f"/firms/{firm.id}"
    url = f"/firms/{firm.id}/financials"
    assert (
        post_form(client_en, url, {"year": "2025", "revenue_krw": "1,000,000"}, page=page).status_code == 302
    )
    assert (
        post_form(client_en, url, {"year": "2025", "revenue_krw": "2,500,000"}, page=page).status_code == 302
    )
    rows = db.session.scalars(sa.select(FirmFinancial).where(FirmFinancial.firm_id == firm.id)).all()
    assert [(r.year, r.revenue_krw) for r in rows] == [(2025, 2_500_000)]
    assert "2,500,000" in client_en.get(page).get_data(as_text=True)

    refused = post_form(client_en, url, {"year": "1900", "revenue_krw": "1"}, page=page)
    assert refused.status_code == 422
    assert "Enter a year between 1950" in refused.get_data(as_text=True)
