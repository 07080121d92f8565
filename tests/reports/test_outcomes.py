"""KPI actuals against baselines and the survey response rate (figures in tests/reports/helpers.py)."""

from __future__ import annotations

import csv
import io

import pytest

from crm.reports.outcomes import indicator_key, outcome_report
from crm.reports.scope import ReportScope
from tests.conftest import login
from tests.reports.helpers import TODAY, build_world, fixed_today


@pytest.fixture
def world(app_ctx):
    return build_world()


def _stats(stat):
    return (stat.n, round(stat.mean, 4), round(stat.median, 4))


def test_indicator_names_are_matched_loosely():
    assert indicator_key("매출액") == indicator_key(" 매 출 ") == indicator_key("Revenue") == "revenue"
    assert indicator_key("상시근로자 수") == "employment" and indicator_key("불량율") == "defect_rate"
    assert indicator_key("원가") is None and indicator_key("납기준수율") is None


def test_kpi_statistics_by_hand(world):
    report = outcome_report(ReportScope(world.users["manager"]), TODAY)
    rows = {row.programme.name: row for row in report.rows}
    p1 = rows["프로그램 P1"].stats
    assert set(p1) == {"revenue", "employment", "productivity", "defect_rate"}
    assert _stats(p1["revenue"]) == (3, 28.3333, 20.0)
    assert _stats(p1["employment"]) == (3, 2.6667, 3.0)
    assert _stats(p1["productivity"]) == (2, 17.5, 17.5)
    assert _stats(p1["defect_rate"]) == (3, 0.7667, 0.8)
    assert _stats(rows["프로그램 P2"].stats["revenue"]) == (1, 50.0, 50.0)
    assert rows["프로그램 P3"].stats == {}
    # Across the consortium: 20, 5, 60, 50 (the other consortium's 900 % stays out).
    assert _stats(report.overall["revenue"]) == (4, 33.75, 35.0)
    assert report.overall["employment"].n == 3


def test_survey_response_rate(world):
    report = outcome_report(ReportScope(world.users["manager"]), TODAY)
    rows = {row.programme.name: row for row in report.rows}
    p1 = rows["프로그램 P1"].surveys
    assert (p1.due, p1.submitted, p1.percent) == (3, 2, 66.7)
    assert rows["프로그램 P2"].surveys.percent is None
    assert (report.surveys.due, report.surveys.submitted) == (3, 2)
    # A day earlier round 2 (due 06-30) is not due yet: 2 of 2.
    earlier = outcome_report(ReportScope(world.users["manager"]), TODAY.replace(day=29))
    assert {row.programme.name: row.surveys.percent for row in earlier.rows}["프로그램 P1"] == 100.0


def test_scope(world):
    viewer = outcome_report(ReportScope(world.users["viewer"], consortium_id=world.other.id), TODAY)
    assert [row.programme.name for row in viewer.rows] == ["다른 사업단 프로그램"]
    assert _stats(viewer.overall["revenue"]) == (1, 900.0, 900.0)
    assert (viewer.surveys.due, viewer.surveys.submitted) == (1, 0)
    coordinator = outcome_report(ReportScope(world.users["coordinator"]), TODAY)
    assert [row.programme.name for row in coordinator.rows] == ["프로그램 P1", "프로그램 P3"]
    assert _stats(coordinator.overall["revenue"]) == (3, 28.3333, 20.0)


def test_page_in_english(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["manager"].email)
    response = client_en.get("/reports/outcomes")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Outcomes</h1>" in html and "KPI actuals against baselines" in html
    assert "28.3%" in html and "20.0%" in html and "0.8%p" in html and "2 / 3" in html and "66.7%" in html
    assert "33.8%" in html and "35.0%" in html  # all programmes
    assert "다른 사업단 프로그램" not in html and "900.0%" not in html


def test_national_viewer_sees_every_consortium(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["viewer"].email)
    html = client_en.get("/reports/outcomes").get_data(as_text=True)
    assert "다른 사업단 프로그램" in html and "프로그램 P1" in html and "900.0%" in html
    assert client_en.get("/reports/outcomes?consortium=999999").status_code == 404


def test_csv(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["manager"].email)
    response = client_en.get(f"/reports/outcomes?format=csv&consortium={world.consortium.id}&year=1")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [row["Programme"] for row in rows] == ["프로그램 P1", "프로그램 P2", ""]
    p1, p2, total = rows
    assert (p1["Revenue (매출): n"], p1["Revenue (매출): mean"], p1["Revenue (매출): median"]) == (
        "3",
        "28.3",
        "20.0",
    )
    assert p1["Defect rate (불량률): median"] == "0.8" and p1["Employment (고용): mean"] == "2.7"
    assert (p1["Survey rounds due"], p1["Survey rounds submitted"], p1["Response rate (%)"]) == (
        "3",
        "2",
        "66.7",
    )
    assert p2["Productivity (생산성): n"] == "0" and p2["Productivity (생산성): mean"] == ""
    assert total["Row type"] == "All programmes" and total["Revenue (매출): n"] == "4"
    assert total["Revenue (매출): median"] == "35.0"
