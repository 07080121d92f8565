"""Production configuration: refuses unsafe settings, __Host- session cookie, generic error page, ProxyFix."""

from __future__ import annotations

import re

import pytest
from flask import Flask, request

from config import DEFAULT_SECRET_KEY, ProductionConfig, TestConfig
from crm import create_app
from crm.auth.models import Role
from crm.core.access import public
from tests.factories import PASSWORD, make_user

STRONG_KEY = "p" * 48


def _production(app: Flask, **overrides) -> Flask:
    settings = {"SECRET_KEY": STRONG_KEY, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    return create_app(ProductionConfig, **{**settings, **overrides})


@pytest.mark.parametrize("secret", [None, "", DEFAULT_SECRET_KEY, "x" * 31])
def test_production_refuses_missing_default_or_short_secret_key(secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig, SECRET_KEY=secret, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_refuses_debug():
    with pytest.raises(RuntimeError, match="debug"):
        create_app(ProductionConfig, SECRET_KEY=STRONG_KEY, DEBUG=True, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_starts_with_a_strong_key_and_no_debug():
    app = create_app(ProductionConfig, SECRET_KEY=STRONG_KEY, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert not app.debug and app.config["HSTS_ENABLED"]


def test_production_session_cookie_flags_after_a_real_sign_in(app: Flask):
    production = _production(app)
    user = make_user(Role.coordinator)
    browser = production.test_client()
    html = browser.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    response = browser.post(
        "/login",
        data={"csrf_token": token, "email": user.email, "password": PASSWORD},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
    )
    assert response.status_code == 302
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("__Host-")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    cookie = cookies[0]
    assert cookie.startswith("__Host-axcrm_session=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes
    assert "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "domain" not in attributes  # __Host- cookies must not carry a Domain


def test_development_keeps_a_plain_cookie_name(app: Flask):
    assert TestConfig.SESSION_COOKIE_NAME == "axcrm_session"
    assert not TestConfig.SESSION_COOKIE_SECURE


def test_production_error_page_is_generic_with_an_error_id(app: Flask, caplog):
    production = _production(app)

    def explode():
        raise RuntimeError("secret internals")

    production.add_url_rule("/test-explode", "explode", public(explode))
    response = production.test_client().get(
        "/test-explode", base_url="https://localhost", headers={"Accept-Language": "en"}
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in body
    assert "secret internals" not in body and "Traceback" not in body
    error_id = re.search(r"\b([0-9a-f]{12})\b", body)
    assert error_id, body
    assert any(error_id.group(1) in record.getMessage() for record in caplog.records)


def _app_showing_client(app: Flask, proxies: int) -> Flask:
    separate = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES=proxies
    )
    separate.add_url_rule(
        "/test-client", "client_info", public(lambda: f"{request.remote_addr} {request.scheme}")
    )
    return separate


def test_proxy_headers_are_trusted_only_when_configured(app: Flask):
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    direct = _app_showing_client(app, 0).test_client().get("/test-client", headers=headers)
    assert direct.get_data(as_text=True) == "127.0.0.1 http"
    proxied = _app_showing_client(app, 1).test_client().get("/test-client", headers=headers)
    assert proxied.get_data(as_text=True) == "203.0.113.9 https"
