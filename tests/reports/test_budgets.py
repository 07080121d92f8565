"""Budgets vs committed vs spent, the split check, year totals and scope (figures in helpers.py)."""

from __future__ import annotations

import csv
import io

import pytest

from crm.reports.budgets import Amounts, budget_report, split_check
from crm.reports.scope import ReportScope
from tests.conftest import login
from tests.reports.helpers import M, build_world


@pytest.fixture
def world(app_ctx):
    return build_world()


def _rows(report):
    return {row.programme.name: row for row in report.rows}


def test_programme_figures_by_hand(world):
    report = budget_report(ReportScope(world.users["manager"]))
    rows = _rows(report)
    assert set(rows) == {"프로그램 P1", "프로그램 P2", "프로그램 P3"}

    p1 = rows["프로그램 P1"]
    assert p1.budget == Amounts(600 * M, 300 * M, 100 * M)
    assert p1.committed == Amounts(80 * M, 40 * M, 16 * M) and p1.committed.total == 136 * M
    assert p1.remaining == Amounts(520 * M, 260 * M, 84 * M)
    assert (p1.spent_krw, p1.settled_count, p1.committed_count) == (67 * M, 2, 3)
    assert p1.budget_split.ok is True and (p1.budget_split.gov_percent, p1.budget_split.local_percent) == (
        60,
        30,
    )
    assert p1.committed_split.ok is True
    assert (p1.committed_split.gov_percent, p1.committed_split.local_percent) == (58.8, 29.4)

    p2 = rows["프로그램 P2"]
    assert p2.committed == Amounts(70 * M, 10 * M, 20 * M)
    assert p2.spent_krw == 0 and p2.settled_count == 0 and p2.committed_count == 1
    assert p2.budget_split.ok is False and len(p2.budget_split.problems) == 2
    assert p2.committed_split.ok is False and len(p2.committed_split.problems) == 2

    p3 = rows["프로그램 P3"]
    assert p3.committed == Amounts() and p3.committed_split.ok is None and p3.budget_split.ok is True


def test_year_rows_sum_their_programmes(world):
    report = budget_report(ReportScope(world.users["manager"]))
    assert [(year.consortium, year.ordinal) for year in report.years] == [
        ("가 AI 사업단", 1),
        ("가 AI 사업단", 2),
    ]
    year1 = report.years[0]
    assert [row.programme.name for row in year1.rows] == ["프로그램 P1", "프로그램 P2"]
    assert year1.budget == Amounts(1_300 * M, 400 * M, 300 * M)
    assert year1.committed == Amounts(150 * M, 50 * M, 36 * M)
    assert year1.remaining == Amounts(1_150 * M, 350 * M, 264 * M)
    assert year1.spent_krw == 67 * M and year1.settled_count == 2 and year1.committed_count == 4
    # 국비 65 % of the budget and 63.6 % of the committed amounts; 지방비 exactly 20 % and 21.2 %.
    assert year1.budget_split.ok is False and year1.budget_split.gov_percent == 65.0
    assert len(year1.budget_split.problems) == 1 and year1.budget_split.local_percent == 20.0
    assert year1.committed_split.ok is False and year1.committed_split.gov_percent == 63.6
    assert year1.committed_split.local_percent == 21.2
    assert year1.year_budget.total == 4_000 * M and year1.unallocated.total == 2_000 * M
    # Every year row is the sum of its programme rows, source by source.
    for year in report.years:
        for attribute in ("budget", "committed"):
            expected = sum((getattr(row, attribute) for row in year.rows), Amounts())
            assert getattr(year, attribute) == expected
        assert year.spent_krw == sum(row.spent_krw for row in year.rows)


def test_split_check_in_words(english):
    assert split_check(Amounts(60, 20, 20)).ok is True  # on both limits
    assert split_check(Amounts(0, 0, 0)).verdict == "No amounts to check"
    verdict = split_check(Amounts(6001, 2000, 1999)).verdict
    assert verdict.startswith(
        "Violation: National funds (국비) may be at most 60% of the total (now 60.01%)."
    )
    low_local = split_check(Amounts(50, 19, 31))
    assert low_local.ok is False and "Local funds (지방비) must be at least 20% of the total (now 19" in (
        low_local.verdict
    )
    assert split_check(Amounts(60, 30, 10)).verdict.startswith("OK")


def test_scope_per_role(world):
    names = {role: set(_rows(budget_report(ReportScope(user)))) for role, user in world.users.items()}
    assert names["manager"] == {"프로그램 P1", "프로그램 P2", "프로그램 P3"}
    assert names["other_manager"] == {"다른 사업단 프로그램"}
    # A coordinator gets its own institution's programmes, not its whole consortium's.
    assert names["coordinator"] == {"프로그램 P1", "프로그램 P3"}
    assert names["viewer"] >= {"프로그램 P1", "프로그램 P2", "프로그램 P3", "다른 사업단 프로그램"}
    assert names["admin"] == names["viewer"]
    viewer = world.users["viewer"]
    only_other = budget_report(ReportScope(viewer, consortium_id=world.other.id))
    assert [row.programme.name for row in only_other.rows] == ["다른 사업단 프로그램"]
    assert only_other.rows[0].committed == Amounts(9 * M, 3 * M, 3 * M)
    year2 = budget_report(ReportScope(world.users["manager"], ordinal=2))
    assert [row.programme.name for row in year2.rows] == ["프로그램 P3"]


def test_page_in_english(client_en, world):
    login(client_en, world.users["manager"].email)
    response = client_en.get("/reports/budgets")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Budgets</h1>" in html and "Spent (public funds settled)" in html
    assert "₩136,000,000" in html and "₩67,000,000" in html and "2 settled of 3 committed" in html
    assert "₩520,000,000" in html and "Year total" in html and "₩236,000,000" in html
    assert '<span class="badge badge-ok">OK</span>' in html
    assert '<span class="badge badge-danger">Violation</span>' in html
    assert "National funds (국비) may be at most 60% of the total (now 70.0%)." in html
    assert "Budget set for the programme year" in html and "다른 사업단 프로그램" not in html


def test_coordinator_page_has_no_year_budget(client_en, world):
    login(client_en, world.users["coordinator"].email)
    html = client_en.get("/reports/budgets").get_data(as_text=True)
    assert "프로그램 P1" in html and "프로그램 P2" not in html
    assert "Only the programmes of your institution are included." in html
    assert "Budget set for the programme year" not in html


def test_other_consortium_filter_is_404(client_en, world):
    login(client_en, world.users["manager"].email)
    assert client_en.get(f"/reports/budgets?consortium={world.other.id}").status_code == 404
    assert client_en.get("/reports/budgets?year=9").status_code == 404
    assert client_en.get(f"/reports/budgets?consortium={world.consortium.id}&year=2").status_code == 200


def test_csv(client_en, world):
    login(client_en, world.users["manager"].email)
    response = client_en.get("/reports/budgets?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="budgets-')
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    by_name = {row["Programme"]: row for row in rows if row["Row type"] == "Programme"}
    p1 = by_name["프로그램 P1"]
    assert p1["Budget 국비"] == "600000000" and p1["Committed total"] == "136000000"
    assert p1["Committed 자부담"] == "16000000" and p1["Remaining 지방비"] == "260000000"
    assert p1["Spent (public funds settled)"] == "67000000" and p1["Settled engagements"] == "2"
    assert p1["Split check of the committed amounts"].startswith("OK")
    assert by_name["프로그램 P2"]["Split check of the budget"].startswith("Violation")
    years = [row for row in rows if row["Row type"] == "Programme year"]
    assert [(row["Programme year"], row["Committed total"]) for row in years] == [
        ("1", "236000000"),
        ("2", "0"),
    ]
    assert years[0]["Committed 국비"] == str(
        sum(
            int(row["Committed 국비"])
            for row in rows
            if row["Row type"] == "Programme" and row["Programme year"] == "1"
        )
    )
