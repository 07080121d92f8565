"""Route × role access, driven by `app.url_map`: a new route is covered the moment it is registered.

1. Every endpoint (except `static`) declares who may use it.
2. Every GET route without URL parameters, for anonymous and each of the six roles: anonymous is sent to
   /login unless the route is public; a role outside the declaration gets 403; a role inside never 403/500.
3. Routes with URL parameters or other methods: a role outside the declaration gets 403 before the view
   even loads its object (so a made-up id is enough), and anonymous is sent to /login.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from crm.auth.models import Role, User
from crm.core.access import PUBLIC, access_rule, role_may_use
from tests.conftest import csrf_token, login
from tests.factories import make_consortium, make_firm, make_institution, make_user

ANONYMOUS = None
# A made-up value per converter: the access check runs before the view looks anything up.
DUMMY_ARGUMENTS = {"IntegerConverter": 999_999, "UnicodeConverter": "x", "PathConverter": "x"}


def _rules(app: Flask) -> Iterator[Rule]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            yield rule


def _user_for(role: Role) -> User:
    """A user of `role` with the scope its role needs, so role-specific pages can render."""
    if role is Role.coordinator:
        return make_user(role, institution=make_institution())
    if role is Role.consortium_manager:
        return make_user(role, consortium=make_consortium())
    if role is Role.firm_user:
        return make_user(role, firm=make_firm())
    return make_user(role)


def _client_for(app: Flask, role: Role | None) -> FlaskClient:
    browser = app.test_client()
    if role is not ANONYMOUS:
        login(browser, _user_for(role).email)
    return browser


def _url(rule: Rule) -> str:
    converters = getattr(rule, "_converters", {})
    values = {name: DUMMY_ARGUMENTS.get(type(converters.get(name)).__name__, "x") for name in rule.arguments}
    return rule.build(values)[1]


def test_every_endpoint_declares_access(app: Flask):
    undeclared = sorted(r.endpoint for r in _rules(app) if access_rule(app, r.endpoint) is None)
    assert undeclared == [], f"endpoints without @public / @signed_in / @allow(...): {undeclared}"


def test_every_declared_role_is_a_real_role(app: Flask):
    for rule in _rules(app):
        declared = access_rule(app, rule.endpoint)
        if isinstance(declared, frozenset):
            assert declared, f"{rule.endpoint} allows nobody"
            assert all(isinstance(role, Role) for role in declared), rule.endpoint


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=lambda r: "anonymous" if r is None else r.value)
def test_get_routes_without_parameters(app: Flask, role: Role | None):
    browser = _client_for(app, role)
    failures: list[str] = []
    checked = 0
    for rule in _rules(app):
        if rule.arguments or "GET" not in rule.methods:
            continue
        checked += 1
        declared = access_rule(app, rule.endpoint)
        response = browser.get(rule.rule)
        status = response.status_code
        location = response.headers.get("Location", "")
        if role is ANONYMOUS and declared != PUBLIC:
            if rule.rule.startswith("/api/"):  # the API answers 401 in its JSON format instead
                if status != 401:
                    failures.append(f"anonymous GET {rule.rule}: {status}, expected 401")
            elif not (status == 302 and location.startswith("/login")):
                failures.append(f"anonymous GET {rule.rule}: {status} {location}, expected 302 to /login")
        elif role is not ANONYMOUS and not role_may_use(declared, role):
            if status != 403:
                failures.append(f"{role.value} GET {rule.rule}: {status}, expected 403")
        elif status in (403, 500):
            who = "anonymous" if role is ANONYMOUS else role.value
            failures.append(f"{who} GET {rule.rule}: {status}, but the route allows it")
    assert checked, "no parameterless GET routes found"
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=lambda r: "anonymous" if r is None else r.value)
def test_refused_roles_never_reach_any_view(app: Flask, role: Role | None):
    browser = _client_for(app, role)
    # A valid token, so a refusal comes from the access rule and not from the CSRF check.
    token = csrf_token(browser, "/login" if role is ANONYMOUS else "/account")
    failures: list[str] = []
    for rule in _rules(app):
        declared = access_rule(app, rule.endpoint)
        if declared == PUBLIC or (role is not ANONYMOUS and role_may_use(declared, role)):
            continue
        url = _url(rule)
        for method in sorted(rule.methods & {"GET", "POST", "PUT", "PATCH", "DELETE"}):
            response = browser.open(
                url, method=method, data={"csrf_token": token} if method != "GET" else None
            )
            status, location = response.status_code, response.headers.get("Location", "")
            if role is ANONYMOUS:
                if not (status == 302 and location.startswith("/login")) and status != 401:
                    failures.append(f"anonymous {method} {url}: {status}, expected 302 to /login")
            elif status != 403:
                failures.append(f"{role.value} {method} {url}: {status}, expected 403")
    assert failures == [], "\n".join(failures)
