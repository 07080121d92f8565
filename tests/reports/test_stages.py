"""Median days per status and the engagements past their SLA (figures in tests/reports/helpers.py)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
import sqlalchemy as sa

from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.reports.scope import ReportScope, day_number, kst_day
from crm.reports.stages import STAGES, stage_report
from tests.conftest import login
from tests.factories import make_engagement, make_firm, make_programme
from tests.reports.helpers import TODAY, build_world, fixed_today, kst

S = EngagementStatus


@pytest.fixture
def world(app_ctx):
    return build_world()


def _medians(stages):
    return {status: (stat.n, stat.median_days) for status, stat in stages.items()}


def test_kst_day_numbers_match_python(app_ctx):
    late_evening = kst("2026-01-10", "23:30")  # 14:30 UTC, still 10 January in Korea
    just_after_midnight = kst("2026-01-12", "00:30")  # 15:30 UTC on the 11th
    days = db.session.execute(
        sa.select(kst_day(sa.literal(late_evening)), kst_day(sa.literal(just_after_midnight)))
    )
    assert tuple(days.one()) == (day_number(date(2026, 1, 10)), day_number(date(2026, 1, 12)))


def test_columns_are_the_statuses_one_leaves():
    assert (
        S.pending_agreement,
        S.agreed,
        S.in_progress,
        S.final_report,
        S.final_check,
        S.settlement,
        S.closed,
    ) == STAGES


def test_median_days_by_hand(world):
    report = stage_report(ReportScope(world.users["manager"]), TODAY)
    rows = {row.programme.name: row for row in report.rows}
    assert _medians(rows["프로그램 P1"].stages) == {
        S.pending_agreement: (3, 4.0),  # 10, 2 (23:30 → 00:30 two days later), 4
        S.agreed: (3, 10.0),  # e1 still agreed: 03-11 → today = 111; 8; 10
        S.in_progress: (2, 67.5),  # 90, 45
        S.final_report: (1, 20.0),
        S.final_check: (1, 10.0),
        S.settlement: (1, 21.0),
        S.closed: (1, 20.0),  # closed on 06-10, until today
    }
    assert _medians(rows["프로그램 P2"].stages) == {
        S.pending_agreement: (1, 10.0),
        S.agreed: (1, 21.0),
        S.in_progress: (1, 29.0),
    }
    assert rows["프로그램 P3"].stages == {}
    assert _medians(report.overall)[S.pending_agreement] == (4, 7.0)
    assert _medians(report.overall)[S.agreed] == (4, 15.5)
    assert _medians(report.overall)[S.in_progress] == (3, 45.0)
    assert S.terminated not in report.overall


def test_the_current_status_runs_until_today(world):
    later = stage_report(ReportScope(world.users["manager"]), date(2026, 7, 10))
    rows = {row.programme.name: row for row in later.rows}
    assert rows["프로그램 P2"].stages[S.in_progress].median_days == 39.0
    assert rows["프로그램 P1"].stages[S.closed].median_days == 30.0
    # Finished stays do not move.
    assert rows["프로그램 P1"].stages[S.in_progress].median_days == 67.5


def test_scope(world):
    coordinator = stage_report(ReportScope(world.users["coordinator"]), TODAY)
    assert [row.programme.name for row in coordinator.rows] == ["프로그램 P1", "프로그램 P3"]
    assert _medians(coordinator.overall)[S.pending_agreement] == (3, 4.0)
    other = stage_report(ReportScope(world.users["other_manager"]), TODAY)
    assert _medians(other.overall) == {S.pending_agreement: (1, 31.0), S.agreed: (1, 180.0)}


def test_page_in_english_with_the_sla_list(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["manager"].email)
    response = client_en.get("/reports/stages")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Time in stage</h1>" in html and "Median days per status" in html
    assert "67.5 <small" in html and "15.5 <small" in html
    e1, e6 = world.e["e1"], world.e["e6"]
    assert f'href="/engagements/{e1.id}">(주)하나</a>' in html
    assert f'href="/engagements/{e6.id}">(주)여섯</a>' in html
    assert html.index("(주)하나") < html.index("(주)여섯")  # longest in status first
    assert '<span class="badge badge-danger">81</span>' in html  # 111 days, SLA 30
    assert '<span class="badge badge-danger">19</span>' in html  # 29 days, SLA 10
    assert "(주)남의기업" not in html and "(주)둘" not in html
    assert "가 AI 사업단 · Year 1</small>" in html


def test_national_viewer_sees_no_firm_names(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["viewer"].email)
    html = client_en.get(f"/reports/stages?consortium={world.consortium.id}").get_data(as_text=True)
    assert f"#{world.e['e1'].id}" in html and f"#{world.e['e6'].id}" in html
    assert "(주)하나" not in html and "(주)여섯" not in html and "/engagements/" not in html
    rows = list(
        csv.DictReader(
            io.StringIO(client_en.get("/reports/stages?format=csv&list=stuck").get_data().decode("utf-8-sig"))
        )
    )
    assert {row["Engagement"] for row in rows} == {str(world.e["e1"].id), str(world.e["e6"].id)}
    assert all(row["Firm"] == "" for row in rows)


def test_sla_list_paginates(client_en, world, monkeypatch, app):
    fixed_today(monkeypatch)
    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    login(client_en, world.users["manager"].email)
    first = client_en.get("/reports/stages").get_data(as_text=True)
    second = client_en.get("/reports/stages?page=2").get_data(as_text=True)
    assert "(주)하나" in first and "(주)여섯" not in first and "Page 1 of 2" in first
    assert "(주)여섯" in second and "(주)하나" not in second


def test_csv(client_en, world, monkeypatch):
    fixed_today(monkeypatch)
    login(client_en, world.users["manager"].email)
    response = client_en.get("/reports/stages?format=csv")
    assert response.status_code == 200 and response.get_data().startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    p1 = {
        row["Status"]: (row["Stays"], row["Median days"]) for row in rows if row["Programme"] == "프로그램 P1"
    }
    assert p1["In progress"] == ("2", "67.5") and p1["Awaiting agreement"] == ("3", "4.0")
    overall = {row["Status"]: row["Median days"] for row in rows if row["Row type"] == "All programmes"}
    assert overall["Agreed"] == "15.5"

    stuck = client_en.get("/reports/stages?format=csv&list=stuck")
    listed = list(csv.DictReader(io.StringIO(stuck.get_data().decode("utf-8-sig"))))
    assert [
        (row["Firm"], row["Days in status"], row["SLA (days)"], row["Days over the SLA"]) for row in listed
    ] == [
        ("(주)하나", "111", "30", "81"),
        ("(주)여섯", "29", "10", "19"),
    ]
    assert listed[0]["In this status since"] == "2026-03-11"
    assert (listed[0]["Consortium"], listed[0]["Programme year"], listed[0]["Programme"]) == (
        "가 AI 사업단",
        "1",
        "프로그램 P1",
    )


def test_engagement_without_history_counts_nothing(world):
    programme = make_programme(world.year1, world.i1, name="기록 없는 프로그램")
    make_engagement(programme, make_firm(world.consortium), status=S.agreed)
    report = stage_report(ReportScope(world.users["manager"]), TODAY)
    assert {row.programme.name: row.stages for row in report.rows}["기록 없는 프로그램"] == {}
