from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.extensions import db
from crm.firms.models import BusinessStatus, Contact, Firm
from tests.conftest import login, post_form
from tests.factories import make_contact, make_firm, make_firm_claim, make_user


def _firm_user(**firm_kw) -> User:
    firm = make_firm(corp_no="1101110062432", business_status=BusinessStatus.active, **firm_kw)
    return make_user(Role.firm_user, firm=firm)


def _profile_form(**changes) -> dict:
    values = {
        "name": "(주)새이름",
        "ceo_name": "박대표",
        "founded_on": "2016-05-01",
        "address": "울산광역시 중구 성남로 1",
        "sido_code": "31",
        "sigungu_code": "31110",
        "ksic_code": "62010",
        "ksic_revision": "11",
        "employees": "30",
        "sme_certificate_expires_on": "2027-06-30",
        "is_supplier": "y",
        "solutions_offered": "비전 검사 AI",
    }
    values.update(changes)
    return values


def _fresh(model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def test_home_shows_the_firm_and_the_place_for_applications(client_en):
    user = _firm_user(name="(주)홈테스트")
    login(client_en, user.email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "(주)홈테스트" in page and user.firm.brn_display in page
    assert 'id="applications"' in page
    assert 'href="/portal/firm"' in page and 'href="/portal/contacts"' in page


def test_a_waiting_account_sees_only_the_waiting_page(client_en):
    user = make_user(Role.firm_user, firm=None)
    firm = make_firm(name="(주)대기기업")
    make_firm_claim(user=user, firm=firm)
    login(client_en, user.email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "waits for approval by the programme's staff" in page.replace("&#39;", "'")
    assert "(주)대기기업" in page
    for url in ("/portal/firm", "/portal/contacts", "/portal/contacts/new", "/portal/contacts/1/edit"):
        response = client_en.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/portal", url


def test_a_refused_account_sees_the_reason(client_en):
    user = make_user(Role.firm_user, firm=None)
    make_firm_claim(user=user, status="refused", decision_reason="재직 확인 불가")
    login(client_en, user.email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "was refused" in page and "재직 확인 불가" in page


def test_a_firm_user_edits_the_profile_but_not_the_brn_or_registry_facts(client):
    user = _firm_user()
    firm_id, brn = user.firm_id, user.firm.brn
    login(client, user.email)
    assert client.get("/portal/firm").status_code == 200
    response = post_form(
        client,
        "/portal/firm",
        _profile_form(brn="220-81-62517", corp_no="", business_status="closed"),
    )
    assert response.status_code == 302 and response.headers["Location"] == "/portal"
    firm = _fresh(Firm, firm_id)
    assert (firm.name, firm.ceo_name, firm.sigungu_code, firm.ksic_code) == (
        "(주)새이름",
        "박대표",
        "31110",
        "62010",
    )
    assert firm.founded_on == date(2016, 5, 1) and firm.employees == 30
    assert firm.sme_certificate_expires_on == date(2027, 6, 30)
    assert firm.is_supplier and firm.solutions_offered == "비전 검사 AI"
    assert firm.brn == brn and firm.corp_no == "1101110062432"
    assert firm.business_status is BusinessStatus.active
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "firm.update", AuditEvent.object_id == firm_id)
    ).one()
    assert event.actor_id == user.id and "name" in event.changes and "brn" not in event.changes


def test_bad_profile_input_names_the_field_and_keeps_the_input(client_en):
    user = _firm_user()
    login(client_en, user.email)
    response = post_form(client_en, "/portal/firm", _profile_form(ksic_code="00000", ceo_name="입력유지"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter a KSIC code of the official list" in page and "입력유지" in page
    assert _fresh(Firm, user.firm_id).ceo_name != "입력유지"


def test_a_firm_user_adds_edits_and_deletes_a_contact(client):
    user = _firm_user()
    login(client, user.email)
    response = post_form(
        client,
        "/portal/contacts/new",
        {
            "name": "최담당",
            "position": "과장",
            "phone": "010-1111-2222",
            "email": "CHOI@firm.example",
            "consent_privacy": "y",
            "consent_marketing": "y",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/portal/contacts"
    contact = db.session.scalars(sa.select(Contact).where(Contact.firm_id == user.firm_id)).one()
    assert contact.email == "choi@firm.example"
    assert contact.consent_privacy_at is not None and contact.consent_marketing_at is not None
    assert contact.consent_admin_info_at is None
    given = contact.consent_privacy_at

    listing = client.get("/portal/contacts").get_data(as_text=True)
    assert "최담당" in listing

    response = post_form(
        client,
        f"/portal/contacts/{contact.id}/edit",
        {
            "name": "최담당",
            "position": "차장",
            "phone": "010-1111-2222",
            "email": "choi@firm.example",
            "consent_privacy": "y",
        },
    )
    assert response.status_code == 302
    contact = _fresh(Contact, contact.id)
    assert contact.position == "차장"
    assert contact.consent_marketing_at is None  # withdrawn
    assert contact.consent_privacy_at == given  # still given: the original time is kept
    withdrawn = db.session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == "contact.consent_withdrawn", AuditEvent.object_id == contact.id
        )
    ).one()
    assert withdrawn.changes == {"consent": "consent_marketing_at"}
    update = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "contact.update", AuditEvent.object_id == contact.id)
    ).one()
    assert "차장" not in str(update.changes)  # the audit trail names fields, not personal data

    contact_id = contact.id
    assert client.get(f"/portal/contacts/{contact_id}/delete").status_code == 200
    unconfirmed = post_form(client, f"/portal/contacts/{contact_id}/delete", {})
    assert unconfirmed.status_code == 422 and _fresh(Contact, contact_id) is not None
    confirmed = post_form(client, f"/portal/contacts/{contact_id}/delete", {"confirm": "y"})
    assert confirmed.status_code == 302
    assert _fresh(Contact, contact_id) is None
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.action == "contact.delete", AuditEvent.object_id == contact_id
        )
    )


def test_the_contact_page_shows_when_each_consent_was_given(client_en):
    user = _firm_user()
    make_contact(user.firm, consent_privacy_at=utcnow().replace(year=2025, month=3, day=4, hour=1, minute=30))
    login(client_en, user.email)
    page = client_en.get("/portal/contacts").get_data(as_text=True)
    assert "2025-03-04 (Tue) 10:30" in page  # 01:30 UTC is 10:30 in Korea


def test_a_new_primary_contact_takes_over_from_the_old_one(client):
    user = _firm_user()
    old = make_contact(user.firm, is_primary=True)
    login(client, user.email)
    post_form(client, "/portal/contacts/new", {"name": "새담당", "is_primary": "y", "consent_privacy": "y"})
    assert _fresh(Contact, old.id).is_primary is False


def test_another_firms_contact_answers_404(client):
    user = _firm_user()
    other = make_contact(make_firm())
    login(client, user.email)
    assert client.get(f"/portal/contacts/{other.id}/edit").status_code == 404
    assert client.get(f"/portal/contacts/{other.id}/delete").status_code == 404
    response = post_form(
        client, f"/portal/contacts/{other.id}/delete", {"confirm": "y"}, page="/portal/contacts"
    )
    assert response.status_code == 404
    assert _fresh(Contact, other.id) is not None
    assert "김담당" not in client.get("/portal/contacts").get_data(as_text=True)


def test_contact_input_errors_are_named(client_en):
    user = _firm_user()
    login(client_en, user.email)
    response = post_form(client_en, "/portal/contacts/new", {"name": "", "email": "nope", "phone": "010-9"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="name-errors"' in page and "Enter a valid e-mail address." in page
    assert 'value="010-9"' in page
