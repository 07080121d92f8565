"""Set-based: the number of queries of quota_rows and of the page does not grow with the programmes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role, User
from crm.dashboard.breakdowns import all_breakdowns
from crm.dashboard.quotas import dashboard_scope, quota_report, quota_rows
from crm.engagements.models import EngagementStatus
from crm.programmes.models import CountingPoint, TargetUnit, Track
from tests.conftest import login
from tests.dashboard.world import kst
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_engagement,
    make_engagement_history,
    make_financial,
    make_firm,
    make_gpu_allocation,
    make_institution,
    make_programme,
    make_programme_year,
    make_training_registration,
    make_training_session,
    make_user,
)
from tests.statements import recorded_statements

E = EngagementStatus
TODAY = date(2026, 7, 1)


def _consortium_with(programmes: int) -> User:
    """`programmes` programmes, a third each adoption, training and GPU, each with some of everything."""
    consortium = make_consortium()
    year = make_programme_year(consortium, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    institutions = [make_institution(consortium), make_institution(consortium)]
    for n in range(programmes):
        kind = n % 3
        institution = institutions[n % 2]
        if kind == 0:
            programme = make_programme(year, institution, track=Track.adoption, sla_days={"agreed": 30})
            call = make_call(programme)
            make_application(call, make_firm(), ApplicationStatus.submitted)
            for status in (E.agreed, E.closed, E.pending_agreement):
                firm = make_firm(employees=5 * (n + 1), sigungu_code="31140", ksic_code="26110")
                make_financial(firm, revenue_krw=1_000_000_000 * (n + 1))
                engagement = make_engagement(
                    programme, firm, status=status, status_changed_at=kst(2026, 5, 1)
                )
                make_engagement_history(engagement, to_status=E.agreed, at=kst(2026, 6, 1))
        elif kind == 1:
            programme = make_programme(
                year,
                institution,
                track=Track.training,
                unit=TargetUnit.people,
                counting_point=CountingPoint.completed,
            )
            session = make_training_session(programme, held_on=date(2026, 6, 1))
            make_training_registration(session, attended=True)
        else:
            programme = make_programme(
                year, institution, track=Track.infrastructure, unit=TargetUnit.gpu_hours
            )
            make_gpu_allocation(make_engagement(programme, status=E.agreed), hours_granted=Decimal("10"))
    return make_user(Role.consortium_manager, consortium=consortium)


def _functions(user: User) -> tuple[int, int]:
    with recorded_statements() as statements:
        report = quota_rows(user, today=TODAY)
        all_breakdowns(report.scope)
    return len(statements), len(report.rows)


def test_quota_rows_and_breakdowns_take_the_same_queries_for_3_and_30_programmes(app_ctx):
    few, few_rows = _functions(_consortium_with(3))
    many, many_rows = _functions(_consortium_with(30))
    assert (few_rows, many_rows) == (3, 30)
    assert few == many
    assert few <= 12


def _page(app, user: User) -> tuple[int, str]:
    browser = app.test_client()
    login(browser, user.email)
    with recorded_statements() as statements:
        response = browser.get("/dashboard")
    assert response.status_code == 200
    return len(statements), response.get_data(as_text=True)


def test_page_takes_the_same_queries_for_3_and_30_programmes(app):
    few, few_page = _page(app, _consortium_with(3))
    many, many_page = _page(app, _consortium_with(30))
    assert few_page.count("<progress") == 3 and many_page.count("<progress") == 30
    assert few == many


def test_report_uses_grouped_queries(app_ctx):
    user = _consortium_with(6)
    scope = dashboard_scope(user, today=TODAY)
    with recorded_statements() as statements:
        quota_report(scope)
    assert len(statements) == 5
    assert all("GROUP BY" in statement for statement in statements[1:])
