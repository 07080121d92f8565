"""Item 5: rate limits on sign-in (per IP and per e-mail), password reset requests, sign-up and uploads.
Each test builds a second app with limits on (the test configuration turns them off) and tight limits."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from config import TestConfig
from crm import create_app
from crm.auth.models import Role
from tests.conftest import DATABASE_URL, IsolatedClient, login, post_form
from tests.factories import make_user


@pytest.fixture
def limited() -> Callable[..., FlaskClient]:
    def build(**limits: str) -> FlaskClient:
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, RATELIMIT_ENABLED=True, **limits)
        app.test_client_class = IsolatedClient
        client = app.test_client()
        client.set_cookie("lang", "en")
        return client

    return build


def _sign_in(client: FlaskClient, email: str, ip: str = "192.0.2.1") -> int:
    return post_form(
        client,
        "/login",
        {"email": email, "password": "not the password at all"},
        environ_base={"REMOTE_ADDR": ip},
    ).status_code


def test_sign_in_is_limited_per_ip(app_ctx, limited):
    client = limited(LOGIN_RATE_LIMIT_IP="3 per minute")
    statuses = [_sign_in(client, f"nobody{n}@example.com") for n in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Another address is a separate budget.
    assert _sign_in(client, "nobody9@example.com", ip="192.0.2.99") == 200


def test_sign_in_is_limited_per_email_across_ips(app_ctx, limited):
    client = limited(LOGIN_RATE_LIMIT_EMAIL="2 per minute")
    statuses = [_sign_in(client, " Target@Example.com ", ip=f"192.0.2.{n}") for n in range(1, 4)]
    assert statuses == [200, 200, 429]  # the same account (case and spaces ignored) from three machines
    assert _sign_in(client, "someone-else@example.com", ip="192.0.2.50") == 200


def test_the_429_page_is_the_error_page(app_ctx, limited):
    client = limited(LOGIN_RATE_LIMIT_IP="1 per minute")
    _sign_in(client, "a@example.com")
    response = post_form(
        client,
        "/login",
        {"email": "a@example.com", "password": "x" * 12},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    assert response.status_code == 429
    assert "Too many attempts. Please wait a moment and try again." in response.get_data(as_text=True)


def test_password_reset_requests_are_limited(app_ctx, limited):
    client = limited()
    statuses = [
        post_form(client, "/password/forgot", {"email": f"who{n}@example.com"}).status_code for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]


def test_password_reset_requests_are_limited_per_email(app_ctx, limited):
    client = limited(PASSWORD_RESET_RATE_LIMIT_EMAIL="1 per hour")
    first = post_form(client, "/password/forgot", {"email": "inbox@example.com"}).status_code
    second = post_form(
        client, "/password/forgot", {"email": "INBOX@example.com"}, environ_base={"REMOTE_ADDR": "192.0.2.77"}
    ).status_code
    assert (first, second) == (302, 429)


def test_sign_up_is_limited(app_ctx, limited):
    client = limited()
    statuses = [post_form(client, "/portal/signup", {"email": "bad"}).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]


@pytest.mark.parametrize(
    "url",
    ["/applications/999999/documents", "/engagements/999999/documents", "/milestones/999999/complete"],
)
def test_uploads_are_limited_per_user(app_ctx, limited, url):
    client = limited(UPLOAD_RATE_LIMIT="2 per minute")
    user = make_user(Role.coordinator)
    login(client, user.email)
    statuses = [post_form(client, url, {}, page="/account").status_code for _ in range(3)]
    assert statuses[:2] == [404, 404] and statuses[2] == 429
    # Another user of the same office (same IP) still has their own budget.
    colleague = limited(UPLOAD_RATE_LIMIT="2 per minute")
    login(colleague, make_user(Role.coordinator).email)
    assert post_form(colleague, url, {}, page="/account").status_code == 404


def test_api_token_creation_answers_429_as_json(app_ctx, limited):
    client = limited(API_TOKEN_RATE_LIMIT="1 per minute")
    client.post("/api/v1/auth/tokens", json={})
    response = client.post("/api/v1/auth/tokens", json={})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "rate_limited"


def test_production_counts_in_redis_when_redis_url_is_set():
    import os
    import subprocess
    import sys

    code = "from config import ProductionConfig as C; print(C.RATELIMIT_STORAGE_URI)"
    env = {k: v for k, v in os.environ.items() if k != "RATELIMIT_STORAGE_URI"}
    with_redis = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "REDIS_URL": "redis://cache:6379/2"},
        capture_output=True,
        text=True,
    )
    assert with_redis.stdout.strip() == "redis://cache:6379/2", with_redis.stderr
    without = subprocess.run(
        [sys.executable, "-c", code],
        env={k: v for k, v in env.items() if k != "REDIS_URL"},
        capture_output=True,
        text=True,
    )
    assert without.stdout.strip() == "memory://", without.stderr
