from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import EmailToken, Role
from crm.core.db import utcnow
from crm.extensions import db
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_brn, make_email_token, make_firm, make_user
from tests.portal.helpers import NEW_PASSWORD, mails_to, signup_form, user_by_email, verification_path


def _sign_up(client, app, **changes) -> tuple[str, str]:
    """Signs up through the page; returns the e-mail address and the path of the link it was sent."""
    form = signup_form(brn=make_brn(), **changes)
    assert post_form(client, "/portal/signup", form).status_code == 302
    (mail,) = mails_to(app, form["email"])
    return form["email"], verification_path(mail)


def _backdate_tokens(address: str, **values) -> None:
    user = user_by_email(address)
    db.session.execute(sa.update(EmailToken).where(EmailToken.user_id == user.id).values(**values))


def test_the_link_confirms_the_address_once(client_en, app):
    address, path = _sign_up(client_en, app)
    response = client_en.get(path)
    assert response.status_code == 200
    assert "Your e-mail address is confirmed" in response.get_data(as_text=True)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    user = user_by_email(address)
    assert user.email_verified_at is not None
    token = db.session.scalars(sa.select(EmailToken).where(EmailToken.user_id == user.id)).one()
    assert token.used_at is not None
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.action == "user.email_verified", AuditEvent.object_id == user.id
        )
    )

    again = client_en.get(path)
    page = again.get_data(as_text=True)
    assert again.status_code == 410
    assert "already used" in page and "already confirmed" in page


def test_an_expired_link_answers_410_with_a_resend_form(client_en, app):
    address, path = _sign_up(client_en, app)
    _backdate_tokens(address, expires_at=utcnow() - timedelta(minutes=1))
    response = client_en.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 410
    assert "expired" in page and 'action="/portal/verify/resend"' in page
    assert user_by_email(address).email_verified_at is None


def test_an_unknown_link_answers_404(client_en):
    response = client_en.get("/portal/verify/not-a-real-token")
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)


def test_an_unconfirmed_portal_account_cannot_sign_in(client_en, app):
    address, path = _sign_up(client_en, app)
    refused = post_form(client_en, "/login", {"email": address, "password": NEW_PASSWORD})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "Confirm your e-mail address first" in page
    assert 'href="/portal/verify/resend"' in page
    assert client_en.get("/portal").status_code == 302  # still signed out

    # A wrong password gets the generic answer: the unconfirmed state is told only to the password holder.
    wrong = post_form(client_en, "/login", {"email": address, "password": "not the password at all"})
    assert "The e-mail or password is not correct." in wrong.get_data(as_text=True)
    assert "Confirm your e-mail" not in wrong.get_data(as_text=True)

    client_en.get(path)
    response = login(client_en, address, NEW_PASSWORD)
    assert response.headers["Location"] == "/portal"
    assert client_en.get("/portal").status_code == 200


def test_an_account_made_by_an_admin_signs_in_without_a_link(client, app_ctx):
    from crm.auth.operations import UserData, create_user

    user = create_user(
        UserData(
            email="made-by-admin@firm.example",
            name="관리자 생성",
            role=Role.firm_user,
            firm_id=make_firm().id,
        ),
        PASSWORD,
    )
    assert user.email_verified_at is not None
    assert login(client, user.email, PASSWORD).headers["Location"] == "/portal"


def test_resend_answers_the_same_for_everyone_and_mails_only_unconfirmed_signups(client_en, app):
    address, old_path = _sign_up(client_en, app)
    _backdate_tokens(address, created_at=utcnow() - timedelta(minutes=5))
    staff = make_user(Role.coordinator)
    made_by_admin = make_user(Role.firm_user)

    answers = []
    for email in (address, staff.email, made_by_admin.email, "nobody@firm.example"):
        response = post_form(client_en, "/portal/verify/resend", {"email": email}, follow_redirects=True)
        assert response.status_code == 200
        answers.append(response.get_data(as_text=True).split("<main", 1)[1].replace(email, ""))
    assert len(set(answers)) == 1 and "If this address belongs" in answers[0]

    mails = mails_to(app, address)
    assert len(mails) == 2
    assert mails_to(app, staff.email) == [] and mails_to(app, made_by_admin.email) == []
    assert db.session.scalar(sa.select(EmailToken.id).where(EmailToken.user_id == made_by_admin.id)) is None

    # The new link replaces the old one.
    assert client_en.get(old_path).status_code == 410
    assert client_en.get(verification_path(mails[1])).status_code == 200
    assert user_by_email(address).email_verified_at is not None


def test_resend_waits_a_minute_between_links_for_one_address(client_en, app):
    address, _ = _sign_up(client_en, app)
    post_form(client_en, "/portal/verify/resend", {"email": address})
    assert len(mails_to(app, address)) == 1


def test_resend_ignores_confirmed_accounts(client_en, app):
    user = make_user(Role.firm_user, email_verified_at=utcnow())
    make_email_token(user, used_at=utcnow(), created_at=utcnow() - timedelta(hours=2))
    post_form(client_en, "/portal/verify/resend", {"email": user.email})
    assert mails_to(app, user.email) == []


def test_resend_checks_the_address_format(client_en):
    response = post_form(client_en, "/portal/verify/resend", {"email": "not-an-address"})
    assert response.status_code == 422
    assert "Enter a valid e-mail address." in response.get_data(as_text=True)


def test_resend_posts_are_rate_limited(limited_client):
    statuses = [
        post_form(limited_client, "/portal/verify/resend", {"email": "x@firm.example"}).status_code
        for _ in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
