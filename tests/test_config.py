from __future__ import annotations

import pytest

from config import DEFAULT_SECRET_KEY, ProductionConfig
from crm import create_app

STRONG_KEY = "k" * 48


def test_production_refuses_the_default_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig, SECRET_KEY=DEFAULT_SECRET_KEY, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_refuses_a_short_secret_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(ProductionConfig, SECRET_KEY="short", SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_refuses_debug():
    with pytest.raises(RuntimeError, match="debug"):
        create_app(ProductionConfig, SECRET_KEY=STRONG_KEY, DEBUG=True, SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_session_cookie_is_secure_httponly_and_lax():
    app = create_app(ProductionConfig, SECRET_KEY=STRONG_KEY, SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.test_request_context():
        from flask import session

        session["x"] = 1
        response = app.make_response("ok")
        app.session_interface.save_session(app, session, response)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_database_url_accepts_plain_postgres_scheme(monkeypatch):
    from config import _database_url

    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert _database_url("sqlite://") == "postgresql+psycopg://u@h/db"
