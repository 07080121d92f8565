"""Role journeys in headless Chromium against the demo data, once in Korean and once in English.

Each journey asserts what a person would see (headings, data, D-N labels) and saves screenshots of its key
pages under tests/artifacts/ as `<journey>-<page>-<lang>.png`.
"""

from __future__ import annotations

import re

import pytest

from crm.firms.identifiers import hangul_initials
from tests.browser.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser

DEMO_FIRM = "(주)울산스마트팩토리"
DUE_MILESTONE = "중간 실적보고서 제출"  # the demo firm users' report, due in 5 days (crm/demo/engagements.py)

TEXT = {
    "ko": {
        "dashboard": "대시보드",
        "at_risk": "미달 위험 세부사업",
        "due": "제출·이행할 사항",
        "milestones": "주요 일정",
        "engagements": "지원과제",
        "risk_badge": "미달 위험",
        "export": "실적 보고서 내려받기 (Excel)",
    },
    "en": {
        "dashboard": "Dashboard",
        "at_risk": "Programmes at risk",
        "due": "What is due",
        "milestones": "Milestones",
        "engagements": "Engagements",
        "risk_badge": "At risk",
        "export": "Download the report (Excel)",
    },
}


@pytest.fixture(params=["ko", "en"])
def lang(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tab(lang: str, page, page_en):
    """A signed-out browser tab whose Accept-Language asks for `lang`."""
    return page if lang == "ko" else page_en


def _main(tab) -> str:
    return tab.inner_text("main")


def test_national_viewer_sees_aggregates_but_no_personal_data(tab, lang: str) -> None:
    sign_in(tab, "viewer@example.com")
    assert tab.url.endswith("/dashboard")
    assert tab.locator("h1").first.inner_text() == TEXT[lang]["dashboard"]
    text = _main(tab)
    assert TEXT[lang]["at_risk"] in text
    assert "울산 AI 사업단" in text and "AI 솔루션 도입" in text  # per-programme aggregates
    # Aggregates only: no drill-down from the dashboard to lists of firms.
    assert tab.locator("main a[href*='/dashboard/programmes/']").count() == 0
    screenshot(tab, f"viewer-dashboard-{lang}")

    for path in ("/firms", "/firms/1", "/engagements", "/engagements/1", "/notices", "/milestones"):
        response = tab.goto(path)
        assert response is not None and response.status in (403, 404), (path, response and response.status)
        assert DEMO_FIRM not in tab.content(), path
    screenshot(tab, f"viewer-forbidden-{lang}")


def test_coordinator_finds_a_firm_by_initials_and_works_the_cases(tab, lang: str) -> None:
    sign_in(tab, "coordinator@example.com")
    tab.goto("/firms")
    tab.fill("main form[role=search] input[name=q]", "ㅇㅅ")
    with tab.expect_navigation():
        tab.click("main form[role=search] button[type=submit]")
    assert "q=" in tab.url
    names = tab.locator("main table tbody tr td:first-child a").all_inner_texts()
    assert names, _main(tab)[:500]
    for name in names:
        assert "ㅇㅅ" in hangul_initials(name), name
    screenshot(tab, f"coordinator-firm-search-{lang}")

    with tab.expect_navigation():
        tab.locator("main table tbody tr td:first-child a").first.click()
    assert re.search(r"/firms/\d+$", tab.url)
    assert names[0] in tab.locator("h1").first.inner_text()
    screenshot(tab, f"coordinator-firm-{lang}")

    tab.goto("/engagements")
    assert tab.locator("h1").first.inner_text().startswith(TEXT[lang]["engagements"])
    first = tab.locator("main table tbody a[href*='/engagements/']").first
    firm_name = first.inner_text()
    with tab.expect_navigation():
        first.click()
    assert re.search(r"/engagements/\d+$", tab.url)
    assert tab.locator("h1").first.inner_text().startswith(firm_name)
    screenshot(tab, f"coordinator-engagement-{lang}")

    tab.goto("/milestones")
    assert tab.locator("h1").first.inner_text() == TEXT[lang]["milestones"]
    assert tab.locator("main table tbody tr").count() > 0
    screenshot(tab, f"coordinator-milestones-{lang}")


def test_firm_user_sees_what_is_due_with_d_minus_5(tab, lang: str) -> None:
    sign_in(tab, "firm@example.com")
    assert tab.url.endswith("/portal")
    assert tab.locator("h1").first.inner_text() == DEMO_FIRM
    due = tab.locator("main section", has_text=TEXT[lang]["due"]).last
    due_text = due.inner_text()
    assert DUE_MILESTONE in due_text and "D-5" in due_text, due_text
    screenshot(tab, f"firm-portal-{lang}")

    tab.goto("/portal/engagements")
    with tab.expect_navigation():
        tab.locator("main table a[href*='/portal/engagements/']").first.click()
    assert re.search(r"/portal/engagements/\d+$", tab.url)
    row = tab.locator("main tr", has_text=DUE_MILESTONE).first
    assert "D-5" in row.inner_text(), row.inner_text()
    screenshot(tab, f"firm-engagement-{lang}")


def test_manager_drills_down_from_the_dashboard(tab, lang: str) -> None:
    sign_in(tab, "manager@example.com")  # two-step sign-in is off on the browser tests' server
    assert tab.url.endswith("/dashboard")
    assert TEXT[lang]["at_risk"] in _main(tab)
    screenshot(tab, f"manager-dashboard-{lang}")

    row = tab.locator("main table tbody tr", has_text="AI 솔루션 도입").first
    drill = row.locator("a[href*='stage=agreed']")
    agreed = int(drill.inner_text())
    with tab.expect_navigation():
        drill.click()
    assert re.search(r"/dashboard/programmes/\d+/counted\?stage=agreed$", tab.url)
    firms = tab.locator("main table tbody a[href*='/engagements/']")
    assert firms.count() == agreed, _main(tab)[:800]
    screenshot(tab, f"manager-drilldown-{lang}")


def test_manager_sees_an_at_risk_programme_and_exports_the_xlsx(tab, lang: str, tmp_path) -> None:
    from openpyxl import load_workbook

    sign_in(tab, "manager@example.com")
    at_risk = tab.locator("main table tbody tr", has=tab.locator("span.badge-danger"))
    assert at_risk.count() >= 1, _main(tab)[:1500]
    assert TEXT[lang]["risk_badge"] in at_risk.first.inner_text()
    programme = at_risk.first.locator("th").first.inner_text().split("\n")[0].strip()

    with tab.expect_download() as download_info:
        tab.get_by_role("link", name=TEXT[lang]["export"]).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    workbook = load_workbook(path, read_only=True)
    cells = [
        str(cell)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
    ]
    assert any(programme in cell for cell in cells), (programme, cells[:40])
