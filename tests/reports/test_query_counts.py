"""The number of queries per report page does not grow with the number of programmes (Issue 6 item 8)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.outcomes.models import SurveyStatus
from tests.conftest import login
from tests.factories import (
    make_consortium,
    make_engagement,
    make_engagement_history,
    make_firm,
    make_institution,
    make_kpi_row,
    make_outcome_survey,
    make_programme,
    make_programme_year,
    make_user,
)
from tests.reports.helpers import TODAY, QueryCounter, fixed_today, kst

S = EngagementStatus
PAGES = (
    "/reports/budgets",
    "/reports/budgets?format=csv",
    "/reports/outcomes",
    "/reports/outcomes?format=csv",
    "/reports/stages",
    "/reports/stages?format=csv",
    "/reports/stages?format=csv&list=stuck",
)


def _consortium_with(programmes: int) -> dict:
    """A consortium with `programmes` programmes over two years, each with engagements in several statuses,
    history, KPIs and surveys, and engagements past their SLA."""
    consortium = make_consortium()
    years = [make_programme_year(consortium, ordinal=n) for n in (1, 2)]
    institutions = [make_institution(consortium) for _ in range(2)]
    for n in range(programmes):
        programme = make_programme(
            years[n % 2], institutions[n % 2], sla_days={"agreed": 10, "in_progress": 20}
        )
        for k, status in enumerate((S.agreed, S.in_progress, S.closed)):
            engagement = make_engagement(
                programme,
                make_firm(consortium),
                status=status,
                gov_krw=6_000_000,
                local_krw=3_000_000,
                self_cash_krw=1_000_000,
                settlement_spent_krw=8_000_000 if status is S.closed else None,
                status_changed_at=kst("2026-05-01"),
            )
            make_engagement_history(
                engagement, from_status=None, to_status=S.pending_agreement, at=kst("2026-04-01")
            )
            make_engagement_history(
                engagement, from_status=S.pending_agreement, to_status=status, at=kst("2026-05-01")
            )
            make_kpi_row(engagement, indicator="매출", baseline=Decimal(100), actual=Decimal(110 + k))
            make_kpi_row(engagement, indicator="고용", baseline=Decimal(5), actual=Decimal(6))
            if status is S.closed:
                make_outcome_survey(
                    engagement, round=1, due_on=TODAY - timedelta(days=30), status=SurveyStatus.submitted
                )
                make_outcome_survey(engagement, round=2, due_on=date(2027, 6, 30))
    return {
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "coordinator": make_user(Role.coordinator, institution=institutions[0]),
    }


def _counts(app, email: str) -> dict[str, int]:
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, email)
    counts = {}
    for page in PAGES:
        browser.get(page)  # once to warm up whatever a first request loads
        with QueryCounter() as counter:
            response = browser.get(page)
        assert response.status_code == 200, page
        counts[page] = counter.count
    return counts


@pytest.mark.parametrize("role", ["manager", "coordinator"])
def test_three_or_thirty_programmes_same_queries(app, app_ctx, monkeypatch, role):
    fixed_today(monkeypatch)
    small = _consortium_with(3)
    large = _consortium_with(30)
    assert _counts(app, small[role].email) == _counts(app, large[role].email)


def test_national_viewer_queries_do_not_grow(app, app_ctx, monkeypatch):
    fixed_today(monkeypatch)
    viewer = make_user(Role.national_viewer)
    _consortium_with(3)
    before = _counts(app, viewer.email)
    _consortium_with(30)
    assert _counts(app, viewer.email) == before
    # And the budget page stays a handful: session, filters, report.
    assert before["/reports/budgets"] <= 8, before
