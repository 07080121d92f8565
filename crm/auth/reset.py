"""Password reset by e-mail (ASVS 2.5): a single-use link valid for one hour; only its hash is stored.

The request answers the same whether or not the address has an account, so nobody learns which ones exist.
A successful reset ends every session of the user, this browser's included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo

from crm.audit.operations import record_audit
from crm.auth.forms import EmailField
from crm.auth.limits import configured, email_key, ip_key
from crm.auth.models import EmailToken, LoginFailure, User, hash_token
from crm.auth.operations import hash_password, issue_email_token, normalize_email, password_problems
from crm.auth.sessions import end_current_session, end_sessions_of
from crm.core.access import public
from crm.core.db import utcnow
from crm.core.exceptions import RuleViolation, ValidationFailed
from crm.core.forms import render_form, show_operation_error
from crm.extensions import db, limiter

RESET_PURPOSE = "reset_password"
RESET_LIFETIME = timedelta(hours=1)


class ResetTokenProblem(RuleViolation):
    """A reset link that cannot be used: token_unknown (404), token_used or token_expired (410)."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(code, message)
        self.status = 404 if code == "token_unknown" else 410


# --- operations -------------------------------------------------------------------------------------------


def request_reset(email: str) -> EmailToken | None:
    """Queues a reset mail when the address belongs to an active account; returns the token row or None.
    Callers must answer the same either way."""
    from crm.notices.models import NoticeKind
    from crm.notices.outbox import Recipient, queue_notice

    user = db.session.scalar(
        sa.select(User).where(User.email == normalize_email(email), User.is_active.is_(True))
    )
    if user is None:
        return None
    row, token = issue_email_token(user, RESET_PURPOSE, RESET_LIFETIME)
    link = url_for("auth.reset_password", token=token, _external=True)
    queue_notice(
        kind=NoticeKind.account,
        subject=_("[AX CRM] Reset your password"),
        body=_(
            "Hello %(name)s,\n\nSomeone asked to reset the password of your AX CRM account. To choose a new "
            "password, open this link within one hour:\n\n%(link)s\n\nThe link works once. If you did not "
            "ask, ignore this e-mail; your password stays as it is.",
            name=user.name,
            link=link,
        ),
        recipients=[Recipient(user.email, user.name, user_id=user.id)],
        firm_id=user.firm_id,
        about=user,
    )
    record_audit("user.password_reset_requested", user, {"expires_at": row.expires_at}, actor=user)
    return row


def usable_token(token: str) -> EmailToken:
    row = db.session.scalar(
        sa.select(EmailToken).where(
            EmailToken.token_hash == hash_token(token or ""), EmailToken.purpose == RESET_PURPOSE
        )
    )
    if row is None:
        raise ResetTokenProblem("token_unknown", _l("This password reset link is not valid."))
    if row.used_at is not None:
        raise ResetTokenProblem("token_used", _l("This password reset link was already used."))
    if row.expires_at <= utcnow() or not row.user.is_active:
        raise ResetTokenProblem(
            "token_expired", _l("This password reset link has expired or was replaced by a newer one.")
        )
    return row


def reset_password(token: str, new_password: str) -> User:
    """Sets the new password and ends all the user's sessions. The token is claimed with one conditional
    UPDATE, so the same link submitted twice at once changes the password only once."""
    row = usable_token(token)
    if problems := password_problems(new_password):
        raise ValidationFailed({"new_password": problems})
    now = utcnow()
    claimed = db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise ResetTokenProblem("token_used", _l("This password reset link was already used."))
    user = row.user
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    ended = end_sessions_of(user)
    # Whoever proved control of the mailbox is the owner: earlier failed guesses no longer lock them out.
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.email == user.email))
    record_audit("user.password_reset", user, {"sessions_ended": ended}, actor=user)
    return user


# --- forms ------------------------------------------------------------------------------------------------


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), render_kw={"autocomplete": "username", "autofocus": True})


class ResetPasswordForm(FlaskForm):
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired()],
        description=_l("12 to 128 characters. A passphrase of several words is easiest."),
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


# --- views (registered on the auth blueprint in crm/auth/views.py) -----------------------------------------

# The token is in the reset page's address: never hand it to other sites as a Referer.
_NO_REFERRER = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@public
@limiter.limit(configured("PASSWORD_RESET_RATE_LIMIT"), key_func=ip_key, methods=["POST"])
@limiter.limit(configured("PASSWORD_RESET_RATE_LIMIT_EMAIL"), key_func=email_key, methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_reset(form.email.data)
        db.session.commit()
        flash(
            _(
                "If an active account uses this address, a link to reset the password is on its way. It "
                "works once, for one hour. Check your inbox and spam folder."
            ),
            "info",
        )
        return redirect(url_for("auth.forgot_password"))
    return render_form("auth/forgot.html", form=form)


@public
def reset_password_view(token: str):
    try:
        usable_token(token)
    except ResetTokenProblem as error:
        return render_template("auth/reset.html", problem=error, form=None), error.status, _NO_REFERRER
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            reset_password(token, form.new_password.data)
        except ResetTokenProblem as error:
            db.session.rollback()
            return render_template("auth/reset.html", problem=error, form=None), error.status, _NO_REFERRER
        except ValidationFailed as error:
            show_operation_error(form, error)
        else:
            if current_user.is_authenticated:
                end_current_session()
                logout_user()
            db.session.commit()
            flash(_("Your password was changed and every session was signed out. Sign in again."), "success")
            return redirect(url_for("auth.login"))
    body, status = render_form("auth/reset.html", problem=None, form=form, token=token)
    return body, status, _NO_REFERRER
