"""Security headers on every response (pages, errors, API, static) and no inline script in pages."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from config import ProductionConfig, TestConfig
from crm import create_app
from crm.auth.models import Role
from crm.core.access import public
from tests.conftest import login
from tests.factories import make_engagement, make_programme, make_user

STRONG_KEY = "k" * 48


def _assert_security_headers(response, hsts: bool = False) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
        "form-action 'self'",
        "img-src 'self' data:",
    ):
        assert directive in csp, (directive, csp)
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    if hsts:
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    else:
        assert "Strict-Transport-Security" not in response.headers


def _app_with_failing_routes(config, database_url: str, **overrides) -> Flask:
    def explode():
        raise RuntimeError("secret internals")

    separate = create_app(
        config, SQLALCHEMY_DATABASE_URI=database_url, CRM_RENDER_500_IN_TESTS=True, **overrides
    )
    separate.add_url_rule("/test-explode", "explode", public(explode))
    separate.add_url_rule("/api/v1/test-explode", "api_explode", public(explode))
    return separate


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/login", 200),
        ("/no-such-page", 404),
        ("/test-explode", 500),
        ("/api/v1/no-such-thing", 404),
        ("/api/v1/programmes", 401),
        ("/api/v1/test-explode", 500),
        ("/static/css/app.css", 200),
        ("/", 302),
    ],
)
def test_headers_on_pages_errors_and_api(app: Flask, path: str, status: int):
    separate = _app_with_failing_routes(TestConfig, app.config["SQLALCHEMY_DATABASE_URI"])
    response = separate.test_client().get(path)
    assert response.status_code == status
    _assert_security_headers(response)


@pytest.mark.parametrize(
    ("path", "status"), [("/login", 200), ("/no-such-page", 404), ("/test-explode", 500)]
)
def test_production_adds_hsts_on_every_response(app: Flask, path: str, status: int):
    separate = _app_with_failing_routes(
        ProductionConfig, app.config["SQLALCHEMY_DATABASE_URI"], SECRET_KEY=STRONG_KEY
    )
    response = separate.test_client().get(path, base_url="https://localhost")
    assert response.status_code == status
    _assert_security_headers(response, hsts=True)


def test_signed_in_page_has_headers(client):
    user = make_user(Role.admin)
    login(client, user.email)
    response = client.get("/admin/users")
    assert response.status_code == 200
    _assert_security_headers(response)


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
_EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
_JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def _assert_no_inline_script(html: str, where: str) -> None:
    assert not _INLINE_SCRIPT.search(html), f"inline <script> on {where}"
    match = _EVENT_HANDLER.search(html)
    assert not match, f"inline event handler on {where}: {match.group(0)[:120] if match else ''}"
    assert not _JS_URL.search(html), f"javascript: URL on {where}"


def test_the_checker_would_catch_inline_script():
    with pytest.raises(AssertionError):
        _assert_no_inline_script("<p><script>alert(1)</script></p>", "sample")
    with pytest.raises(AssertionError):
        _assert_no_inline_script('<form onsubmit="return confirm(1)">', "sample")
    _assert_no_inline_script('<script src="/static/js/app.js" defer></script><p>on=ok</p>', "sample")


@pytest.mark.parametrize(
    ("role", "paths"),
    [
        (Role.admin, ["/admin/users", "/account"]),
        (Role.coordinator, ["/dashboard", "/account", "/firms", "/programmes", "/engagements"]),
        (Role.firm_user, ["/portal", "/account"]),
    ],
)
def test_no_inline_script_in_rendered_pages(client, role: Role, paths: list[str]):
    programme = make_programme()
    make_engagement(programme)
    user = make_user(role)
    login(client, user.email)
    # The token list has the one confirm dialog that used to be inline.
    from tests.conftest import post_form

    post_form(client, "/account/api-tokens", {"name": "<script>alert(1)</script>"}, page="/account")
    for path in ["/login", *paths]:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        _assert_no_inline_script(html, path)
        assert 'src="/static/js/app.js"' in html


def test_token_revoke_asks_through_data_confirm(client_en):
    from tests.conftest import post_form

    user = make_user(Role.coordinator)
    login(client_en, user.email)
    post_form(client_en, "/account/api-tokens", {"name": "ci"}, page="/account")
    html = client_en.get("/account").get_data(as_text=True)
    assert 'data-confirm="Revoke this token? Programs using it stop working at once."' in html


def test_app_js_is_served_as_javascript(client):
    response = client.get("/static/js/app.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]
    assert "data-confirm" in response.get_data(as_text=True)
