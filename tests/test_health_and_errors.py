from __future__ import annotations

import pytest
from flask import Flask

from crm.core.access import public


def test_healthz_answers_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["database"] == "ok"


def test_readyz_reports_an_unreachable_database():
    from config import TestConfig
    from crm import create_app

    broken = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503 and response.json["database"] == "unreachable"


@pytest.mark.parametrize(("language", "text"), [("ko", "찾을 수 없음"), ("en", "Not found")])
def test_404_page_in_both_languages(client, language, text):
    response = client.get("/no-such-page", headers={"Accept-Language": language})
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """A separate app whose one extra route fails, rendering the 500 page as production does."""
    from config import TestConfig
    from crm import create_app

    def explode():
        raise RuntimeError("secret internals")

    separate = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        CRM_RENDER_500_IN_TESTS=True,
    )
    separate.add_url_rule("/test-explode", "explode", public(explode))
    return separate


@pytest.mark.parametrize(("language", "text"), [("ko", "오류"), ("en", "Something went wrong")])
def test_500_page_hides_the_traceback(failing_app, language, text):
    response = failing_app.test_client().get("/test-explode", headers={"Accept-Language": language})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert text in body
    assert "secret internals" not in body and "Traceback" not in body
    assert "ID" in body


def test_403_page_for_a_role_that_may_not_enter(client):
    from crm.auth.models import Role
    from tests.conftest import login
    from tests.factories import make_user

    user = make_user(Role.evaluator)
    login(client, user.email)
    response = client.get("/admin/users", headers={"Accept-Language": "en"})
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)
