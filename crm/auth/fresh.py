"""Fresh sign-in: a password re-entered within the last few minutes before sensitive account changes.

A stolen or forgotten open browser must not be enough to change a password, MFA or someone's role
(ASVS 3.7.1). The time of the last password entry lives in the signed session cookie, next to the key of
the server-side session row, and is set at sign-in and on the re-authentication page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from crm.core.access import signed_in
from crm.core.exceptions import OperationError
from crm.core.forms import show_operation_error
from crm.core.urls import safe_next
from crm.extensions import db, limiter

F = TypeVar("F", bound=Callable[..., Any])
FRESH_KEY = "fresh_at"

bp = Blueprint("fresh", __name__)


def mark_fresh() -> None:
    session[FRESH_KEY] = time.time()


def is_fresh() -> bool:
    stamp = session.get(FRESH_KEY)
    if not isinstance(stamp, (int, float)):
        return False
    age = time.time() - stamp
    return 0 <= age <= current_app.config["FRESH_LOGIN_SECONDS"]


def fresh_login_required(view: F | None = None, *, methods: tuple[str, ...] | None = None) -> Any:
    """Sends a signed-in user whose last password entry is too old to the re-authentication page.

    Use as `@fresh_login_required` (every method) or `@fresh_login_required(methods=("POST",))` for a page
    that may be viewed but not submitted without it. Place it below the access decorator. A refused POST is
    not replayed: the user comes back to the page (GET) and submits again.
    """

    def decorator(func: F) -> F:
        @wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if methods is not None and request.method not in methods:
                return func(*args, **kwargs)
            if current_user.is_authenticated and not is_fresh():
                if request.path.startswith("/api/"):
                    abort(401)
                flash(_("Please enter your password again to continue."), "info")
                return redirect(url_for("fresh.reauth", next=request.path))
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator(view) if view is not None else decorator


class ReauthForm(FlaskForm):
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password", "autofocus": True},
    )
    next = HiddenField()


@bp.route("/reauth", methods=["GET", "POST"])
@signed_in
@limiter.limit("10 per minute", methods=["POST"])
def reauth():
    from crm.auth.operations import authenticate

    form = ReauthForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            # Same checks as sign-in, so failures here count towards the account's lockout too.
            user = authenticate(current_user.email, form.password.data)
        except OperationError as error:
            db.session.commit()  # keep the failure count
            form.password.data = ""
            show_operation_error(form, error)
        else:
            if user.id != current_user.id:  # pragma: no cover - same e-mail, so the same row
                abort(403)
            db.session.commit()
            mark_fresh()
            return redirect(safe_next(form.next.data, url_for("auth.account")))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/reauth.html", form=form), status
