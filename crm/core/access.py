"""Route-level access control, declared on every view and enforced in one place.

Each view says who may use it: `@public`, `@signed_in`, or `@allow(Role.a, Role.b)`. A before-request hook
reads the declaration; a view without one is refused (and a test walks `app.url_map` so none ships).
Object-level visibility is separate: lists and detail pages query through `Model.visible_to(user)` and
answer 404 for anything outside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"
SIGNED_IN = "signed_in"
_ATTRIBUTE = "crm_access"


def _declare(view: F, rule: object) -> F:
    setattr(view, _ATTRIBUTE, rule)
    return view


def public(view: F) -> F:
    return _declare(view, PUBLIC)


def signed_in(view: F) -> F:
    return _declare(view, SIGNED_IN)


def allow(*roles: Any) -> Callable[[F], F]:
    allowed = frozenset(roles)

    def decorator(view: F) -> F:
        return _declare(view, allowed)

    return decorator


def access_rule(app: Flask, endpoint: str) -> object | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, _ATTRIBUTE, None) if view is not None else None


def role_may_use(rule: object, role: Any) -> bool:
    if rule in (PUBLIC, SIGNED_IN):
        return True
    return isinstance(rule, Iterable) and role in rule


def enforce_route_access() -> Any:
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None
    from crm.auth.mfa import pending_mfa_gate

    pending = pending_mfa_gate(endpoint)
    if pending is not None:
        return pending
    rule = access_rule(current_app, endpoint)
    if rule is None:
        current_app.logger.error("route %s declares no access rule; refused", endpoint)
        abort(403)
    if rule == PUBLIC:
        return None
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            abort(401)
        return redirect(
            url_for("auth.login", next=request.full_path if request.query_string else request.path)
        )
    if not role_may_use(rule, current_user.role):
        current_app.logger.info(
            "denied: user=%s role=%s endpoint=%s ip=%s",
            current_user.id,
            current_user.role,
            endpoint,
            request.remote_addr,
        )
        abort(403)
    return None
