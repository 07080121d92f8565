"""Tokens, the caller, the error format and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.api.models import ApiToken
from crm.auth.models import Role, hash_token
from crm.core.db import utcnow
from crm.extensions import db
from tests.api.helpers import Api, error_code
from tests.factories import PASSWORD, make_user


def test_a_token_is_created_from_email_and_password_and_stored_hashed(app_ctx, app):
    user = make_user(Role.coordinator)
    response = Api(app).post("/auth/tokens", json={"email": user.email, "password": PASSWORD})
    assert response.status_code == 201
    data = response.get_json()
    assert data["user"] == {"id": user.id, "email": user.email, "role": "coordinator"}
    stored = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.token_hash == hash_token(data["token"]) and data["token"] not in stored.token_hash
    assert stored.expires_at - utcnow() > timedelta(days=29)
    me = Api(app)
    me.headers["Authorization"] = f"Bearer {data['token']}"
    assert me.get("/me").get_json()["role"] == "coordinator"


def test_wrong_password_is_401_in_the_error_format(app_ctx, app):
    user = make_user()
    response = Api(app).post("/auth/tokens", json={"email": user.email, "password": "wrong-password-123"})
    assert response.status_code == 401 and error_code(response) == "unauthorized"


def test_bad_input_is_422_with_fields_and_malformed_json_400(app_ctx, app):
    api = Api(app)
    response = api.post("/auth/tokens", json={"email": "a@example.com"})
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"password": ["This field is required."]}
    malformed = api.post("/auth/tokens", data="{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and error_code(malformed) == "bad_request"


def test_revoked_expired_and_deactivated_tokens_stop_working(app_ctx, app):
    user = make_user(Role.coordinator)
    api = Api(app, user)
    assert api.get("/me").status_code == 200
    assert api.delete("/auth/tokens/current").status_code == 204
    assert api.get("/me").status_code == 401
    expiring = Api(app, user)
    db.session.execute(sa.update(ApiToken).where(ApiToken.revoked_at.is_(None)).values(expires_at=utcnow()))
    db.session.commit()
    assert expiring.get("/me").status_code == 401
    other = make_user(Role.coordinator)
    live = Api(app, other)
    other.is_active = False
    db.session.commit()
    assert live.get("/me").status_code == 401


def test_cookie_sessions_do_not_write(app_ctx, app):
    from tests.conftest import login

    user = make_user(Role.coordinator)
    browser = app.test_client()
    login(browser, user.email)
    assert browser.get("/api/v1/me").status_code == 200
    response = browser.delete("/api/v1/auth/tokens/current")
    assert response.status_code == 401


def test_messages_follow_accept_language(app_ctx, app):
    korean = Api(app, language="ko").get("/me")
    english = Api(app, language="en").get("/me")
    assert korean.status_code == english.status_code == 401
    assert korean.get_json()["error"]["message"] != english.get_json()["error"]["message"]


def test_the_openapi_document_is_3_1_and_lists_every_route(app_ctx, app):
    document = Api(app).get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule.replace("<int(min=1, max=2147483647):id>", "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in documented, (method, path)


def test_the_account_page_lists_creates_and_revokes_tokens(app_ctx, app):
    from tests.conftest import login, post_form

    user = make_user(Role.coordinator)
    browser = app.test_client()
    login(browser, user.email)
    created = post_form(browser, "/account/api-tokens", {"name": "보고 스크립트"}, page="/account")
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    html = created.get_data(as_text=True)
    secret = html.split("<code>")[1].split("</code>")[0]
    assert secret.startswith("axcrm_") and "보고 스크립트" in html
    api = Api(app)
    api.headers["Authorization"] = f"Bearer {secret}"
    assert api.get("/me").status_code == 200
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    other = make_user(Role.coordinator)
    stranger = app.test_client()
    login(stranger, other.email)
    assert (
        post_form(stranger, f"/account/api-tokens/{token.id}/revoke", {}, page="/account").status_code == 404
    )
    assert (
        post_form(browser, f"/account/api-tokens/{token.id}/revoke", {}, page="/account").status_code == 302
    )
    assert api.get("/me").status_code == 401
    assert "보고 스크립트" not in browser.get("/account").get_data(as_text=True)


def test_token_creation_is_rate_limited(app_ctx):
    from config import TestConfig
    from crm import create_app
    from tests.conftest import DATABASE_URL, IsolatedClient

    user = make_user()
    limited = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=DATABASE_URL,
        RATELIMIT_ENABLED=True,
        API_TOKEN_RATE_LIMIT="2 per minute",
    )
    limited.test_client_class = IsolatedClient
    client = limited.test_client()
    statuses = [
        client.post("/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD}).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    assert client.post("/api/v1/auth/tokens", json={}).get_json()["error"]["code"] == "rate_limited"
