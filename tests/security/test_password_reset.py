"""Item 5: password reset by e-mail (single use, one hour, never tells whether an account exists) and the
refusal of common passwords wherever a password is set."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth import operations
from crm.auth.models import EmailToken, Role, User, UserSession
from crm.auth.passwords import common_passwords, is_common
from crm.auth.reset import RESET_PURPOSE
from crm.core.db import utcnow
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from tests.conftest import login, post_form
from tests.factories import PASSWORD, make_user
from tests.portal.helpers import mails_to, signup_form

pytestmark = pytest.mark.usefixtures("english")

NEW_PASSWORD = "violet tractor under moonlight"
_LINK = re.compile(r"https?://[^/\s]+(/password/reset/[A-Za-z0-9_\-]+)")
COMMON = "common ones and easy to guess"


def _unique_user(**kw) -> User:
    # The outbox folder lives for the whole run: a fresh address per test keeps mails apart.
    user = make_user(Role.coordinator, **kw)
    user.email = f"reset-{user.id}-{id(object())}@example.com"
    db.session.flush()
    return user


def _ask(client, email: str):
    return post_form(client, "/password/forgot", {"email": email}, follow_redirects=True)


def _reset_path(app, user: User) -> str:
    mails = mails_to(app, user.email)
    assert mails, "no reset mail"
    match = _LINK.search(mails[-1].get_content())
    assert match, mails[-1].get_content()
    return match.group(1)


def _tokens(user: User) -> list[EmailToken]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(EmailToken).where(EmailToken.user_id == user.id, EmailToken.purpose == RESET_PURPOSE)
        )
    )


def test_the_login_page_links_to_the_reset(client_en):
    assert 'href="/password/forgot"' in client_en.get("/login").get_data(as_text=True)


def test_the_answer_is_the_same_whether_or_not_the_account_exists(app, client_en):
    user = _unique_user()
    inactive = _unique_user(is_active=False)
    known = _ask(client_en, user.email)
    unknown = _ask(client_en, "nobody-at-all@example.com")
    dormant = _ask(client_en, inactive.email)
    assert known.status_code == unknown.status_code == dormant.status_code == 200
    texts = [r.get_data(as_text=True) for r in (known, unknown, dormant)]
    assert "a link to reset the password is on its way" in texts[0]
    assert texts[0] == texts[1] == texts[2]
    assert len(mails_to(app, user.email)) == 1
    assert mails_to(app, inactive.email) == [] and _tokens(inactive) == []


def test_only_the_hash_of_the_token_is_stored_and_it_lives_one_hour(app, client_en):
    user = _unique_user()
    _ask(client_en, user.email)
    path = _reset_path(app, user)
    (row,) = _tokens(user)
    assert path.rsplit("/", 1)[1] not in row.token_hash
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)


def test_the_link_sets_a_new_password_once_and_ends_every_session(app, client_en):
    user = _unique_user()
    other_browser = app.test_client()
    login(other_browser, user.email)
    assert other_browser.get("/dashboard").status_code == 200
    _ask(client_en, user.email)
    path = _reset_path(app, user)

    page = client_en.get(path)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    done = post_form(client_en, path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")

    refused = other_browser.get("/dashboard")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        )
        == 0
    )
    assert (
        post_form(app.test_client(), "/login", {"email": user.email, "password": PASSWORD}).status_code == 200
    )
    login(app.test_client(), user.email, NEW_PASSWORD)
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.action == "user.password_reset", AuditEvent.object_id == user.id
        )
    )

    again = client_en.get(path)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    replay = post_form(
        client_en, path, {"new_password": "x" * 20, "confirm_password": "x" * 20}, page="/login"
    )
    assert replay.status_code == 410


def test_a_signed_in_browser_that_resets_is_signed_out(app, client_en):
    user = _unique_user()
    login(client_en, user.email)
    _ask(client_en, user.email)
    path = _reset_path(app, user)
    post_form(client_en, path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert client_en.get("/dashboard").status_code == 302


def test_an_expired_link_is_410_and_an_unknown_one_404(app, client_en):
    user = _unique_user()
    _ask(client_en, user.email)
    path = _reset_path(app, user)
    db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.user_id == user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    expired = client_en.get(path)
    assert expired.status_code == 410 and "has expired" in expired.get_data(as_text=True)
    assert client_en.get("/password/reset/not-a-real-token").status_code == 404


def test_a_new_request_replaces_the_earlier_link(app, client_en):
    user = _unique_user()
    _ask(client_en, user.email)
    first = _reset_path(app, user)
    _ask(client_en, user.email)
    second = _reset_path(app, user)
    assert first != second
    assert client_en.get(first).status_code == 410
    assert client_en.get(second).status_code == 200


def test_the_reset_refuses_short_mismatched_and_common_passwords(app, client_en):
    user = _unique_user()
    _ask(client_en, user.email)
    path = _reset_path(app, user)
    common = post_form(client_en, path, {"new_password": "Password1234", "confirm_password": "Password1234"})
    assert common.status_code == 422 and COMMON in common.get_data(as_text=True)
    short = post_form(client_en, path, {"new_password": "short", "confirm_password": "short"})
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    differ = post_form(
        client_en, path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD + "x"}
    )
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(as_text=True)
    (row,) = _tokens(user)
    assert row.used_at is None  # refused attempts do not use up the link


# --- common passwords -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "PASSWORD1234",
        "P@ssw0rd1234",
        "123456789012",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "asdfghjkl123",
        "iloveyou1234",
        "saranghae123",
        "saranghae1988",
        "football1950",
        "sunshine2030",
        "  Qwerty123456  ",
    ],
)
def test_common_passwords_are_recognised_case_insensitively(app_ctx, password):
    assert is_common(password)
    assert any(COMMON in str(problem) for problem in operations.password_problems(password))


def test_the_list_is_large_and_leaves_passphrases_alone(app_ctx):
    assert len(common_passwords()) >= 10_000
    for fine in (PASSWORD, NEW_PASSWORD, "a long enough passphrase"):
        assert not is_common(fine)
        assert operations.password_problems(fine) == []


def test_admin_creation_refuses_a_common_password(app_ctx):
    data = operations.UserData(email="new-person@example.com", name="새 사람", role=Role.national_viewer)
    with pytest.raises(ValidationFailed) as raised:
        operations.create_user(data, "iloveyou1234", actor=make_user(Role.admin))
    assert COMMON in str(raised.value.fields["password"][0])


def test_password_change_refuses_a_common_password(app_ctx):
    user = make_user(Role.coordinator)
    with pytest.raises(ValidationFailed) as raised:
        operations.change_password(user, PASSWORD, "Qwerty123456")
    assert COMMON in str(raised.value.fields["new_password"][0])


def test_sign_up_refuses_a_common_password(client_en):
    form = signup_form(password="saranghae2024", password_confirm="saranghae2024")
    response = post_form(client_en, "/portal/signup", form)
    assert response.status_code == 422 and COMMON in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.id).where(User.email == form["email"])) is None
