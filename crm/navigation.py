"""The main menu per role: the single place that says which sections each role sees."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from crm.auth.models import Role

_MENU: list[tuple[str, Any, frozenset[Role]]] = [
    (
        "dashboard.index",
        _l("Dashboard"),
        frozenset(
            {Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer, Role.evaluator}
        ),
    ),
    ("portal.home", _l("My firm"), frozenset({Role.firm_user})),
    ("applications.portal_calls", _l("Open calls"), frozenset({Role.firm_user})),
    ("applications.portal_list", _l("My applications"), frozenset({Role.firm_user})),
    ("engagements.portal_list", _l("My engagements"), frozenset({Role.firm_user})),
    ("diagnosis.portal_index", _l("AI readiness diagnosis"), frozenset({Role.firm_user})),
    ("notices.portal", _l("Notices received"), frozenset({Role.firm_user})),
    ("evaluations.index", _l("My evaluations"), frozenset({Role.evaluator})),
    ("firms.index", _l("Firms"), frozenset({Role.admin, Role.consortium_manager, Role.coordinator})),
    ("imports.index", _l("Imports"), frozenset({Role.admin, Role.consortium_manager, Role.coordinator})),
    (
        "applications.index",
        _l("Applications"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator}),
    ),
    (
        "engagements.index",
        _l("Engagements"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator}),
    ),
    (
        "milestones.index",
        _l("Milestones"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator}),
    ),
    ("notices.index", _l("Notices"), frozenset({Role.admin, Role.consortium_manager, Role.coordinator})),
    (
        "portal.claims",
        _l("Account requests"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator}),
    ),
    (
        "programmes.index",
        _l("Programmes"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator}),
    ),
    (
        "reports.budgets",
        _l("Reports"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer}),
    ),
    ("organisation.consortia", _l("Consortia"), frozenset({Role.admin, Role.consortium_manager})),
    (
        "calendar.index",
        _l("Calendar feed"),
        frozenset({Role.admin, Role.consortium_manager, Role.coordinator, Role.firm_user}),
    ),
    ("admin.users", _l("Users"), frozenset({Role.admin})),
    ("admin.access_log", _l("Access log"), frozenset({Role.admin})),
    ("admin.scheduler_health", _l("Scheduler health"), frozenset({Role.admin})),
]


def navigation_for(user: Any) -> list[tuple[str, str, str]]:
    """[(endpoint, url, label)] for the signed-in user's role."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [
        (endpoint, url_for(endpoint), str(label)) for endpoint, label, roles in _MENU if user.role in roles
    ]
