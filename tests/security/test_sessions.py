"""Session lifetime: idle and absolute timeouts, fresh sign-in, other browsers ended by a password change."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.auth.models import Role, User, UserSession
from crm.core.db import utcnow
from crm.extensions import db
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "four random words here"


def _browser(app: Flask, user: User) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, user.email)
    return browser


def _open_session(user: User) -> UserSession:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .order_by(UserSession.id.desc())
    ).first()


def _age(row: UserSession, **fields: timedelta) -> None:
    for name, ago in fields.items():
        setattr(row, name, utcnow() - ago)
    db.session.commit()


def test_staff_session_ends_after_30_idle_minutes(app: Flask):
    user = make_user(Role.coordinator)
    browser = _browser(app, user)
    assert browser.get("/account").status_code == 200
    _age(_open_session(user), last_seen_at=timedelta(minutes=31))
    response = browser.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _open_session(user) is None  # the row is ended, not merely ignored
    page = browser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session has expired. Please sign in again." in page


def test_staff_session_survives_29_idle_minutes(app: Flask):
    user = make_user(Role.consortium_manager)
    browser = _browser(app, user)
    _age(_open_session(user), last_seen_at=timedelta(minutes=29))
    assert browser.get("/account").status_code == 200


def test_firm_user_keeps_a_longer_idle_timeout(app: Flask):
    user = make_user(Role.firm_user)
    browser = _browser(app, user)
    _age(_open_session(user), last_seen_at=timedelta(minutes=90))
    assert browser.get("/account").status_code == 200
    _age(_open_session(user), last_seen_at=timedelta(hours=2, minutes=1))
    assert browser.get("/account").status_code == 302


def test_session_ends_after_12_hours_even_when_active(app: Flask):
    user = make_user(Role.coordinator)
    browser = _browser(app, user)
    _age(_open_session(user), created_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(seconds=5))
    response = browser.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _open_session(user) is None


def test_api_request_after_idle_timeout_is_401(app: Flask):
    user = make_user(Role.coordinator)
    browser = _browser(app, user)
    _age(_open_session(user), last_seen_at=timedelta(hours=1))
    assert browser.get("/api/v1/programmes").status_code == 401


def test_password_change_signs_out_a_second_browser(app: Flask):
    user = make_user(Role.coordinator)
    first, second = _browser(app, user), _browser(app, user)
    assert second.get("/account").status_code == 200
    response = post_form(first, "/account", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert first.get("/account").status_code == 200
    response = second.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _make_stale(browser: FlaskClient) -> None:
    with browser.session_transaction() as cookie:
        cookie["fresh_at"] = time.time() - 301


def test_stale_sign_in_must_reenter_password_before_changing_it(app: Flask):
    user = make_user(Role.coordinator)
    browser = _browser(app, user)
    before = db.session.scalar(sa.select(User.password_hash).where(User.id == user.id))
    assert browser.get("/account").status_code == 200  # viewing needs no fresh sign-in
    _make_stale(browser)
    response = post_form(browser, "/account", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302 and "/reauth" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.password_hash).where(User.id == user.id)) == before

    page = browser.get(response.headers["Location"])
    assert page.status_code == 200 and "Confirm your password" in page.get_data(as_text=True)
    wrong = post_form(browser, "/reauth?next=/account", {"password": "not my password", "next": "/account"})
    assert wrong.status_code == 422
    right = post_form(browser, "/reauth?next=/account", {"password": PASSWORD, "next": "/account"})
    assert right.status_code == 302 and right.headers["Location"].endswith("/account")

    response = post_form(browser, "/account", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.password_hash).where(User.id == user.id)) != before


def test_reauth_refuses_a_foreign_next_url(app: Flask):
    user = make_user(Role.coordinator)
    browser = _browser(app, user)
    response = post_form(browser, "/reauth", {"password": PASSWORD, "next": "https://evil.example/"})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]


def test_fresh_login_required_decorator_guards_every_method_by_default(app: Flask):
    from crm.auth.fresh import fresh_login_required
    from crm.core.access import signed_in

    separate = _separate_app(app)
    separate.add_url_rule("/test-fresh", "test_fresh", signed_in(fresh_login_required(lambda: "ok")))
    user = make_user(Role.admin)
    browser = separate.test_client()
    login(browser, user.email)
    assert browser.get("/test-fresh").get_data(as_text=True) == "ok"
    _make_stale(browser)
    response = browser.get("/test-fresh")
    assert response.status_code == 302 and "/reauth?next=/test-fresh" in response.headers["Location"]


def _separate_app(app: Flask) -> Flask:
    from config import TestConfig
    from crm import create_app

    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
