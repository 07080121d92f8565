"""The call form takes the evaluation criteria as lines `key | label | weight | max score`."""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import Role
from crm.evaluations.models import AssignmentStatus
from crm.extensions import db
from crm.programmes.models import Call
from crm.programmes.operations import parse_criteria
from tests.conftest import login, post_form
from tests.evaluations.helpers import make_world
from tests.factories import (
    make_evaluator_assignment,
    make_institution,
    make_programme,
    make_programme_year,
    make_score,
    make_user,
)


def _call_form(**overrides: str) -> dict:
    return {
        "title": "2026년 AI 솔루션 도입 지원사업 1차 모집",
        "cohort": "2026-1차",
        "opens_at": "2026-03-02T09:00",
        "closes_at": "2026-03-20T18:00",
        "capacity": "20",
        "eligibility_text": "",
        "required_documents": "business_plan | 사업계획서",
        "questions": "goal | 도입 목표 | required",
        "criteria": "feasibility | 실현가능성 | 60 | 10\nimpact | 기대효과 | 40 | 7.5",
        **overrides,
    }


def test_parse_criteria_line_by_line():
    criteria, errors = parse_criteria("feasibility | 실현가능성 | 60 | 10\n\nimpact | 기대효과 | 40 | 7.5\n")
    assert errors == []
    assert criteria == [
        {"key": "feasibility", "label": "실현가능성", "weight": 60, "max_score": 10},
        {"key": "impact", "label": "기대효과", "weight": 40, "max_score": 7.5},
    ]
    _, errors = parse_criteria(
        "Feasibility | 실현 | 60 | 10\n"
        "impact |  | 0 | 10\n"
        "impact | 효과 | 1.5 | -1\n"
        "team | 역량 | 10\n"
        "plan | 계획 | 10 | 5000"
    )
    messages = [str(e) for e in errors]
    assert "Line 1: the key “Feasibility” may use only a–z, 0–9 and _." in messages
    assert "Line 2: the label is missing." in messages
    assert "Line 2: the weight “0” must be a whole number above 0." in messages
    assert "Line 3: “impact” is already used on line 2." in messages
    assert "Line 3: the weight “1.5” must be a whole number above 0." in messages
    assert "Line 3: the max score “-1” must be a number above 0 and at most 1,000." in messages
    assert "Line 4: write four parts: key | label | weight | max score." in messages
    assert "Line 5: the max score “5000” must be a number above 0 and at most 1,000." in messages


def test_manager_enters_criteria_on_the_call_form(client_en):
    manager = make_user(Role.consortium_manager)
    programme = make_programme(make_programme_year(manager.consortium))
    login(client_en, manager.email)
    response = post_form(client_en, f"/programmes/{programme.id}/calls/new", _call_form())
    assert response.status_code == 302
    call = db.session.scalar(sa.select(Call).where(Call.programme_id == programme.id))
    assert call.criteria[1] == {"key": "impact", "label": "기대효과", "weight": 40, "max_score": 7.5}
    edit = client_en.get(f"/calls/{call.id}/edit").get_data(as_text=True)
    assert "feasibility | 실현가능성 | 60 | 10\nimpact | 기대효과 | 40 | 7.5</textarea>" in edit
    page = client_en.get(f"/calls/{call.id}").get_data(as_text=True)
    assert "Evaluation criteria" in page and "기대효과" in page
    assert f"/calls/{call.id}/evaluators" in page and f"/calls/{call.id}/ranking" in page


def test_bad_criteria_are_refused_and_kept(client_en):
    admin = make_user(Role.admin)
    programme = make_programme()
    login(client_en, admin.email)
    typed = "feasibility | 실현가능성 | sixty | 10"
    response = post_form(client_en, f"/programmes/{programme.id}/calls/new", _call_form(criteria=typed))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Line 1: the weight “sixty” must be a whole number above 0." in html
    assert typed in html
    assert db.session.scalar(sa.select(Call).where(Call.programme_id == programme.id)) is None


def test_criteria_cannot_change_once_scores_exist(client_en):
    world = make_world(applications=1, evaluators=1)
    assignment = make_evaluator_assignment(
        world.applications[0], world.evaluators[0], status=AssignmentStatus.scoring
    )
    make_score(assignment, criterion_key="feasibility", value=5)
    login(client_en, world.manager.email)
    url = f"/calls/{world.call.id}/edit"
    response = post_form(
        client_en, url, _call_form(criteria="feasibility | 실현가능성 | 50 | 10\nimpact | 기대효과 | 50 | 10")
    )
    assert response.status_code == 422
    assert "criteria can no longer change" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Call, world.call.id).criteria[0]["weight"] == 60
    # Other fields still save while the criteria stay as they are.
    same = "feasibility | 실현가능성 | 60 | 10\nimpact | 기대효과 | 40 | 10"
    assert post_form(client_en, url, _call_form(criteria=same, capacity="12")).status_code == 302
    db.session.expire_all()
    assert db.session.get(Call, world.call.id).capacity == 12


def test_the_call_page_links_by_role(client_en):
    world = make_world(applications=0, evaluators=0)
    call_url = f"/calls/{world.call.id}"
    own = make_user(Role.coordinator, institution=world.call.programme.institution)
    login(client_en, own.email)
    html = client_en.get(call_url).get_data(as_text=True)
    assert f"{call_url}/ranking" in html and f"{call_url}/evaluators" not in html

    other = make_user(Role.coordinator, institution=make_institution(world.manager.consortium))
    browser = client_en.application.test_client()
    browser.set_cookie("lang", "en")
    login(browser, other.email)
    html = browser.get(call_url).get_data(as_text=True)
    assert f"{call_url}/ranking" not in html and f"{call_url}/evaluators" not in html
