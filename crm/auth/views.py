from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup

from crm.auth import mfa, operations, reset
from crm.auth.denials import log_denial
from crm.auth.forms import LanguageForm, LoginForm, PasswordChangeForm
from crm.auth.fresh import fresh_login_required
from crm.auth.limits import configured, email_key, ip_key
from crm.auth.models import Role
from crm.auth.sessions import end_current_session, start_session
from crm.core.access import public, signed_in
from crm.core.exceptions import OperationError
from crm.core.forms import show_operation_error
from crm.core.urls import safe_next
from crm.extensions import db, limiter

bp = Blueprint("auth", __name__)
bp.after_app_request(log_denial)  # every 403/404 a signed-in user gets, from any blueprint
bp.add_url_rule("/password/forgot", view_func=reset.forgot_password, methods=["GET", "POST"])
bp.add_url_rule(
    "/password/reset/<token>",
    endpoint="reset_password",
    view_func=reset.reset_password_view,
    methods=["GET", "POST"],
)


def home_for(user) -> str:
    if user.role is Role.firm_user:
        return url_for("portal.home")
    if user.role is Role.admin:
        return url_for("admin.users")
    return url_for("dashboard.index")


@bp.get("/")
@public
def root():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(configured("LOGIN_RATE_LIMIT_IP"), key_func=ip_key, methods=["POST"])
@limiter.limit(configured("LOGIN_RATE_LIMIT_EMAIL"), key_func=email_key, methods=["POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_for(current_user))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            user = operations.authenticate(form.email.data, form.password.data)
        except operations.EmailNotVerified as error:
            form.password.data = ""
            flash(
                Markup('{} <a href="{}">{}</a>').format(
                    error.message,
                    url_for("portal.resend_verification"),
                    _("Send a new confirmation link"),
                ),
                "warning",
            )
            return render_template("auth/login.html", form=form), 200
        except OperationError as error:
            db.session.commit()  # keep the failure count even though sign-in failed
            form.password.data = ""
            show_operation_error(None, error)
            return render_template("auth/login.html", form=form), 200
        if mfa.applies_to(user):
            response = mfa.begin_pending(user, form.next.data)
            db.session.commit()
            return response
        start_session(user)
        login_user(user)
        db.session.commit()
        return redirect(safe_next(form.next.data, home_for(user)))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@public
def logout():
    end_current_session()
    logout_user()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@signed_in
@fresh_login_required(methods=("POST",))
def account():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            operations.change_password(current_user, form.current_password.data, form.new_password.data)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("Your password was changed. Other signed-in browsers were signed out."), "success")
            return redirect(url_for("auth.account"))
    return render_template(
        "auth/account.html", form=form, language_form=LanguageForm(locale=current_user.locale or "ko")
    )


@bp.post("/language")
@public
def language():
    form = LanguageForm()
    target = safe_next(
        form.next.data or (request.referrer and _local_path(request.referrer)), url_for("auth.root")
    )
    if not form.validate_on_submit():
        return redirect(target)
    if current_user.is_authenticated:
        operations.set_locale(current_user, form.locale.data)
        db.session.commit()
    response = make_response(redirect(target))
    response.set_cookie(
        "lang",
        form.locale.data,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
    )
    return response


def _local_path(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return ""
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- API tokens (listed and revoked by their owner) ---------------------------------------------------------


@bp.app_template_global("api_tokens_of_current_user")
def api_tokens_of_current_user() -> list:
    from crm.api.auth import live_tokens_of

    return live_tokens_of(current_user) if current_user.is_authenticated else []


@bp.post("/account/api-tokens")
@signed_in
def create_api_token():
    from crm.api.auth import issue_token

    if not FlaskForm().validate_on_submit():
        abort(400)
    _token, secret = issue_token(current_user, request.form.get("name", ""))
    db.session.commit()
    # Rendered, not redirected: the secret must never travel through the session or a URL.
    response = make_response(
        render_template(
            "auth/account.html",
            form=PasswordChangeForm(formdata=None),
            language_form=LanguageForm(locale=current_user.locale or "ko"),
            new_api_token=secret,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/api-tokens/<int:token_id>/revoke")
@signed_in
def revoke_api_token(token_id: int):
    from crm.api.auth import revoke_token
    from crm.api.models import ApiToken

    if not FlaskForm().validate_on_submit():
        abort(400)
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == current_user.id)
    )
    if token is None:
        abort(404)
    revoke_token(token, current_user)
    db.session.commit()
    flash(_("The token was revoked; programs using it stop working at once."), "success")
    return redirect(url_for("auth.account", _anchor="api-tokens"))


mfa.add_routes(bp)
