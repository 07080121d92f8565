"""User administration: who may use it, creating users per role, passwords, deactivation, scope changes."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.audit.models import AuditEvent
from crm.auth.models import Role, User, UserSession
from crm.core.access import access_rule
from crm.extensions import db
from tests.conftest import csrf_token, login, post_form
from tests.factories import PASSWORD, make_consortium, make_firm, make_institution, make_user

NEW_PASSWORD = "a long enough passphrase"


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user(Role.admin)


@pytest.fixture
def admin_client(client_en: FlaskClient, admin: User) -> FlaskClient:
    login(client_en, admin.email)
    return client_en


def _user_by_email(email: str) -> User | None:
    db.session.expire_all()  # see what the requests committed, not this session's stale copies
    return db.session.scalar(sa.select(User).where(User.email == email))


def _field_errors(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errors" id="{field_id}-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def _signed_in_client(app: Flask, user: User) -> FlaskClient:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, user.email)
    assert browser.get("/account").status_code == 200
    return browser


def _is_sent_to_login(response) -> bool:
    return response.status_code == 302 and "/login" in response.headers["Location"]


# --- access -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.admin])
def test_every_admin_route_refuses_other_roles(app: Flask, role: Role):
    target = make_user(Role.coordinator)
    browser = _signed_in_client(app, make_user(role))
    token = csrf_token(browser, "/account")
    admin_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert admin_rules, "the admin blueprint has no routes"
    for rule in admin_rules:
        assert access_rule(app, rule.endpoint) == frozenset({Role.admin}), rule.endpoint
        url = rule.build({"user_id": target.id} if "user_id" in rule.arguments else {})[1]
        for method in sorted(rule.methods & {"GET", "POST"}):
            data = {"csrf_token": token, "confirm": "y", "role": "admin", "password": NEW_PASSWORD}
            response = browser.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 403, (method, url, response.status_code)
    assert _user_by_email(target.email).is_active  # the refused POSTs changed nothing


def test_anonymous_is_sent_to_sign_in(client: FlaskClient):
    response = client.get("/admin/users")
    assert _is_sent_to_login(response)


def test_unknown_user_is_404(admin_client: FlaskClient):
    for url in ("/admin/users/999999", "/admin/users/999999/edit", "/admin/users/999999/password"):
        assert admin_client.get(url).status_code == 404, url


# --- creating users -----------------------------------------------------------------------------------


def _new_user_form(**overrides: str) -> dict[str, str]:
    return {
        "email": "New.Person@Example.com",
        "name": "새 사용자",
        "role": "",
        "consortium_id": "",
        "institution_id": "",
        "firm_id": "",
        "locale": "",
        "password": NEW_PASSWORD,
        **overrides,
    }


@pytest.mark.parametrize("role", list(Role))
def test_admin_creates_a_user_for_each_role_who_can_then_sign_in(
    app: Flask, admin_client: FlaskClient, admin: User, role: Role
):
    consortium = make_consortium()
    institution = make_institution(consortium)
    firm = make_firm()
    scope = {
        Role.consortium_manager: {"consortium_id": str(consortium.id)},
        Role.coordinator: {"institution_id": str(institution.id)},
        Role.firm_user: {"firm_id": firm.brn_display},  # typed as on paper: 123-45-67890
    }.get(role, {})
    response = post_form(admin_client, "/admin/users/new", _new_user_form(role=role.value, **scope))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    user = _user_by_email("new.person@example.com")
    assert user is not None and user.role is role and user.is_active
    assert response.headers["Location"].endswith(f"/admin/users/{user.id}")
    expected = {
        Role.consortium_manager: (consortium.id, None, None),
        Role.coordinator: (consortium.id, institution.id, None),  # consortium follows the institution
        Role.firm_user: (None, None, firm.id),
    }.get(role, (None, None, None))
    assert (user.consortium_id, user.institution_id, user.firm_id) == expected
    assert user.password_hash.startswith("scrypt:") and NEW_PASSWORD not in user.password_hash
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "user.create",
            AuditEvent.object_id == user.id,
            AuditEvent.actor_id == admin.id,
        )
    )

    browser = app.test_client()
    login(browser, "new.person@example.com", NEW_PASSWORD)
    assert browser.get("/account").status_code == 200


def test_firm_can_be_given_by_its_id(admin_client: FlaskClient):
    firm = make_firm()
    response = post_form(
        admin_client, "/admin/users/new", _new_user_form(role="firm_user", firm_id=str(firm.id))
    )
    assert response.status_code == 302
    assert _user_by_email("new.person@example.com").firm_id == firm.id


@pytest.mark.parametrize("typed", ["abc", "99999999999999999999", "999999"])
def test_firm_text_that_matches_nothing_is_a_field_error(admin_client: FlaskClient, typed: str):
    response = post_form(admin_client, "/admin/users/new", _new_user_form(role="firm_user", firm_id=typed))
    assert response.status_code == 422
    assert "No firm has this" in _field_errors(response.get_data(as_text=True), "firm_id")


def test_unknown_firm_is_a_field_error(admin_client: FlaskClient):
    response = post_form(
        admin_client, "/admin/users/new", _new_user_form(role="firm_user", firm_id="999-99-99999")
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "No firm has this business registration number or ID." in _field_errors(html, "firm_id")
    assert 'value="999-99-99999"' in html
    assert _user_by_email("new.person@example.com") is None


@pytest.mark.parametrize(
    ("role", "field_id", "message"),
    [
        ("coordinator", "institution_id", "A coordinator needs an institution."),
        ("consortium_manager", "consortium_id", "A consortium manager needs a consortium."),
        ("firm_user", "firm_id", "A firm user needs a firm."),
    ],
)
def test_missing_scope_is_a_field_error_and_typed_values_stay(
    admin_client: FlaskClient, role: str, field_id: str, message: str
):
    response = post_form(admin_client, "/admin/users/new", _new_user_form(role=role, locale="en"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in _field_errors(html, field_id)
    assert 'value="New.Person@Example.com"' in html
    assert 'value="새 사용자"' in html
    assert re.search(rf'<option selected value="{role}">', html)
    assert re.search(r'<option selected value="en">', html)
    assert _user_by_email("new.person@example.com") is None


def test_duplicate_email_is_a_field_error(admin_client: FlaskClient):
    existing = make_user(Role.evaluator)
    response = post_form(
        admin_client, "/admin/users/new", _new_user_form(email=existing.email.upper(), role="evaluator")
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "An account with this e-mail already exists." in _field_errors(html, "email")
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == existing.email))
        == 1
    )


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("x" * 11, False),
        ("x" * 12, True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("correcthorse", True),  # all lower case, no digits or symbols: no composition rules
    ],
)
def test_initial_password_length_is_the_only_rule(
    app: Flask, admin_client: FlaskClient, password: str, accepted: bool
):
    response = post_form(
        admin_client, "/admin/users/new", _new_user_form(role="evaluator", password=password)
    )
    user = _user_by_email("new.person@example.com")
    if accepted:
        assert response.status_code == 302 and user is not None
        login(app.test_client(), user.email, password)
    else:
        assert response.status_code == 422 and user is None
        errors = _field_errors(response.get_data(as_text=True), "password")
        assert ("at least 12" if len(password) < 12 else "at most 128") in errors


# --- list and detail ----------------------------------------------------------------------------------


def test_list_shows_scope_and_filters_by_search_role_and_state(admin_client: FlaskClient):
    institution = make_institution(name="울산정보산업진흥원")
    make_user(Role.coordinator, institution=institution, email="kim@uipa.example", name="김수행")
    make_user(Role.evaluator, email="lee@eval.example", name="이평가", is_active=False)
    firm = make_firm(name="(주)울산로보틱스")
    make_user(Role.firm_user, firm=firm, email="park@robotics.example", name="박기업")

    html = admin_client.get("/admin/users").get_data(as_text=True)
    assert f"{institution.consortium.name} · 울산정보산업진흥원" in html
    assert "(주)울산로보틱스" in html
    assert "Coordinator" in html and "Firm user" in html

    html = admin_client.get("/admin/users?q=KIM@UIPA").get_data(as_text=True)
    assert "kim@uipa.example" in html and "lee@eval.example" not in html
    html = admin_client.get("/admin/users?q=이평가").get_data(as_text=True)
    assert "lee@eval.example" in html and "kim@uipa.example" not in html
    html = admin_client.get("/admin/users?role=firm_user").get_data(as_text=True)
    assert "park@robotics.example" in html and "kim@uipa.example" not in html
    html = admin_client.get("/admin/users?active=0").get_data(as_text=True)
    assert "lee@eval.example" in html and "kim@uipa.example" not in html
    html = admin_client.get("/admin/users?q=%25").get_data(as_text=True)  # a literal %, not a wildcard
    assert "No users match these filters." in html
    assert admin_client.get("/admin/users?role=bogus&active=maybe&page=x").status_code == 200


def test_list_paginates(app: Flask, admin_client: FlaskClient):
    per_page = app.config["PAGE_SIZE"]
    for n in range(per_page + 1):
        make_user(Role.evaluator, email=f"page{n:03d}@example.com")
    first = admin_client.get("/admin/users?q=page").get_data(as_text=True)
    second = admin_client.get("/admin/users?q=page&page=2").get_data(as_text=True)
    assert "page000@example.com" in first and f"page{per_page:03d}@example.com" not in first
    assert f"page{per_page:03d}@example.com" in second and "Page 2 of 2" in second


def test_detail_shows_recent_audit_events_and_open_sessions(app: Flask, admin_client: FlaskClient):
    user = make_user(Role.evaluator)
    _signed_in_client(app, user)
    _signed_in_client(app, user)
    html = admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert re.search(r"Open sessions</dt><dd>2</dd>", html)
    assert "Signed in" in html  # the two sign-ins were audited against this user


# --- deactivation -------------------------------------------------------------------------------------


def test_deactivation_asks_first_then_ends_the_users_sessions(app: Flask, admin_client: FlaskClient, admin):
    user = make_user(Role.coordinator)
    browser = _signed_in_client(app, user)

    confirm_page = admin_client.get(f"/admin/users/{user.id}/deactivate")
    assert confirm_page.status_code == 200
    assert "Deactivate" in confirm_page.get_data(as_text=True) and 'name="confirm"' in confirm_page.get_data(
        as_text=True
    )
    assert _user_by_email(user.email).is_active
    assert browser.get("/dashboard").status_code == 200

    unconfirmed = post_form(admin_client, f"/admin/users/{user.id}/deactivate", {})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm." in unconfirmed.get_data(as_text=True)
    assert _user_by_email(user.email).is_active

    response = post_form(admin_client, f"/admin/users/{user.id}/deactivate", {"confirm": "y"})
    assert response.status_code == 302
    assert not _user_by_email(user.email).is_active
    assert _is_sent_to_login(browser.get("/dashboard"))
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        )
        == 0
    )
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "user.deactivate", AuditEvent.object_id == user.id)
    )
    assert event is not None and event.actor_id == admin.id and event.changes == {"is_active": [True, False]}

    # and a deactivated account cannot sign in again
    refused = post_form(app.test_client(), "/login", {"email": user.email, "password": PASSWORD})
    assert refused.status_code == 200


def test_admin_cannot_deactivate_itself(admin_client: FlaskClient, admin: User):
    response = post_form(admin_client, f"/admin/users/{admin.id}/deactivate", {"confirm": "y"})
    assert response.status_code == 422
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    assert _user_by_email(admin.email).is_active
    assert admin_client.get("/admin/users").status_code == 200  # still signed in


def test_activate_lets_the_user_sign_in_again(app: Flask, admin_client: FlaskClient):
    user = make_user(Role.evaluator, is_active=False)
    response = post_form(admin_client, f"/admin/users/{user.id}/activate", {}, page=f"/admin/users/{user.id}")
    assert response.status_code == 302
    assert _user_by_email(user.email).is_active
    assert db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "user.activate", AuditEvent.object_id == user.id)
    )
    login(app.test_client(), user.email)


# --- editing and passwords ----------------------------------------------------------------------------


def test_role_change_ends_the_users_session(app: Flask, admin_client: FlaskClient):
    user = make_user(Role.coordinator)
    browser = _signed_in_client(app, user)
    consortium = make_consortium()
    form = _new_user_form(
        email=user.email, name=user.name, role="consortium_manager", consortium_id=str(consortium.id)
    )
    form.pop("password")
    response = post_form(admin_client, f"/admin/users/{user.id}/edit", form)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    changed = _user_by_email(user.email)
    assert changed.role is Role.consortium_manager and changed.consortium_id == consortium.id
    assert changed.institution_id is None
    assert _is_sent_to_login(browser.get("/dashboard"))


def test_name_change_keeps_the_users_session(app: Flask, admin_client: FlaskClient):
    user = make_user(Role.evaluator)
    browser = _signed_in_client(app, user)
    form = _new_user_form(email=user.email, name="새 이름", role="evaluator")
    form.pop("password")
    assert post_form(admin_client, f"/admin/users/{user.id}/edit", form).status_code == 302
    assert _user_by_email(user.email).name == "새 이름"
    assert browser.get("/dashboard").status_code == 200


def test_edit_form_is_prefilled_and_shows_the_firm_brn(admin_client: FlaskClient):
    firm = make_firm()
    user = make_user(Role.firm_user, firm=firm, locale="en")
    html = admin_client.get(f"/admin/users/{user.id}/edit").get_data(as_text=True)
    assert f'value="{user.email}"' in html
    assert f'value="{firm.brn_display}"' in html
    assert re.search(r'<option selected value="firm_user">', html)
    assert 'name="password"' not in html


def test_admin_cannot_change_its_own_role(admin_client: FlaskClient, admin: User):
    form = _new_user_form(email=admin.email, name="바뀐 이름", role="evaluator")
    form.pop("password")
    response = post_form(admin_client, f"/admin/users/{admin.id}/edit", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "You cannot change your own role." in _field_errors(html, "role")
    assert 'value="바뀐 이름"' in html
    assert _user_by_email(admin.email).role is Role.admin


def test_admin_sets_a_password_which_ends_the_users_sessions(app: Flask, admin_client: FlaskClient):
    user = make_user(Role.coordinator)
    browser = _signed_in_client(app, user)

    short = post_form(admin_client, f"/admin/users/{user.id}/password", {"password": "too-short"})
    assert short.status_code == 422
    assert "at least 12" in _field_errors(short.get_data(as_text=True), "password")
    assert browser.get("/dashboard").status_code == 200

    response = post_form(admin_client, f"/admin/users/{user.id}/password", {"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert _is_sent_to_login(browser.get("/dashboard"))
    assert (
        post_form(app.test_client(), "/login", {"email": user.email, "password": PASSWORD}).status_code == 200
    )
    login(app.test_client(), user.email, NEW_PASSWORD)
    assert db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "user.password_reset_by_admin", AuditEvent.object_id == user.id
        )
    )
