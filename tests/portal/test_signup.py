from __future__ import annotations

import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import EmailToken, Role, hash_token
from crm.extensions import db
from crm.firms.models import Contact, Firm, FirmLink
from crm.portal.models import ClaimStatus, FirmClaim
from tests.conftest import login, post_form
from tests.factories import make_brn, make_firm, make_user
from tests.portal.helpers import mails_to, signup_form, user_by_email, verification_path


def _actions_on(object_type: str, object_id: int) -> set[str]:
    return set(
        db.session.scalars(
            sa.select(AuditEvent.action).where(
                AuditEvent.object_type == object_type, AuditEvent.object_id == object_id
            )
        )
    )


def test_signup_with_a_new_brn_registers_the_firm_and_its_primary_contact(client, app):
    form = signup_form(brn="220-81-62517", consent_admin_info=None)
    response = post_form(client, "/portal/signup", form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/signup/done")

    user = user_by_email(form["email"])
    assert user.role is Role.firm_user and user.email_verified_at is None and user.is_active
    firm = db.session.scalar(sa.select(Firm).where(Firm.brn == "2208162517"))
    assert firm is not None and user.firm_id == firm.id
    assert firm.name == "(주)포털테스트" and firm.ceo_name == "김대표"
    assert (firm.sido_code, firm.sigungu_code) == ("31", "31140")
    assert firm.registered_by_id == user.id
    assert db.session.scalar(sa.select(FirmLink.id).where(FirmLink.firm_id == firm.id)) is None

    (contact,) = db.session.scalars(sa.select(Contact).where(Contact.firm_id == firm.id)).all()
    assert (contact.name, contact.email, contact.phone) == ("홍길동", form["email"], "010-2222-3333")
    assert contact.is_primary
    assert contact.consent_privacy_at is not None and contact.consent_marketing_at is not None
    assert contact.consent_admin_info_at is None

    assert db.session.scalar(sa.select(FirmClaim.id).where(FirmClaim.user_id == user.id)) is None
    assert {"user.signup", "user.verification_sent"} <= _actions_on("users", user.id)
    assert "firm.create" in _actions_on("firms", firm.id)
    assert "contact.create" in _actions_on("contacts", contact.id)

    # The e-mail carries a link whose token is stored only as a hash, valid for 24 hours.
    (mail,) = mails_to(app, form["email"])
    path = verification_path(mail)
    token = db.session.scalars(sa.select(EmailToken).where(EmailToken.user_id == user.id)).one()
    assert token.token_hash == hash_token(path.rsplit("/", 1)[1])
    assert path.rsplit("/", 1)[1] not in token.token_hash
    hours = (token.expires_at - token.created_at).total_seconds() / 3600
    assert hours == 24 and token.used_at is None and token.purpose == "verify_email"


def test_the_done_page_says_to_check_the_mail(client_en):
    form = signup_form(brn=make_brn())
    response = post_form(client_en, "/portal/signup", form, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Check your e-mail" in page and form["email"] in page
    assert "Your firm was registered" in page


def test_signup_with_a_registered_brn_only_asks_for_the_firm(client_en, app):
    firm = make_firm(name="기존기업(주)")
    contacts_before = len(firm.contacts)
    form = signup_form(brn=firm.brn_display, firm_name="다른 이름", message="생산팀장입니다")
    response = post_form(client_en, "/portal/signup", form, follow_redirects=True)
    assert response.status_code == 200
    assert "waits for approval" in response.get_data(as_text=True)

    user = user_by_email(form["email"])
    assert user.firm_id is None
    claim = db.session.scalars(sa.select(FirmClaim).where(FirmClaim.user_id == user.id)).one()
    assert claim.firm_id == firm.id and claim.status is ClaimStatus.pending
    assert claim.message == "생산팀장입니다"
    db.session.refresh(firm)
    assert firm.name == "기존기업(주)" and len(firm.contacts) == contacts_before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Firm).where(Firm.brn == firm.brn)) == 1
    assert "firm_claim.create" in _actions_on("firm_claims", claim.id)
    assert len(mails_to(app, form["email"])) == 1


def test_a_bad_brn_checksum_is_refused_and_the_form_keeps_what_was_typed(client_en):
    form = signup_form(brn="124-81-00999", firm_name="오타기업", ceo_name="박대표")
    response = post_form(client_en, "/portal/signup", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "the check digit does not match" in page
    for typed in (form["email"], "124-81-00999", "오타기업", "박대표", "010-2222-3333"):
        assert typed in page
    assert user_by_email(form["email"]) is None
    # Passwords are not echoed back into the page.
    assert form["password"] not in page


def test_an_email_already_used_is_refused_without_saying_whose_it_is(client_en):
    existing = make_user(Role.coordinator)
    brn = make_brn()
    form = signup_form(email=existing.email.upper(), brn=brn)
    response = post_form(client_en, "/portal/signup", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "cannot be used for a new account" in page
    assert "Coordinator" not in page.split("<main", 1)[1]
    assert db.session.scalar(sa.select(Firm.id).where(Firm.brn == brn)) is None


def test_privacy_consent_password_rules_and_firm_name_are_checked(client_en):
    brn = make_brn()
    form = signup_form(
        brn=brn, consent_privacy=None, password="short", password_confirm="other", firm_name=""
    )
    response = post_form(client_en, "/portal/signup", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "consent to the collection and use of personal data" in page
    assert "Use at least 12 characters." in page
    assert "The two passwords are not the same." in page
    assert user_by_email(form["email"]) is None

    # With the form's checks passed, the operation asks for the name a new firm needs.
    response = post_form(client_en, "/portal/signup", signup_form(brn=brn, firm_name=""))
    assert response.status_code == 422
    assert "Enter the firm&#39;s name." in response.get_data(as_text=True)


def test_a_signed_in_user_is_sent_home_from_signup(client):
    user = make_user(Role.coordinator)
    login(client, user.email)
    response = client.get("/portal/signup")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_signup_posts_are_rate_limited(limited_client):
    statuses = [
        post_form(limited_client, "/portal/signup", signup_form(brn="bad")).status_code for _ in range(6)
    ]
    assert statuses == [422] * 5 + [429]
