"""Administration: users, roles and scopes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import aliased, selectinload

from crm.admin import health
from crm.admin.forms import ActionForm, DeactivateForm, PasswordSetForm, UserFilterForm, UserForm
from crm.audit.models import AuditEvent
from crm.auth import operations
from crm.auth.fresh import fresh_login_required
from crm.auth.models import STAFF_ROLES, Role, User, UserSession
from crm.core.access import allow
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.pagination import paginate
from crm.exports.csvexport import EMAIL, NAME, column, csv_response, personal, wants_csv
from crm.extensions import db
from crm.organisation.models import Institution

bp = Blueprint("admin", __name__, url_prefix="/admin")

RECENT_EVENTS = 20

# What the detail page calls each audited action on a user; unknown actions show their code.
ACTION_TITLES: dict[str, Any] = {
    "user.create": _l("Account created"),
    "user.update": _l("Account changed"),
    "user.activate": _l("Account activated"),
    "user.deactivate": _l("Account deactivated"),
    "user.password_change": _l("Password changed by the user"),
    "user.password_reset_by_admin": _l("Password set by an administrator"),
    "user.locale": _l("Language changed"),
    "auth.login": _l("Signed in"),
}


def _load_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _open_sessions(user: User) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        )
        or 0
    )


USER_CSV_COLUMNS = [
    personal(_l("E-mail"), "email", EMAIL),
    personal(_l("Name"), "name", NAME),
    column(_l("Role"), "role"),
    column(_l("Scope"), lambda user: scope_label(user)),
    column(_l("State"), lambda user: _("Account active") if user.is_active else _("Account deactivated")),
    column(_l("Last sign-in"), "last_login_at"),
]


@bp.route("/users", methods=["GET", "POST"])
@allow(Role.admin)
def users():
    filters = UserFilterForm(request.args)
    statement = sa.select(User).options(
        selectinload(User.consortium),
        selectinload(User.institution).selectinload(Institution.consortium),
        selectinload(User.firm),
    )
    if term := (filters.q.data or "").strip():
        # autoescape: a typed % or _ is searched for literally, not as a wildcard
        term = term.lower()
        statement = statement.where(
            sa.or_(
                sa.func.lower(User.email).contains(term, autoescape=True),
                sa.func.lower(User.name).contains(term, autoescape=True),
            )
        )
    if filters.role.data in {role.value for role in Role}:
        statement = statement.where(User.role == Role(filters.role.data))
    if filters.active.data in ("0", "1"):
        statement = statement.where(User.is_active == (filters.active.data == "1"))
    if wants_csv():
        return csv_response("users", statement.order_by(User.email), USER_CSV_COLUMNS, title=_l("Users"))
    page = paginate(statement.order_by(User.email))
    return render_template("admin/users.html", page=page, filters=filters)


@bp.route("/users/new", methods=["GET", "POST"])
@allow(Role.admin)
def new_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = operations.create_user(form.user_data(), form.password.data, actor=current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The account %(email)s was created.", email=user.email), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_form("admin/user_form.html", form=form, user=None)


@bp.get("/users/<int:user_id>")
@allow(Role.admin)
def user_detail(user_id: int):
    user = _load_user(user_id)
    actor = aliased(User)
    events = db.session.execute(
        sa.select(AuditEvent, actor)
        .outerjoin(actor, AuditEvent.actor_id == actor.id)
        .where(AuditEvent.object_type == User.__tablename__, AuditEvent.object_id == user.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(RECENT_EVENTS)
    ).all()
    return render_template(
        "admin/user_detail.html",
        user=user,
        events=events,
        action_titles=ACTION_TITLES,
        open_sessions=_open_sessions(user),
        action_form=ActionForm(),
    )


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@allow(Role.admin)
@fresh_login_required(methods=("POST",))
def edit_user(user_id: int):
    user = _load_user(user_id)
    form = UserForm(with_password=False)
    if request.method == "GET":
        form.fill_from(user)
    if form.validate_on_submit():
        try:
            operations.update_user(user, form.user_data(), actor=current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The account was saved."), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_form("admin/user_form.html", form=form, user=user)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@allow(Role.admin)
@fresh_login_required(methods=("POST",))
def set_password(user_id: int):
    user = _load_user(user_id)
    form = PasswordSetForm()
    if form.validate_on_submit():
        try:
            operations.set_password_by_admin(user, form.password.data, actor=current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The new password was set. The user's open sessions were ended."), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_form("admin/user_password.html", form=form, user=user)


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@allow(Role.admin)
def deactivate_user(user_id: int):
    user = _load_user(user_id)
    form = DeactivateForm()
    if form.validate_on_submit():
        try:
            operations.set_user_active(user, False, actor=current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The account was deactivated and signed out everywhere."), "success")
            return redirect(url_for("admin.user_detail", user_id=user.id))
    return render_form("admin/user_deactivate.html", form=form, user=user, open_sessions=_open_sessions(user))


@bp.post("/users/<int:user_id>/activate")
@allow(Role.admin)
def activate_user(user_id: int):
    user = _load_user(user_id)
    # No form to parse: the global CSRF check has already refused a forged request.
    try:
        operations.set_user_active(user, True, actor=current_user)
    except OperationError as error:
        show_operation_error(None, error)
        return redirect(url_for("admin.user_detail", user_id=user.id))
    db.session.commit()
    flash(_("The account was activated. The user can sign in again."), "success")
    return redirect(url_for("admin.user_detail", user_id=user.id))


def scope_label(user: User) -> str:
    """The scope column: consortium for a manager, consortium · institution for a coordinator, the firm."""
    if user.role is Role.consortium_manager and user.consortium is not None:
        return user.consortium.name
    if user.role is Role.coordinator and user.institution is not None:
        return f"{user.institution.consortium.name} · {user.institution.name}"
    if user.role is Role.firm_user and user.firm is not None:
        return user.firm.name
    return ""


@bp.app_template_global("user_scope")
def _user_scope(user: User) -> str:
    return scope_label(user)


@bp.get("/health")
@allow(Role.admin)
def scheduler_health():
    return render_template("admin/health.html", health=health.scheduler_health(), age=health.format_age)


@bp.app_template_global("sweep_banner")
def _sweep_banner(user: Any) -> dict[str, Any] | None:
    """For the base template: staff are warned when the daily reminder sweep is late (crm/admin/health.py)."""
    if not getattr(user, "is_authenticated", False) or user.role not in STAFF_ROLES:
        return None
    return health.sweep_banner()


# --- access log review (PIPA 개인정보 접근기록 점검) --------------------------------------------------------

ACCESS_LOG_CSV_COLUMNS = [
    column(_l("Time"), lambda row: row.AccessLog.at),
    column(_l("Account"), lambda row: row.actor_email),
    column(_l("Action"), lambda row: row.AccessLog.action),
    column(_l("Data subject"), lambda row: f"{row.AccessLog.subject_type}:{row.AccessLog.subject_id}"),
    column(_l("Purpose"), lambda row: row.AccessLog.purpose),
    column(_l("IP address"), lambda row: row.AccessLog.ip or ""),
]


def _access_log_page(review_form: Any) -> Any:
    from crm.privacy import review

    filters = review.AccessLogFilterForm(request.args)
    filters.validate()
    statement = review.filtered_log(filters)
    # The review form posts elsewhere and re-renders this page on an error: only a GET may ask for the CSV.
    if request.method == "GET" and wants_csv():
        statement = statement.add_columns(User.email.label("actor_email"))
        return csv_response("access_log", statement, ACCESS_LOG_CSV_COLUMNS, title=_l("Access log"))
    month = review.current_month()
    page = paginate(statement)
    return render_form(
        "admin/access_log.html",
        page=page,
        actors=review.actors_of(list(page.items)),
        filters=filters,
        review_form=review_form,
        month=month,
        last_review=review.review_of(month),
    )


@bp.get("/access-log")
@allow(Role.admin)
def access_log():
    from crm.privacy import review

    return _access_log_page(review.ReviewForm(month=review.current_month()))


@bp.post("/access-log/review")
@allow(Role.admin)
def access_log_review():
    from crm.privacy import review

    form = review.ReviewForm()
    if form.validate_on_submit():
        try:
            review.record_review(form.month.data or "", current_user)
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            flash(_("The access log of %(month)s is recorded as reviewed.", month=form.month.data), "success")
            return redirect(url_for("admin.access_log"))
    return _access_log_page(form)
