"""Breakdowns of the counted engagements: hand-computed groups, each adding up to the total."""

from __future__ import annotations

import pytest

from crm.dashboard.breakdowns import DIMENSIONS, all_breakdowns, breakdown
from crm.dashboard.quotas import dashboard_scope, quota_report
from tests.dashboard.world import AS_OF, build_world


@pytest.fixture
def world(app_ctx):
    return build_world()


def _counts(scope, key: str) -> dict[object, int]:
    return {row.key: row.count for row in breakdown(scope, key).rows}


def test_each_breakdown_adds_up_to_the_firms_counted(world):
    scope = dashboard_scope(world.manager, today=AS_OF)
    total = quota_report(scope).firm_counted
    assert total == 10  # A 5 + B 2 + C 3; training and GPU programmes count people and hours, not firms
    breakdowns = all_breakdowns(scope)
    assert [b.dimension.key for b in breakdowns] == list(DIMENSIONS)
    for b in breakdowns:
        assert b.total == total, b.dimension.key


def test_groups_match_the_fixture(world):
    scope = dashboard_scope(world.manager, today=AS_OF)
    assert _counts(scope, "institution") == {world.first.id: 7, world.second.id: 3}
    assert _counts(scope, "sigungu") == {"31140": 6, "31110": 3, None: 1}
    assert _counts(scope, "ksic") == {"C": 6, "J": 2, "M": 1, None: 1}
    assert _counts(scope, "employees") == {
        "1-9": 2,
        "10-49": 3,
        "50-99": 1,
        "100-299": 2,
        "300plus": 1,
        None: 1,
    }
    # The latest year with a revenue figure: e1's 2025 (5억), not 2024's 60억; e2's 2024 since 2025 is blank.
    assert _counts(scope, "revenue") == {
        "lt10": 2,
        "10-50": 2,
        "50-100": 1,
        "100-500": 2,
        "500plus": 1,
        None: 2,
    }


def test_labels_are_readable(world):
    scope = dashboard_scope(world.manager, today=AS_OF)
    labels = {row.key: row.label for row in breakdown(scope, "sigungu").rows}
    assert labels["31140"] == "울산광역시 남구"
    assert {row.key: row.label for row in breakdown(scope, "ksic").rows}["C"] == "C 제조업"
    assert {row.key: row.label for row in breakdown(scope, "institution").rows}[
        world.first.id
    ] == "울산정보산업진흥원"


def test_empty_bands_are_listed_and_other_groups_only_when_present(app_ctx):
    world = build_world()
    scope = dashboard_scope(world.coordinator, today=AS_OF)  # programme C only
    employees = breakdown(scope, "employees")
    assert [row.key for row in employees.rows] == ["1-9", "10-49", "50-99", "100-299", "300plus"]
    assert employees.total == 3
    assert _counts(scope, "institution") == {world.second.id: 3}
