"""Two-step sign-in (TOTP + recovery codes): required for admin and manager, optional for others."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role, User, UserSession
from crm.core.db import utcnow
from crm.extensions import db
from tests.conftest import post_form
from tests.factories import PASSWORD, make_user


@pytest.fixture(autouse=True)
def _enforced(app, monkeypatch):
    monkeypatch.setitem(app.config, "MFA_REQUIRED_ROLES", ("admin", "consortium_manager"))


def _password_step(client, user):
    response = post_form(client, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def _code(secret: str, offset: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(int(time.time()) + offset * totp.interval)


def _enrolled(role=Role.coordinator, **kw) -> tuple[User, str]:
    secret = pyotp.random_base32()
    user = make_user(role, mfa_secret=secret, **kw)
    user.mfa_enabled_at = user.created_at
    db.session.flush()
    return user, secret


def _fresh(user_id: int) -> User:
    db.session.expire_all()  # the requests ran in their own sessions
    return db.session.get(User, user_id)


def _signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_admin_must_enrol_before_anything_else(client_en):
    admin = make_user(Role.admin)
    response = _password_step(client_en, admin)
    assert response.headers["Location"].endswith("/account/mfa")
    # Every other page, public or not, sends the half-signed-in browser back to the MFA step.
    for url in ("/admin/users", "/account", "/dashboard", "/login"):
        blocked = client_en.get(url)
        assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/login/mfa"), url
    assert client_en.get("/login/mfa").headers["Location"].endswith("/account/mfa")
    page = client_en.get("/account/mfa")
    assert page.status_code == 200
    secret = _fresh(admin.id).mfa_secret
    text = page.get_data(as_text=True)
    assert secret in text and "otpauth://totp/" in text

    wrong = post_form(client_en, "/account/mfa", {"code": "000000"})
    assert wrong.status_code == 422 and "The code is not correct" in wrong.get_data(as_text=True)
    done = post_form(client_en, "/account/mfa", {"code": _code(secret)})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", done.get_data(as_text=True))
    assert len(set(codes)) == 10
    stored = _fresh(admin.id)
    assert stored.mfa_enabled_at is not None and len(stored.mfa_recovery_hashes) == 10
    assert not set(codes) & set(stored.mfa_recovery_hashes)  # only hashes are kept
    assert client_en.get("/admin/users").status_code == 200
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mfa.enrol")) is not None


@pytest.mark.parametrize("role", [Role.admin, Role.consortium_manager])
def test_enrolled_staff_enter_a_code_at_every_sign_in(client, role):
    user, secret = _enrolled(role)
    response = _password_step(client, user)
    assert response.headers["Location"].endswith("/login/mfa")
    assert client.get("/login/mfa").status_code == 200
    assert not _signed_in(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0
    ok = post_form(client, "/login/mfa", {"code": _code(secret)})
    assert ok.status_code == 302 and not ok.headers["Location"].endswith("/login/mfa")
    assert _signed_in(client)


def test_a_code_cannot_be_replayed(client, app):
    user, secret = _enrolled(Role.admin)
    code = _code(secret)
    _password_step(client, user)
    assert post_form(client, "/login/mfa", {"code": code}).status_code == 302
    other = app.test_client()
    _password_step(other, user)
    assert post_form(other, "/login/mfa", {"code": code}).status_code == 422
    assert not _signed_in(other)


def test_mfa_is_optional_for_a_coordinator(client_en):
    coordinator = make_user(Role.coordinator)
    response = _password_step(client_en, coordinator)
    assert response.headers["Location"].endswith("/dashboard")
    assert _signed_in(client_en)
    # They may turn it on from the account area and then need a code at the next sign-in.
    page = client_en.get("/account/mfa")
    assert page.status_code == 200 and "Your role must use" not in page.get_data(as_text=True)
    secret = _fresh(coordinator.id).mfa_secret
    assert post_form(client_en, "/account/mfa", {"code": _code(secret)}).status_code == 200
    client_en.post("/logout", data={"csrf_token": _csrf(client_en)})
    assert _password_step(client_en, coordinator).headers["Location"].endswith("/login/mfa")


def _csrf(client) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/account")


def test_wrong_code_does_not_sign_in(client_en):
    user, _secret = _enrolled(Role.admin)
    _password_step(client_en, user)
    response = post_form(client_en, "/login/mfa", {"code": "123456"})
    assert response.status_code == 422
    assert "The code is not correct" in response.get_data(as_text=True)
    assert not _signed_in(client_en)


def test_five_wrong_codes_lock_even_the_right_one(client_en):
    user, secret = _enrolled(Role.consortium_manager)
    _password_step(client_en, user)
    for _ in range(5):
        assert post_form(client_en, "/login/mfa", {"code": "000000"}).status_code == 422
    locked = post_form(client_en, "/login/mfa", {"code": _code(secret)})
    assert locked.status_code == 422
    assert "Too many wrong codes" in locked.get_data(as_text=True)
    assert not _signed_in(client_en)


def test_recovery_code_works_once(app):
    admin = make_user(Role.admin)
    first = app.test_client()
    _password_step(first, admin)
    first.get("/account/mfa")
    secret = _fresh(admin.id).mfa_secret
    page = post_form(first, "/account/mfa", {"code": _code(secret)}).get_data(as_text=True)
    recovery = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", page)[0]

    second = app.test_client()
    _password_step(second, admin)
    assert post_form(second, "/login/mfa", {"code": recovery.upper()}).status_code == 302
    assert _signed_in(second)
    assert len(_fresh(admin.id).mfa_recovery_hashes) == 9
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mfa.recovery_code_used"))

    third = app.test_client()
    _password_step(third, admin)
    assert post_form(third, "/login/mfa", {"code": recovery}).status_code == 422
    assert not _signed_in(third)


def test_disabling_needs_a_code_or_the_password_and_is_refused_for_admins(client_en, app):
    coordinator, secret = _enrolled(Role.coordinator)
    _password_step(client_en, coordinator)
    post_form(client_en, "/login/mfa", {"code": _code(secret)})
    refused = post_form(client_en, "/account/mfa/disable", {"code": "", "password": "wrong-password-x"})
    assert refused.status_code == 422
    assert _fresh(coordinator.id).mfa_enabled_at is not None
    ok = post_form(client_en, "/account/mfa/disable", {"code": "", "password": PASSWORD})
    assert ok.status_code == 302
    stored = _fresh(coordinator.id)
    assert stored.mfa_enabled_at is None and stored.mfa_secret is None
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "mfa.disable"))

    admin, admin_secret = _enrolled(Role.admin)
    browser = app.test_client()
    _password_step(browser, admin)
    post_form(browser, "/login/mfa", {"code": _code(admin_secret)})
    response = post_form(browser, "/account/mfa/disable", {"code": "", "password": PASSWORD})
    assert response.status_code == 422
    assert _fresh(admin.id).mfa_enabled_at is not None


def test_api_token_needs_otp_for_mfa_users(client):
    user, secret = _enrolled(Role.consortium_manager)
    without = client.post("/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD})
    assert without.status_code == 401 and without.get_json()["error"]["code"] == "mfa_required"
    wrong = client.post(
        "/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD, "otp": "000000"}
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "mfa_invalid"
    ok = client.post(
        "/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD, "otp": _code(secret)}
    )
    assert ok.status_code == 201 and ok.get_json()["token"]

    not_enrolled = make_user(Role.admin)
    response = client.post("/api/v1/auth/tokens", json={"email": not_enrolled.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "mfa_enrolment_required"
    coordinator = make_user(Role.coordinator)
    plain = client.post("/api/v1/auth/tokens", json={"email": coordinator.email, "password": PASSWORD})
    assert plain.status_code == 201


def test_pending_step_expires(client, monkeypatch):
    user, _secret = _enrolled(Role.admin)
    _password_step(client, user)
    later = time.time() + 11 * 60
    monkeypatch.setattr("crm.auth.mfa.time.time", lambda: later)
    response = client.get("/login/mfa")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert not response.headers["Location"].endswith("/mfa")


def test_demo_seed_gives_required_roles_the_published_key(client):
    import random
    from datetime import date

    from crm.demo.mfa import DEMO_TOTP_SECRET, seed_mfa

    admin = make_user(Role.admin)
    coordinator = make_user(Role.coordinator)
    seed_mfa(random.Random(1), date(2026, 5, 1))
    assert _fresh(coordinator.id).mfa_secret is None
    _password_step(client, admin)
    assert post_form(client, "/login/mfa", {"code": _code(DEMO_TOTP_SECRET)}).status_code == 302
    assert _signed_in(client)


def test_the_demo_hint_shows_the_code_only_under_the_development_setting(app, app_ctx):
    from crm.demo.mfa import DEMO_TOTP_SECRET

    app.config["MFA_REQUIRED_ROLES"] = ("admin", "consortium_manager")
    user = make_user(Role.consortium_manager, mfa_secret=DEMO_TOTP_SECRET, mfa_enabled_at=utcnow())
    browser = app.test_client()
    try:
        post_form(browser, "/login", {"email": user.email, "password": PASSWORD})
        assert "Demo account" not in browser.get("/login/mfa", headers={"Accept-Language": "en"}).get_data(
            as_text=True
        )
        app.config["DEMO_MFA_HINT"] = True
        page = browser.get("/login/mfa", headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert "Demo account" in page and pyotp.TOTP(DEMO_TOTP_SECRET).now() in page
    finally:
        app.config.pop("DEMO_MFA_HINT", None)
        app.config["MFA_REQUIRED_ROLES"] = ()
