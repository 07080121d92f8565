"""Item 1: every refusal a signed-in user gets is logged with actor, target, IP and UTC time; anonymous
browsers get the sign-in page and anonymous API calls a 401 JSON body."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from crm.auth.models import Role
from tests.conftest import login
from tests.factories import make_engagement, make_user

LOGGER = "crm.security.denials"


def _denials(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [record.denial for record in caplog.records if record.name == LOGGER]


def test_a_403_from_the_access_rule_is_logged(client, caplog):
    user = make_user(Role.coordinator)
    login(client, user.email)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = client.get("/admin/users", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 403
    (denial,) = _denials(caplog)
    assert denial["status"] == 403
    assert denial["user_id"] == user.id
    assert denial["role"] == "coordinator"
    assert denial["endpoint"] == "admin.users" and denial["path"] == "/admin/users"
    assert denial["ip"] == "203.0.113.7"
    assert datetime.fromisoformat(denial["at"]).utcoffset().total_seconds() == 0


def test_a_404_for_an_object_outside_visibility_is_logged(client, caplog):
    user = make_user(Role.coordinator)
    other_engagement = make_engagement()  # another consortium's programme: invisible to this coordinator
    login(client, user.email)
    path = f"/engagements/{other_engagement.id}"
    with caplog.at_level(logging.INFO, logger=LOGGER):
        response = client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert response.status_code == 404
    (denial,) = _denials(caplog)
    assert denial["status"] == 404 and denial["user_id"] == user.id
    assert denial["path"] == path and denial["endpoint"] == "engagements.detail"
    assert denial["ip"] == "198.51.100.4"
    assert f"path={path}" in caplog.records[-1].getMessage()


def test_successful_and_anonymous_requests_are_not_logged_as_denials(client, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert client.get("/no-such-page").status_code == 404
        assert client.get("/dashboard").status_code == 302
        login(client, make_user(Role.coordinator).email)
        assert client.get("/dashboard").status_code == 200
    assert _denials(caplog) == []


def test_anonymous_users_get_the_sign_in_page_or_a_401_json(client):
    page = client.get("/dashboard")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    api = client.get("/api/v1/engagements")
    assert api.status_code == 401
    assert api.get_json()["error"]["code"] == "unauthorized"
