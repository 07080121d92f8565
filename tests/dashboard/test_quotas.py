"""quota_rows against the hand-computed fixture: counted, funnel, pace, projection, at-risk, scope, years."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from crm.auth.models import Role
from crm.core.time import kst_to_utc
from crm.dashboard.quotas import COUNTED_STATUSES, FUNNEL_STATUSES, quota_rows
from crm.engagements.models import COMMITTED_STATUSES, EngagementStatus
from crm.engagements.pipeline import count_stuck_engagements
from crm.programmes.models import CountingPoint, Track
from tests.dashboard.world import AS_OF, EXPECTED, build_world
from tests.factories import (
    make_consortium,
    make_engagement,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

E = EngagementStatus


@pytest.fixture
def world(app_ctx):
    return build_world()


def _by_name(report) -> dict[str, object]:
    return {row.programme_name[0]: row for row in report.rows}


def test_counted_statuses_are_the_single_definition():
    assert COUNTED_STATUSES[CountingPoint.selected] == frozenset(E) - {E.cancelled}
    assert COUNTED_STATUSES[CountingPoint.agreed] == COMMITTED_STATUSES - {E.terminated}
    assert COUNTED_STATUSES[CountingPoint.completed] == {E.closed, E.follow_up}
    assert FUNNEL_STATUSES["agreed"] == COMMITTED_STATUSES


def test_every_figure_matches_the_hand_computed_fixture(world):
    report = quota_rows(world.manager, today=AS_OF)
    rows = _by_name(report)
    assert sorted(rows) == ["A", "B", "C", "D", "E"]
    for key, expected in EXPECTED.items():
        row = rows[key]
        funnel = (row.funnel.applied, row.funnel.selected, row.funnel.agreed, row.funnel.completed)
        assert row.target == expected["target"], key
        assert row.counted == expected["counted"], key
        assert funnel == expected["funnel"], key
        assert row.pace == pytest.approx(expected["pace"], abs=0.0005), key
        assert row.projected == pytest.approx(expected["projected"], abs=0.05), key
        assert row.at_risk is expected["at_risk"], key
        assert row.as_of == AS_OF
    a = rows["A"]
    assert (a.elapsed_days, a.remaining_days, a.year_days) == (182, 183, 365)
    assert a.recent == 2  # e2 and e7 (00:30 KST on the window's first day); not e8 at 23:50 the day before
    assert rows["E"].counted == Decimal("750.5") and rows["E"].recent == Decimal("250.5")
    assert report.firm_counted == 10 and report.firm_target == 34
    assert report.at_risk_count == 2


def test_as_dict_carries_the_api_fields(world):
    row = _by_name(quota_rows(world.manager, today=AS_OF))["A"]
    data = row.as_dict()
    assert data["target"] == 10 and data["counted"] == 5
    assert data["funnel"] == {"applied": 5, "selected": 7, "agreed": 6, "completed": 1}
    assert data["pace"] == 1.003 and data["projected"] == 11.5 and data["at_risk"] is False
    assert data["as_of"] == "2026-07-01"
    assert _by_name(quota_rows(world.manager, today=AS_OF))["E"].as_dict()["counted"] == 750.5


def test_the_rate_window_moves_with_the_day(world):
    # A day later e7's agreement (7 May) has left the window; e2's (10 June) is still in it.
    row = _by_name(quota_rows(world.manager, today=AS_OF + timedelta(days=1)))["A"]
    assert row.recent == 1
    assert row.projected_fraction == 5 + Fraction(1, 8) * Fraction(182, 7)


def test_before_the_year_starts_there_is_no_pace_and_after_it_ends_the_projection_is_the_count(world):
    before = _by_name(quota_rows(world.manager, today=date(2025, 12, 31)))["A"]
    assert before.pace is None and before.elapsed_days == 0
    after = _by_name(quota_rows(world.manager, today=date(2027, 1, 15)))["B"]
    assert after.remaining_days == 0 and after.projected == 2.0 and after.at_risk is True
    assert after.pace == pytest.approx(0.1)


def test_coordinator_sees_only_its_institutions_programmes(world):
    rows = _by_name(quota_rows(world.coordinator, today=AS_OF))
    assert sorted(rows) == ["C", "E"]
    assert rows["C"].counted == 3


def test_national_viewer_sees_every_consortium_and_may_narrow_to_one(world):
    other = make_programme(
        make_programme_year(make_consortium(), starts_on=date(2026, 3, 1)), name="X 타지역"
    )
    make_engagement(other, status=E.agreed)
    everything = quota_rows(world.viewer, today=AS_OF)
    names = {row.programme_name for row in everything.rows}
    assert {"X 타지역", "A 솔루션 도입", "E GPU 지원"} <= names
    narrowed = quota_rows(world.viewer, consortium_id=world.consortium.id, today=AS_OF)
    assert sorted(_by_name(narrowed)) == ["A", "B", "C", "D", "E"]
    # A manager cannot widen its scope with the consortium filter.
    assert quota_rows(world.other_manager, consortium_id=world.consortium.id, today=AS_OF).rows == []


def test_roles_without_a_dashboard_get_nothing(app_ctx):
    build_world()
    for role in (Role.evaluator, Role.firm_user):
        assert quota_rows(make_user(role), today=AS_OF).rows == []


def test_track_filter(world):
    rows = quota_rows(world.manager, today=AS_OF, track=Track.diagnosis).rows
    assert [row.programme_name for row in rows] == ["B 역량진단"]


def test_default_year_is_the_one_containing_today_else_the_latest(app_ctx):
    consortium = make_consortium()
    past = make_programme_year(consortium, ordinal=1, starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31))
    current = make_programme_year(
        consortium, ordinal=2, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)
    )
    institution = make_institution(consortium)
    make_programme(past, institution, name="2025 사업")
    make_programme(current, institution, name="2026 사업")
    manager = make_user(Role.consortium_manager, consortium=consortium)

    def names(**kw):
        return [row.programme_name for row in quota_rows(manager, **kw).rows]

    assert names(today=date(2026, 7, 1)) == ["2026 사업"]
    assert names(today=date(2027, 6, 1)) == ["2026 사업"]  # nothing running: the latest
    assert names(today=date(2026, 7, 1), programme_year_id=past.id) == ["2025 사업"]
    # A year the user may not see is ignored, not shown.
    foreign = make_programme_year(make_consortium())
    assert names(today=date(2026, 7, 1), programme_year_id=foreign.id) == ["2026 사업"]


def test_stuck_counts_agree_with_the_pipeline(app_ctx):
    year = make_programme_year(starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    programme = make_programme(year, sla_days={"pending_agreement": 10, "agreed": 30})
    today = date(2026, 7, 1)
    make_engagement(programme, status_changed_at=kst_to_utc(date(2026, 6, 1)))  # 30 days pending: stuck
    make_engagement(programme, status_changed_at=kst_to_utc(date(2026, 6, 21)))  # exactly 10 days: on time
    make_engagement(programme, status=E.agreed, status_changed_at=kst_to_utc(date(2026, 5, 1)))  # 61 days
    make_engagement(programme, status=E.closed, status_changed_at=kst_to_utc(date(2026, 1, 1)))  # no SLA
    manager = make_user(Role.consortium_manager, consortium=year.consortium)
    report = quota_rows(manager, today=today)
    assert report.stuck_count == 2 == count_stuck_engagements(manager, today)
