"""The signed-in user's own account: password change and language."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.audit.models import AuditEvent
from crm.auth.models import Role, User
from crm.extensions import db
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "four random words here"


def _english_client(app: Flask, user: User) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, user.email)
    return browser


def _field_errors(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errors" id="{field_id}-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def _password_hash(user: User) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(User.password_hash).where(User.id == user.id))


def test_wrong_current_password_is_a_field_error(app: Flask):
    user = make_user(Role.coordinator)
    browser = _english_client(app, user)
    before = _password_hash(user)
    response = post_form(
        browser, "/account", {"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    errors = _field_errors(response.get_data(as_text=True), "current_password")
    assert "The current password is not correct." in errors
    assert _password_hash(user) == before


def test_too_short_new_password_is_a_field_error(app: Flask):
    user = make_user(Role.coordinator)
    browser = _english_client(app, user)
    response = post_form(browser, "/account", {"current_password": PASSWORD, "new_password": "short-one"})
    assert "Use at least 12 characters." in _field_errors(response.get_data(as_text=True), "new_password")
    login(app.test_client(), user.email, PASSWORD)  # unchanged


def test_password_change_ends_other_sessions_but_keeps_this_one(app: Flask):
    user = make_user(Role.coordinator)
    this_browser = _english_client(app, user)
    other_browser = _english_client(app, user)
    assert other_browser.get("/dashboard").status_code == 200

    response = post_form(
        this_browser, "/account", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")

    assert this_browser.get("/dashboard").status_code == 200
    refused = other_browser.get("/dashboard")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]

    old = post_form(app.test_client(), "/login", {"email": user.email, "password": PASSWORD})
    assert old.status_code == 200  # the old password no longer signs in
    login(app.test_client(), user.email, NEW_PASSWORD)
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "user.password_change", AuditEvent.object_id == user.id
        )
    )


def test_language_switch_sets_cookie_and_locale_and_the_page_follows(app: Flask, client: FlaskClient):
    user = make_user(Role.coordinator)
    login(client, user.email)
    assert '<html lang="ko">' in client.get("/account").get_data(as_text=True)

    response = post_form(client, "/language", {"locale": "en", "next": "/account"}, page="/account")
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert client.get_cookie("lang").value == "en"
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "en"

    html = client.get("/account").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Change password" in html


def test_saved_locale_wins_over_the_cookie_on_another_browser(app: Flask):
    user = make_user(Role.coordinator, locale="en")
    browser = app.test_client()
    browser.set_cookie("lang", "ko")
    login(browser, user.email)
    assert '<html lang="en">' in browser.get("/account").get_data(as_text=True)


def test_anonymous_language_switch_sets_only_the_cookie(client: FlaskClient):
    response = post_form(client, "/language", {"locale": "en", "next": "https://evil.example/"})
    assert response.status_code == 302
    assert not response.headers["Location"].startswith("https://evil")  # `next` stays local
    assert client.get_cookie("lang").value == "en"
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)


def test_logout_needs_post(app: Flask):
    user = make_user(Role.coordinator)
    browser = _english_client(app, user)
    assert browser.get("/logout").status_code == 405
    assert browser.get("/dashboard").status_code == 200  # a link or image cannot sign anyone out
