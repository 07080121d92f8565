"""Two-step sign-in: TOTP (RFC 6238, pyotp) with ten single-use recovery codes.

Required for the roles in `MFA_REQUIRED_ROLES` (admin and consortium manager), optional for everyone else.
After the password step the browser is only "MFA pending": the user id sits in the signed session cookie,
Flask-Login does not know the user yet, and `pending_mfa_gate` sends every request except the MFA pages
and sign-out back to the MFA step. Only a correct code starts the real server-side session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

import pyotp
import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length, Optional

from crm.audit.operations import record_audit
from crm.auth.models import LoginFailure, User
from crm.core.access import public, signed_in
from crm.core.db import utcnow
from crm.core.exceptions import OperationError, RuleViolation, ValidationFailed
from crm.core.forms import StrippedStringField, render_form, show_operation_error
from crm.core.urls import safe_next
from crm.extensions import db

ISSUER = "AX CRM"
RECOVERY_CODE_COUNT = 10
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 5 * 60
# How long the password step stays valid while the user fetches a code.
PENDING_SECONDS = 10 * 60

PENDING_USER = "mfa_uid"
PENDING_SINCE = "mfa_at"
PENDING_NEXT = "mfa_next"
# Endpoints a pending browser may still reach; everything else is sent back to the MFA step.
PENDING_ENDPOINTS = frozenset({"auth.mfa_verify", "auth.mfa_enrol", "auth.logout", "auth.language", "static"})

WRONG_CODE = _l("The code is not correct. Check the time on your phone and try the newest code.")
TOO_MANY = _l("Too many wrong codes. For your security, try again in 5 minutes.")


# --- state ---------------------------------------------------------------------------------------------


def is_required(user: User) -> bool:
    return user.role.value in current_app.config["MFA_REQUIRED_ROLES"]


def is_enabled(user: User) -> bool:
    return user.mfa_enabled_at is not None and bool(user.mfa_secret)


def applies_to(user: User) -> bool:
    """Whether a correct password alone is not enough to sign this user in."""
    return is_enabled(user) or is_required(user)


def _hash_code(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _normalise(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def provisioning_uri(user: User) -> str:
    return pyotp.TOTP(user.mfa_secret or "").provisioning_uri(name=user.email, issuer_name=ISSUER)


def _failure_key(user: User) -> str:
    # Shares the sign-in failure table under a key no e-mail address can have (no "@").
    return f"mfa:{user.id}"


def _recent_failures(user: User) -> int:
    since = utcnow() - timedelta(seconds=FAILURE_WINDOW_SECONDS)
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.email == _failure_key(user), LoginFailure.at >= since)
        )
        or 0
    )


# --- operations (never commit) -------------------------------------------------------------------------


def start_enrolment(user: User) -> str:
    """A new secret awaiting confirmation; an unconfirmed one is kept so a reload does not invalidate
    what the user already put in the authenticator."""
    if is_enabled(user):
        raise RuleViolation("mfa_enabled", _l("Two-step sign-in is already on for this account."))
    if not user.mfa_secret:
        user.mfa_secret = pyotp.random_base32()
        db.session.flush()
    return user.mfa_secret


def _check_totp(user: User, code: str) -> bool:
    """Accepts the current code or its neighbours (clock drift), but never the same time step twice."""
    code = _normalise(code)
    if not user.mfa_secret or len(code) != 6 or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.mfa_secret)
    now = int(time.time())
    for offset in (0, -1, 1):
        step = now // totp.interval + offset
        if secrets.compare_digest(totp.at(step * totp.interval), code):
            if user.mfa_last_step is not None and step <= user.mfa_last_step:
                return False
            user.mfa_last_step = step
            return True
    return False


def _use_recovery_code(user: User, code: str) -> bool:
    hashes = list(user.mfa_recovery_hashes or [])
    digest = _hash_code(code)
    if not _normalise(code) or digest not in hashes:
        return False
    hashes.remove(digest)
    user.mfa_recovery_hashes = hashes  # a new list, so the JSON column is seen as changed
    record_audit("mfa.recovery_code_used", user, {"remaining": len(hashes)}, actor=user)
    return True


def _guard(user: User) -> None:
    if _recent_failures(user) >= MAX_FAILURES:
        raise RuleViolation("mfa_locked", TOO_MANY, {"code": [TOO_MANY]})


def _fail(user: User) -> None:
    db.session.add(LoginFailure(email=_failure_key(user), ip=request.remote_addr))
    db.session.flush()
    message = TOO_MANY if _recent_failures(user) >= MAX_FAILURES else WRONG_CODE
    raise ValidationFailed({"code": [message]}, message)


def verify(user: User, code: str, allow_recovery: bool = True) -> None:
    """Checks a sign-in code (TOTP, or a recovery code which is then spent). Raises on a wrong code; the
    failure row is part of the caller's transaction, so the caller commits even when this raises."""
    _guard(user)
    if _check_totp(user, code) or (allow_recovery and _use_recovery_code(user, code)):
        db.session.execute(sa.delete(LoginFailure).where(LoginFailure.email == _failure_key(user)))
        return
    _fail(user)


def confirm_enrolment(user: User, code: str) -> list[str]:
    """Turns MFA on once the user proves the authenticator works; returns the recovery codes (shown once)."""
    if is_enabled(user):
        raise RuleViolation("mfa_enabled", _l("Two-step sign-in is already on for this account."))
    if not user.mfa_secret:
        start_enrolment(user)
    verify(user, code, allow_recovery=False)
    codes = _new_recovery_codes()
    user.mfa_recovery_hashes = [_hash_code(c) for c in codes]
    user.mfa_enabled_at = utcnow()
    db.session.flush()
    record_audit("mfa.enrol", user, {"recovery_codes": len(codes)}, actor=user)
    return codes


def _new_recovery_codes() -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def disable(user: User, code: str = "", password: str = "") -> None:
    """Turns optional MFA off; proof is a current code or the password (typed now, so a borrowed signed-in
    browser alone cannot do it). Refused for roles that must use MFA."""
    if is_required(user):
        message = _l("Your role must use two-step sign-in; it cannot be turned off.")
        raise RuleViolation("mfa_required", message)
    if not is_enabled(user):
        raise RuleViolation("mfa_disabled", _l("Two-step sign-in is not on for this account."))
    if code:
        verify(user, code, allow_recovery=False)
    elif not (password and check_password_hash(user.password_hash, password)):
        message = _l("Enter a current code from your authenticator app or your password.")
        raise ValidationFailed({"password": [message]}, message)
    user.mfa_secret = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    user.mfa_recovery_hashes = None
    db.session.flush()
    record_audit("mfa.disable", user, {"by": "code" if code else "password"}, actor=user)


# --- pending state -------------------------------------------------------------------------------------


def begin_pending(user: User, next_url: str) -> Response:
    """After a correct password: remember who is half-way in (new cookie contents, against fixation)."""
    session.clear()
    session[PENDING_USER] = user.id
    session[PENDING_SINCE] = int(time.time())
    session[PENDING_NEXT] = next_url or ""
    target = "auth.mfa_verify" if is_enabled(user) else "auth.mfa_enrol"
    return redirect(url_for(target))


def pending_user() -> User | None:
    user_id = session.get(PENDING_USER)
    if not user_id:
        return None
    if int(time.time()) - int(session.get(PENDING_SINCE, 0)) > PENDING_SECONDS:
        session.clear()
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


def pending_mfa_gate(endpoint: str) -> Response | None:
    """Called first by the route access hook: a pending browser may use only the MFA pages and sign-out."""
    if PENDING_USER not in session or endpoint in PENDING_ENDPOINTS:
        return None
    if request.path.startswith("/api/"):
        return None  # the API authenticates each request by token, not by this cookie
    return redirect(url_for("auth.mfa_verify"))


def _finish_sign_in(user: User) -> Response:
    from crm.auth.sessions import start_session
    from crm.auth.views import home_for

    next_url = session.get(PENDING_NEXT, "")
    start_session(user)  # clears the pending state with the rest of the old cookie
    login_user(user)
    return redirect(safe_next(next_url, home_for(user)))


# --- forms ---------------------------------------------------------------------------------------------


class CodeForm(FlaskForm):
    code = StrippedStringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("The 6-digit code from your authenticator app, or one of your recovery codes."),
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"},
    )


class EnrolForm(FlaskForm):
    code = StrippedStringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=20)],
        description=_l("The 6-digit code your authenticator app shows after adding the key."),
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "numeric"},
    )


class DisableForm(FlaskForm):
    code = StrippedStringField(
        _l("Code from your authenticator app"), validators=[Optional(), Length(max=20)]
    )
    password = PasswordField(
        _l("Or your password"), validators=[Optional()], render_kw={"autocomplete": "current-password"}
    )


# --- views (routes on the auth blueprint, see add_routes) -------------------------------------------------


@public
def mfa_verify() -> Any:
    user = pending_user()
    if user is None:
        session.pop(PENDING_USER, None)
        flash(_("Please sign in to continue."), "info")
        return redirect(url_for("auth.login"))
    if not is_enabled(user):
        return redirect(url_for("auth.mfa_enrol"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            verify(user, form.code.data)
        except OperationError as error:
            db.session.commit()  # the failed attempt counts towards the limit
            show_operation_error(form, error)
            return render_form("auth/mfa_verify.html", form=form)
        response = _finish_sign_in(user)
        db.session.commit()
        return response
    return render_form("auth/mfa_verify.html", form=form)


@public
def mfa_enrol() -> Any:
    pending = pending_user()
    if pending is not None:
        user = pending
    elif current_user.is_authenticated:
        user = current_user
    else:
        return redirect(url_for("auth.login"))
    if is_enabled(user):
        flash(_("Two-step sign-in is already on for this account."), "info")
        return redirect(url_for("auth.mfa_verify" if pending is not None else "auth.account"))
    start_enrolment(user)
    db.session.commit()
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = confirm_enrolment(user, form.code.data)
        except OperationError as error:
            db.session.commit()
            show_operation_error(form, error)
        else:
            target = url_for("auth.account")
            if pending is not None:
                target = _finish_sign_in(user).location
            db.session.commit()
            # Rendered, not redirected: the codes must never travel through the session or a URL.
            response = make_response(render_template("auth/mfa_codes.html", codes=codes, target=target))
            response.headers["Cache-Control"] = "no-store"
            return response
    response = make_response(
        render_form(
            "auth/mfa_enrol.html",
            form=form,
            secret=user.mfa_secret,
            uri=provisioning_uri(user),
            required=is_required(user),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@signed_in
def mfa_disable() -> Any:
    form = DisableForm()
    if form.validate_on_submit():
        try:
            disable(current_user, form.code.data or "", form.password.data or "")
        except OperationError as error:
            db.session.commit()
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Two-step sign-in is off for your account."), "success")
            return redirect(url_for("auth.account"))
    return render_form("auth/mfa_disable.html", form=form, required=is_required(current_user))


def add_routes(bp: Blueprint) -> None:
    bp.add_url_rule("/login/mfa", "mfa_verify", mfa_verify, methods=["GET", "POST"])
    bp.add_url_rule("/account/mfa", "mfa_enrol", mfa_enrol, methods=["GET", "POST"])
    bp.add_url_rule("/account/mfa/disable", "mfa_disable", mfa_disable, methods=["GET", "POST"])
