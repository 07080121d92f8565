"""Query-count guards: the main list pages, the firm page and the dashboards issue as many queries for 50
rows as for 5 (no N+1). Each row gets its own firm and programme so a lazy load per row would show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.notices.models import DeliveryStatus
from tests.conftest import login
from tests.factories import (
    make_activity,
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_delivery,
    make_engagement,
    make_financial,
    make_firm,
    make_firm_link,
    make_institution,
    make_milestone,
    make_notice,
    make_programme,
    make_programme_year,
    make_user,
)
from tests.statements import recorded_statements

SMALL, LARGE = 5, 50


@dataclass
class World:
    consortium: object
    institution: object
    programme_year: object
    call: object
    focus_firm: object
    users: dict[str, object] = field(default_factory=dict)
    rows: int = 0

    def add_rows(self, count: int) -> None:
        """`count` more of everything the pages list: firms with contacts, financials and links,
        applications, engagements, milestones, activities and notices with deliveries."""
        today = date(2026, 6, 1)
        for _ in range(count):
            self.rows += 1
            firm = make_firm(self.consortium)
            make_firm_link(firm, self.consortium, self.institution)
            make_contact(firm)
            make_financial(firm)
            programme = make_programme(programme_year=self.programme_year, institution=self.institution)
            make_application(self.call, firm, status=ApplicationStatus.submitted)
            engagement = make_engagement(
                programme,
                firm,
                status=EngagementStatus.in_progress,
                starts_on=today - timedelta(days=30),
                ends_on=today + timedelta(days=150),
                gov_krw=10_000_000,
                local_krw=5_000_000,
                self_cash_krw=1_000_000,
                self_inkind_krw=1_000_000,
            )
            make_milestone(engagement, due_on=today + timedelta(days=self.rows))
            make_activity(engagement)
            notice = make_notice(send_at=utcnow() - timedelta(minutes=5))
            make_delivery(notice, status=DeliveryStatus.queued)
            # The focus firm's page: one more contact, engagement (in its own programme) and activity.
            make_contact(self.focus_firm, is_primary=False)
            focus_engagement = make_engagement(
                make_programme(programme_year=self.programme_year, institution=self.institution),
                self.focus_firm,
                status=EngagementStatus.in_progress,
            )
            make_activity(focus_engagement)
        db.session.flush()


@pytest.fixture
def world(app_ctx) -> World:
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme_year = make_programme_year(consortium)
    call = make_call(make_programme(programme_year=programme_year, institution=institution))
    focus_firm = make_firm(consortium)
    make_firm_link(focus_firm, consortium, institution)
    built = World(consortium, institution, programme_year, call, focus_firm)
    built.users = {
        "admin": make_user(Role.admin),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "coordinator": make_user(Role.coordinator, institution=institution),
    }
    return built


PAGES: dict[str, Callable[[World], str]] = {
    "firms": lambda w: "/firms",
    "firms API": lambda w: "/api/v1/firms?limit=200",
    "firm page": lambda w: f"/firms/{w.focus_firm.id}",
    "applications": lambda w: "/applications",
    "engagements": lambda w: "/engagements",
    "milestones": lambda w: "/milestones",
    "notices": lambda w: "/notices",
    "dashboard": lambda w: "/dashboard",
    "budgets report": lambda w: "/reports/budgets",
}


def _measure(client, url: str) -> tuple[int, list[str]]:
    with recorded_statements() as statements:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(statements), statements


@pytest.mark.parametrize("role", ["admin", "manager", "coordinator"])
@pytest.mark.parametrize("page", list(PAGES))
def test_same_query_count_for_5_and_50_rows(world, client, page, role):
    url = PAGES[page](world)
    login(client, world.users[role].email)
    world.add_rows(SMALL)
    client.get(url)  # warm-up: per-process caches (translations, templates) are not per-row work
    small, _ = _measure(client, url)
    world.add_rows(LARGE - SMALL)
    large, statements = _measure(client, url)
    assert large == small, f"{url} as {role}: {small} queries for {SMALL} rows, {large} for {LARGE}:\n" + (
        "\n".join(s[:160] for s in statements)
    )


def test_counter_sees_per_row_queries(world, client):
    """The guard can fail: a page that lazy-loads per row shows a growing count."""
    world.add_rows(SMALL)
    with recorded_statements() as statements:
        for firm in db.session.scalars(sa.select(type(world.focus_firm)).limit(SMALL)):
            db.session.expire(firm)
            _ = firm.name
    assert len(statements) >= SMALL
