from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import LoginFailure, Role, UserSession
from crm.extensions import db
from tests.conftest import csrf_token, login, post_form
from tests.factories import PASSWORD, make_user


def test_sign_in_with_correct_password_reaches_dashboard(client):
    user = make_user(Role.coordinator)
    response = login(client, user.email, PASSWORD)
    assert response.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200


def test_wrong_password_and_unknown_account_get_the_same_message(client):
    user = make_user(Role.coordinator)
    wrong = post_form(client, "/login", {"email": user.email, "password": "not-the-password"})
    unknown = post_form(client, "/login", {"email": "nobody@example.com", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 200
    assert "이메일 또는 비밀번호가 올바르지 않습니다" in wrong.get_data(as_text=True)
    assert "이메일 또는 비밀번호가 올바르지 않습니다" in unknown.get_data(as_text=True)


def test_typed_email_is_kept_after_a_failed_sign_in(client):
    response = post_form(client, "/login", {"email": "kept@example.com", "password": "nope-nope-nope"})
    assert 'value="kept@example.com"' in response.get_data(as_text=True)


def test_ten_failures_lock_the_account_even_with_the_right_password(client):
    user = make_user(Role.coordinator)
    for _ in range(10):
        post_form(client, "/login", {"email": user.email, "password": "wrong-password-123"})
    response = post_form(client, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "15분" in response.get_data(as_text=True)
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(LoginFailure).where(LoginFailure.email == user.email)
        )
        == 10
    )


def test_lockout_message_is_the_same_for_an_account_that_does_not_exist(client):
    for _ in range(10):
        post_form(client, "/login", {"email": "ghost@example.com", "password": "wrong-password-123"})
    response = post_form(client, "/login", {"email": "ghost@example.com", "password": "whatever-password"})
    assert "15분" in response.get_data(as_text=True)


def test_success_clears_earlier_failures(client):
    user = make_user(Role.coordinator)
    for _ in range(9):
        post_form(client, "/login", {"email": user.email, "password": "wrong-password-123"})
    login(client, user.email, PASSWORD)
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(LoginFailure).where(LoginFailure.email == user.email)
        )
        == 0
    )


def test_cookie_captured_before_logout_is_refused_afterwards(client, app):
    user = make_user(Role.coordinator)
    login(client, user.email, PASSWORD)
    captured = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    token = csrf_token(client, "/dashboard")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    replay = app.test_client()
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], captured)
    response = replay.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert (
        db.session.scalar(sa.select(UserSession.ended_at).where(UserSession.user_id == user.id)) is not None
    )


def test_form_post_without_csrf_token_is_refused(client):
    user = make_user(Role.coordinator)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 302  # still signed out


def test_next_redirects_only_to_local_paths(client):
    user = make_user(Role.coordinator)
    response = post_form(
        client, "/login", {"email": user.email, "password": PASSWORD, "next": "https://evil.example/phish"}
    )
    assert response.headers["Location"] == "/dashboard"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    response = post_form(
        client, "/login", {"email": user.email, "password": PASSWORD, "next": "//evil.example"}
    )
    assert response.headers["Location"] == "/dashboard"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    response = post_form(client, "/login", {"email": user.email, "password": PASSWORD, "next": "/firms?q=1"})
    assert response.headers["Location"] == "/firms?q=1"


def test_deactivated_user_session_ends(client):
    user = make_user(Role.coordinator)
    login(client, user.email, PASSWORD)
    user.is_active = False
    db.session.flush()
    assert client.get("/dashboard").status_code == 302
