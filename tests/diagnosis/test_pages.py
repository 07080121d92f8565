"""The diagnosis pages for staff and for the firm in the portal: start, fill, submit, the result with its
radar chart, reopening, the journey panels, and 404 for what a user may not see."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus
from crm.diagnosis.questionnaire import current_questionnaire
from crm.extensions import db
from crm.programmes.models import Track
from tests.conftest import login, post_form
from tests.diagnosis.helpers import answers_by_dimension, form_data, make_world, submitted_result
from tests.factories import make_consortium, make_diagnosis_result, make_firm, make_institution, make_user


@pytest.fixture
def world(app):
    return make_world()


def _result(firm_id: int, year: int) -> DiagnosisResult | None:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(DiagnosisResult).where(DiagnosisResult.firm_id == firm_id, DiagnosisResult.year == year)
    )


def _this_year() -> int:
    from crm.core.time import today_kst

    return today_kst().year


def test_staff_start_fill_and_submit(client_en, world):
    firm = world.firm
    login(client_en, world.coordinator.email)
    index = client_en.get(f"/firms/{firm.id}/diagnosis")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert "Start this year's diagnosis" in page and "No diagnosis yet." in page

    started = post_form(
        client_en, f"/firms/{firm.id}/diagnosis/start", {}, page=f"/firms/{firm.id}/diagnosis"
    )
    result = _result(firm.id, _this_year())
    assert started.status_code == 302 and started.headers["Location"] == f"/diagnosis/{result.id}/edit"

    form = client_en.get(f"/diagnosis/{result.id}/edit").get_data(as_text=True)
    assert "Management has set clear goals and expected benefits for adopting AI." in form
    assert form.count('type="radio"') == 20 * 5
    assert "1 · Not at all" in form and "5 · Fully" in form
    assert "<legend>" in form and "Infrastructure" in form

    partial = {k: v for k, v in answers_by_dimension(strategy=4).items() if not k.startswith("process")}
    saved = post_form(client_en, f"/diagnosis/{result.id}/edit", form_data(partial, "save"))
    assert saved.status_code == 302 and saved.headers["Location"] == f"/diagnosis/{result.id}/edit"
    assert _result(firm.id, _this_year()).answers["strategy_goals"] == 4
    again = client_en.get(f"/diagnosis/{result.id}/edit").get_data(as_text=True)
    assert re.search(r'<input checked id="q_strategy_goals-3"[^>]*value="4"', again)  # the saved answer shown

    missing = post_form(client_en, f"/diagnosis/{result.id}/edit", form_data(partial, "submit"))
    assert missing.status_code == 422
    text = missing.get_data(as_text=True)
    assert text.count("Answer this question.") == 4  # the four process questions, each under its own
    assert 'id="q_process_kpis-errors"' in text
    assert _result(firm.id, _this_year()).status is DiagnosisStatus.draft

    done = post_form(
        client_en, f"/diagnosis/{result.id}/edit", form_data(answers_by_dimension(strategy=4), "submit")
    )
    assert done.status_code == 302 and done.headers["Location"] == f"/diagnosis/{result.id}"
    stored = _result(firm.id, _this_year())
    assert stored.status is DiagnosisStatus.submitted and stored.overall_score == 55.0

    # the edit page of a submitted diagnosis sends to the result
    assert client_en.get(f"/diagnosis/{result.id}/edit").headers["Location"] == f"/diagnosis/{result.id}"


def test_an_answer_off_the_scale_is_named(client_en, world):
    result = make_diagnosis_result(world.firm, year=_this_year())
    login(client_en, world.manager.email)
    data = form_data({"strategy_goals": 3}, "save") | {"q_data_quality": "9", "q_people_training": "x"}
    response = post_form(client_en, f"/diagnosis/{result.id}/edit", data)
    assert response.status_code == 422
    assert response.get_data(as_text=True).count("Choose an answer from 1 to 5.") == 2
    assert _result(world.firm.id, _this_year()).answers == {}


def test_the_result_page_draws_the_radar_with_last_year_beneath(client_en, world):
    submitted_result(world.firm, 2025, strategy=2, data=2)
    current = submitted_result(world.firm, 2026, strategy=5, data=4)
    login(client_en, world.coordinator.email)
    response = client_en.get(f"/diagnosis/{current.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    svg = re.search(r"<svg[^>]*>", page).group(0)
    assert 'role="img"' in svg
    label = re.search(r'aria-label="([^"]+)"', svg).group(1)
    assert "2026: Strategy 100.0, Data 75.0, Infrastructure 50.0, People 50.0, Process 50.0" in label
    assert "2025: Strategy 25.0, Data 25.0" in label
    assert page.count("<polygon") == 4 + 2  # four rings, last year's and this year's polygons
    assert 'stroke-dasharray="6 4"' in page
    # the same numbers in a table, with the change since last year
    assert re.search(
        r'<th scope="row">Strategy</th>\s*<td class="num">100.0</td>\s*<td class="num">25.0</td>', page
    )
    assert "+75.0" in page
    assert "Expanding" in page and "Validation / PoC" in page  # 65.0 → expanding → validation
    assert "Reopen to correct" in page


def test_a_first_result_has_one_polygon(client_en, world):
    result = submitted_result(world.firm, 2026)
    login(client_en, world.manager.email)
    page = client_en.get(f"/diagnosis/{result.id}").get_data(as_text=True)
    assert page.count("<polygon") == 4 + 1 and "stroke-dasharray" not in page


def test_the_years_page_compares_years(client_en, world):
    submitted_result(world.firm, 2024, strategy=1)
    submitted_result(world.firm, 2025, strategy=3)
    make_diagnosis_result(world.firm, year=_this_year())  # a draft under way
    login(client_en, world.manager.email)
    page = client_en.get(f"/firms/{world.firm.id}/diagnosis").get_data(as_text=True)
    assert "Continue this year's diagnosis" in page
    assert re.search(
        r"<th scope=\"row\">Strategy</th>\s*<td class=\"num\">0.0</td><td class=\"num\">50.0</td>", page
    )


def test_reopen_asks_for_a_reason(client_en, world):
    result = submitted_result(world.firm, 2026)
    login(client_en, world.coordinator.email)
    assert client_en.get(f"/diagnosis/{result.id}/reopen").status_code == 200
    refused = post_form(client_en, f"/diagnosis/{result.id}/reopen", {"reason": ""})
    assert refused.status_code == 422 and "Enter why the diagnosis is reopened." in refused.get_data(
        as_text=True
    )
    assert _result(world.firm.id, 2026).status is DiagnosisStatus.submitted
    done = post_form(client_en, f"/diagnosis/{result.id}/reopen", {"reason": "응답 오류 정정"})
    assert done.status_code == 302 and done.headers["Location"] == f"/diagnosis/{result.id}/edit"
    assert _result(world.firm.id, 2026).status is DiagnosisStatus.draft


def test_the_portal_flow(client_en, world):
    login(client_en, world.firm_user.email)
    index = client_en.get("/portal/diagnosis")
    assert index.status_code == 200 and "Start this year's diagnosis" in index.get_data(as_text=True)
    started = post_form(client_en, "/portal/diagnosis/start", {}, page="/portal/diagnosis")
    result = _result(world.firm.id, _this_year())
    assert started.headers["Location"] == f"/portal/diagnosis/{result.id}/edit"
    assert client_en.get(f"/portal/diagnosis/{result.id}/edit").status_code == 200
    done = post_form(
        client_en, f"/portal/diagnosis/{result.id}/edit", form_data(answers_by_dimension(data=1), "submit")
    )
    assert done.headers["Location"] == f"/portal/diagnosis/{result.id}"
    page = client_en.get(f"/portal/diagnosis/{result.id}").get_data(as_text=True)
    assert 'role="img"' in page and "Reopen" not in page
    assert _result(world.firm.id, _this_year()).filled_by_id == world.firm_user.id
    # starting again shows the submitted one
    again = post_form(client_en, "/portal/diagnosis/start", {}, page="/portal/diagnosis")
    assert again.headers["Location"] == f"/portal/diagnosis/{result.id}"
    # the firm user cannot reach the staff pages
    assert client_en.get(f"/diagnosis/{result.id}").status_code == 403
    assert client_en.get(f"/diagnosis/{result.id}/reopen").status_code == 403


def test_pages_are_korean_by_default(client, world):
    result = submitted_result(world.firm, 2026)
    login(client, world.firm_user.email)
    page = client.get(f"/portal/diagnosis/{result.id}").get_data(as_text=True)
    assert "전략 50.0" in page  # the dimension titles come from the questionnaire data
    draft = make_diagnosis_result(world.firm, year=2025)
    form = client.get(f"/portal/diagnosis/{draft.id}/edit").get_data(as_text=True)
    assert "경영진이 AI 도입 목표와 기대효과를 명확히 정하고 있다." in form and "매우 그렇다" in form


def test_what_a_user_may_not_see_is_404(client, world):
    result = submitted_result(world.firm, 2026)
    stranger = make_user(Role.coordinator, institution=make_institution(make_consortium()))
    login(client, stranger.email)
    for url in (
        f"/firms/{world.firm.id}/diagnosis",
        f"/diagnosis/{result.id}",
        f"/diagnosis/{result.id}/edit",
        f"/diagnosis/{result.id}/reopen",
    ):
        assert client.get(url).status_code == 404, url
    assert (
        post_form(client, f"/diagnosis/{result.id}/reopen", {"reason": "x"}, page="/account").status_code
        == 404
    )
    assert (
        post_form(client, f"/firms/{world.firm.id}/diagnosis/start", {}, page="/account").status_code == 404
    )
    assert _result(world.firm.id, 2026).status is DiagnosisStatus.submitted


def test_another_firms_user_gets_404(client, world):
    result = submitted_result(world.firm, 2026)
    other = make_user(Role.firm_user, firm=make_firm(world.consortium))
    login(client, other.email)
    assert client.get(f"/portal/diagnosis/{result.id}").status_code == 404
    assert client.get(f"/portal/diagnosis/{result.id}/edit").status_code == 404
    response = post_form(
        client, f"/portal/diagnosis/{result.id}/edit", form_data({}, "save"), page="/account"
    )
    assert response.status_code == 404
    # their own index lists nothing of the other firm
    assert f"/portal/diagnosis/{result.id}" not in client.get("/portal/diagnosis").get_data(as_text=True)


def test_a_portal_account_waiting_for_its_firm_is_sent_home(client, app):
    waiting = make_user(Role.firm_user, firm=None)
    login(client, waiting.email)
    response = client.get("/portal/diagnosis")
    assert response.status_code == 302 and response.headers["Location"] == "/portal"


def test_the_firm_page_shows_the_journey(client_en, world):
    from datetime import date

    from crm.engagements.models import EngagementStatus
    from tests.factories import make_engagement, make_programme, make_programme_year

    year = make_programme_year(world.consortium, starts_on=date(2026, 4, 1), ends_on=date(2027, 3, 31))
    programme = make_programme(year, world.institution, track=Track.adoption, name="AI 솔루션 도입 2026")
    make_engagement(programme, world.firm, status=EngagementStatus.in_progress)
    submitted_result(world.firm, 2025, track=Track.validation)
    login(client_en, world.coordinator.email)
    page = client_en.get(f"/firms/{world.firm.id}").get_data(as_text=True)
    assert '<section id="journey"' in page
    journey = page[page.index('<section id="journey"') :]
    assert journey.index("2025") < journey.index("2026")
    assert "AI 솔루션 도입 2026" in journey
    assert re.search(r"Current stage</dt>\s*<dd><strong>AI solution adoption</strong>", journey)
    assert re.search(r"Recommended next track</dt>\s*<dd><strong>Validation / PoC</strong>", journey)


def test_the_portal_home_shows_the_panel(client_en, world):
    submitted_result(world.firm, 2025)
    login(client_en, world.firm_user.email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "AI readiness and journey" in page and "Latest diagnosis: 2025" in page


def test_questionnaire_version_is_recorded(world):
    assert current_questionnaire().version == "2026.1"
