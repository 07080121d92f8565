"""Sign-in, passwords and user administration: one function per verb, never committing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from crm.audit.operations import diff, record_audit
from crm.auth.models import EmailToken, LoginFailure, Role, User, hash_token
from crm.auth.passwords import is_common
from crm.auth.sessions import end_sessions_of
from crm.core.db import utcnow
from crm.core.exceptions import OperationError, RuleViolation, ValidationFailed
from crm.extensions import db

# Compared against when the e-mail is unknown, so a missing account costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-just-for-timing", method="scrypt:1024:8:1")


class AuthError(OperationError):
    code = "unauthorized"
    status = 401


# EmailToken.purpose of the links that confirm a portal account's address.
VERIFY_EMAIL = "verify_email"


class EmailNotVerified(AuthError):
    """The password was right but the portal account has not confirmed its address yet."""

    code = "email_unverified"
    status = 403


INVALID_CREDENTIALS = _l("The e-mail or password is not correct.")
UNVERIFIED = _l("Confirm your e-mail address first: open the link in the e-mail we sent when you signed up.")
LOCKED = _l("Too many failed sign-ins. For your security, sign-in is paused for 15 minutes for this account.")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(password, method=method)


def password_problems(password: str) -> list[Any]:
    """Length (12–128) and not a common password: no composition rules, as NIST SP 800-63B and ASVS advise."""
    low, high = current_app.config["PASSWORD_MIN_LENGTH"], current_app.config["PASSWORD_MAX_LENGTH"]
    if len(password or "") < low:
        return [_l("Use at least %(n)s characters.", n=low)]
    if len(password) > high:
        return [_l("Use at most %(n)s characters.", n=high)]
    if is_common(password):
        return [_l("This password is one of the most common ones and easy to guess. Choose another.")]
    return []


def _recent_failures(email: str) -> int:
    since = utcnow() - current_app.config["LOGIN_FAILURE_WINDOW"]
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email == email, LoginFailure.at >= since)
        )
        or 0
    )


def awaits_verification(user: User) -> bool:
    """A portal account whose address is not confirmed yet. Accounts an admin makes are confirmed at
    creation (the admin vouches for the address), so only self sign-ups ever wait."""
    return user.role is Role.firm_user and user.email_verified_at is None


def authenticate(email: str, password: str) -> User:
    """Returns the user or raises AuthError with a message that never tells whether the account exists.

    The failure rows are part of the caller's transaction: the caller commits even when this raises.
    """
    email = normalize_email(email)
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    if _recent_failures(email) >= limit:
        raise AuthError(LOCKED)
    user = db.session.scalar(sa.select(User).where(User.email == email))
    password_ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is not None and password_ok and user.is_active:
        # Told only to whoever knows the password, so it reveals nothing about which accounts exist.
        if awaits_verification(user):
            raise EmailNotVerified(UNVERIFIED)
        db.session.execute(sa.delete(LoginFailure).where(LoginFailure.email == email))
        user.last_login_at = utcnow()
        record_audit("auth.login", user, actor=user)
        return user
    db.session.add(LoginFailure(email=email, ip=request.remote_addr))
    if _recent_failures(email) + 1 >= limit:
        raise AuthError(LOCKED)
    raise AuthError(INVALID_CREDENTIALS)


@dataclass
class UserData:
    email: str
    name: str
    role: Role
    consortium_id: int | None = None
    institution_id: int | None = None
    firm_id: int | None = None
    locale: str | None = None


def _scope_problems(data: UserData) -> dict[str, list[Any]]:
    """Each role needs its scope: a manager a consortium, a coordinator an institution, a firm user a firm."""
    from crm.firms.models import Firm
    from crm.organisation.models import Consortium, Institution

    problems: dict[str, list[Any]] = {}
    if data.role is Role.consortium_manager:
        if not data.consortium_id:
            problems["consortium_id"] = [_l("A consortium manager needs a consortium.")]
        elif db.session.get(Consortium, data.consortium_id) is None:
            problems["consortium_id"] = [_l("Choose an existing consortium.")]
    if data.role is Role.coordinator:
        if not data.institution_id:
            problems["institution_id"] = [_l("A coordinator needs an institution.")]
        elif db.session.get(Institution, data.institution_id) is None:
            problems["institution_id"] = [_l("Choose an existing institution.")]
    if data.role is Role.firm_user:
        if not data.firm_id:
            problems["firm_id"] = [_l("A firm user needs a firm.")]
        elif db.session.get(Firm, data.firm_id) is None:
            problems["firm_id"] = [_l("Choose an existing firm.")]
    return problems


def _normalised_scope(data: UserData) -> dict[str, Any]:
    from crm.organisation.models import Institution

    values: dict[str, Any] = {"consortium_id": None, "institution_id": None, "firm_id": None}
    if data.role is Role.consortium_manager:
        values["consortium_id"] = data.consortium_id
    elif data.role is Role.coordinator:
        institution = db.session.get(Institution, data.institution_id)
        values["institution_id"] = data.institution_id
        values["consortium_id"] = institution.consortium_id if institution else None
    elif data.role is Role.firm_user:
        values["firm_id"] = data.firm_id
    return values


def create_user(data: UserData, password: str, actor: User | None = None) -> User:
    email = normalize_email(data.email)
    problems = _scope_problems(data)
    if pw := password_problems(password):
        problems["password"] = pw
    if db.session.scalar(sa.select(User.id).where(User.email == email)) is not None:
        problems["email"] = [_l("An account with this e-mail already exists.")]
    if problems:
        raise ValidationFailed(problems)
    user = User(
        email=email,
        name=data.name.strip(),
        role=data.role,
        locale=data.locale,
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        email_verified_at=utcnow(),  # an admin creating the account vouches for the address
        **_normalised_scope(data),
    )
    db.session.add(user)
    db.session.flush()
    record_audit("user.create", user, {"email": email, "role": data.role}, actor=actor)
    return user


def update_user(user: User, data: UserData, actor: User) -> User:
    email = normalize_email(data.email)
    problems = _scope_problems(data)
    clash = db.session.scalar(sa.select(User.id).where(User.email == email, User.id != user.id))
    if clash is not None:
        problems["email"] = [_l("An account with this e-mail already exists.")]
    if user.id == actor.id and data.role is not user.role:
        problems["role"] = [_l("You cannot change your own role.")]
    if problems:
        raise ValidationFailed(problems)
    values = {
        "email": email,
        "name": data.name.strip(),
        "role": data.role,
        "locale": data.locale,
        **_normalised_scope(data),
    }
    changes = diff(user, values)
    for key, value in values.items():
        setattr(user, key, value)
    if {"role", "consortium_id", "institution_id", "firm_id"} & changes.keys():
        end_sessions_of(user)  # a new role or scope takes effect at the next sign-in
    record_audit("user.update", user, changes, actor=actor)
    return user


def set_user_active(user: User, active: bool, actor: User) -> User:
    if user.id == actor.id and not active:
        raise RuleViolation("self_deactivation", _l("You cannot deactivate your own account."))
    if user.is_active == active:
        return user
    user.is_active = active
    if not active:
        end_sessions_of(user)
    record_audit(
        "user.activate" if active else "user.deactivate",
        user,
        {"is_active": [not active, active]},
        actor=actor,
    )
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    problems: dict[str, list[Any]] = {}
    if not check_password_hash(user.password_hash, current_password or ""):
        problems["current_password"] = [_l("The current password is not correct.")]
    if pw := password_problems(new_password):
        problems["new_password"] = pw
    if problems:
        raise ValidationFailed(problems)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_sessions_of(user, except_current=True)
    record_audit("user.password_change", user, actor=user)


def set_password_by_admin(user: User, new_password: str, actor: User) -> None:
    if pw := password_problems(new_password):
        raise ValidationFailed({"password": pw})
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    end_sessions_of(user)
    record_audit("user.password_reset_by_admin", user, actor=actor)


def set_locale(user: User, locale: str) -> None:
    if locale in current_app.config["LANGUAGES"] and user.locale != locale:
        record_audit("user.locale", user, {"locale": [user.locale, locale]}, actor=user)
        user.locale = locale


def issue_email_token(user: User, purpose: str, lifetime: timedelta) -> tuple[EmailToken, str]:
    """A new single-use link token for `user` and `purpose`; earlier unused ones stop working, so only the
    newest mail counts. Only the hash is stored: the database alone cannot use a link. Never commits."""
    now = utcnow()
    db.session.execute(
        sa.update(EmailToken)
        .where(
            EmailToken.user_id == user.id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
            EmailToken.expires_at > now,
        )
        .values(expires_at=now)
    )
    secret = secrets.token_urlsafe(32)
    row = EmailToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    db.session.flush()
    return row, secret
