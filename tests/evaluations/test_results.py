"""Results appear when all scores are in; the ranking orders by the per-evaluator normalised mean."""

from __future__ import annotations

import re

import pytest

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role
from crm.evaluations import operations
from crm.evaluations.models import AssignmentStatus
from tests.conftest import login
from tests.evaluations.helpers import make_world, submitted
from tests.factories import (
    make_application,
    make_evaluator_assignment,
    make_firm,
    make_institution,
    make_user,
)


def test_results_appear_only_when_every_evaluator_has_submitted(app_ctx):
    world = make_world(applications=1, evaluators=2)
    application = world.applications[0]
    first, second = world.evaluators
    assert operations.results_for_application(application) is None  # nobody assigned

    submitted(application, first, 9, 7, comment="우수")  # 6 × 9 + 4 × 7 = 82
    pending = make_evaluator_assignment(application, second, status=AssignmentStatus.scoring)
    assert operations.results_for_application(application) is None

    operations.submit_scores(pending, {"feasibility": 6, "impact": 4}, "보통", second, pending.version)  # 52
    result = operations.results_for_application(application)
    assert result is not None
    assert result.mean_raw == pytest.approx(67)
    assert result.mean_z == 0  # each evaluator scored one application: no spread to compare against
    assert {e.evaluator.id: e.total for e in result.evaluations} == pytest.approx(
        {first.id: 82, second.id: 52}
    )
    assert {e.comment for e in result.evaluations} == {"우수", "보통"}


def _lenient_and_harsh_panel():
    """The hand-computed example of test_scoring, through the database (total = 6 × feasibility + 4 × impact):
    lenient L: A 90, B 86; harsh H: B 60, C 70; middle M: A 70, C 80.
    Raw means A 80 > C 75 > B 73; z-means C +1 > A 0 > B −1."""
    world = make_world(applications=3, evaluators=3)
    a, b, c = world.applications
    lenient, harsh, middle = world.evaluators
    submitted(a, lenient, 9, 9)
    submitted(b, lenient, 9, 8)
    submitted(b, harsh, 6, 6)
    submitted(c, harsh, 7, 7)
    submitted(a, middle, 7, 7)
    submitted(c, middle, 8, 8)
    return world


def test_ranking_orders_by_mean_z_not_by_raw_totals(app_ctx):
    world = _lenient_and_harsh_panel()
    a, b, c = world.applications
    rows = operations.ranking_for_call(world.call)
    assert [row.application.id for row in rows] == [c.id, a.id, b.id]
    assert [row.rank for row in rows] == [1, 2, 3]
    by_id = {row.application.id: row.result for row in rows}
    assert by_id[a.id].mean_raw == pytest.approx(80) and by_id[a.id].mean_z == pytest.approx(0)
    assert by_id[b.id].mean_raw == pytest.approx(73) and by_id[b.id].mean_z == pytest.approx(-1)
    assert by_id[c.id].mean_raw == pytest.approx(75) and by_id[c.id].mean_z == pytest.approx(1)
    # The lenient evaluator's favourite has the best raw mean, and still does not win.
    assert max(by_id, key=lambda i: by_id[i].mean_raw) == a.id


def test_incomplete_applications_follow_with_their_progress(client_en):
    world = _lenient_and_harsh_panel()
    a, b, c = world.applications
    waiting = make_application(world.call, make_firm(), ApplicationStatus.presentation)
    submitted(waiting, world.evaluators[0], 5, 5)
    make_evaluator_assignment(waiting, world.evaluators[1], status=AssignmentStatus.scoring)
    make_evaluator_assignment(waiting, world.evaluators[2], status=AssignmentStatus.recused)
    unassigned = make_application(world.call, make_firm(), ApplicationStatus.document_review)
    make_application(world.call, make_firm(), ApplicationStatus.draft)  # not in review: not ranked

    rows = operations.ranking_for_call(world.call)
    assert [row.application.id for row in rows] == [c.id, a.id, b.id, waiting.id, unassigned.id]
    assert (rows[3].submitted, rows[3].expected, rows[3].rank) == (1, 2, None)

    login(client_en, world.manager.email)
    response = client_en.get(f"/calls/{world.call.id}/ranking")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    positions = [html.index(f'id="application-row-{app.id}"') for app in (c, a, b, waiting, unassigned)]
    assert positions == sorted(positions)
    assert "1/2 scores in" in html and "No evaluators assigned" in html
    assert "80.00" in html  # A's raw mean; z values move as the waiting application's scores calibrate L
    assert world.evaluators[0].name in html  # evaluators shown by name to staff
    assert "3 of 5 applications have all their scores in." in html


def test_coordinators_see_the_ranking_of_their_own_institution_only(client_en):
    world = _lenient_and_harsh_panel()
    url = f"/calls/{world.call.id}/ranking"
    own = make_user(Role.coordinator, institution=world.call.programme.institution)
    login(client_en, own.email)
    assert client_en.get(url).status_code == 200

    for outsider in (
        make_user(
            Role.coordinator, institution=make_institution(world.manager.consortium)
        ),  # same consortium
        make_user(Role.coordinator),  # another consortium
        make_user(Role.consortium_manager),
    ):
        browser = client_en.application.test_client()
        browser.set_cookie("lang", "en")
        login(browser, outsider.email)
        assert browser.get(url).status_code == 404, outsider.role


def test_the_bulk_decision_form_appears_only_with_its_route(client_en, app):
    world = _lenient_and_harsh_panel()
    login(client_en, world.manager.email)
    html = client_en.get(f"/calls/{world.call.id}/ranking").get_data(as_text=True)
    if "applications.bulk_decide" in app.view_functions:
        assert 'name="decision"' in html and 'name="application_ids"' in html
        assert 'name="confirm_over_capacity" value="y"' in html
        for status in (ApplicationStatus.selected, ApplicationStatus.reserve, ApplicationStatus.rejected):
            assert f'value="{status.value}"' in html
    else:
        assert 'name="decision"' not in html


def test_the_results_partial_renders_a_result_and_its_absence(app):
    from flask import render_template_string

    world = _lenient_and_harsh_panel()
    a = world.applications[0]
    template = '{% include "evaluations/_results.html" %}'
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        html = render_template_string(template, evaluation_result=operations.results_for_application(a))
        assert "80.00" in html and "+0.000" in html and world.evaluators[0].name in html
        empty = render_template_string(template, evaluation_result=None)
        assert "Results appear once every assigned evaluator has submitted scores." in empty


def test_every_page_renders_in_the_default_korean_ui(client):
    world = _lenient_and_harsh_panel()
    pending = make_evaluator_assignment(world.applications[0], make_user(Role.evaluator))
    login(client, world.manager.email)
    for url in (
        f"/calls/{world.call.id}",
        f"/calls/{world.call.id}/evaluators",
        f"/calls/{world.call.id}/ranking",
        f"/evaluator-assignments/{pending.id}/remove",
    ):
        assert client.get(url).status_code == 200, url
    evaluator_browser = client.application.test_client()
    login(evaluator_browser, pending.evaluator.email)
    assert evaluator_browser.get("/evaluations").status_code == 200
    assert evaluator_browser.get(f"/evaluations/{pending.id}").status_code == 200


def test_the_ranking_paginates_and_keeps_the_rank_numbers(client_en, app, monkeypatch):
    world = _lenient_and_harsh_panel()
    a, b, c = world.applications
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    login(client_en, world.manager.email)
    first = client_en.get(f"/calls/{world.call.id}/ranking").get_data(as_text=True)
    second = client_en.get(f"/calls/{world.call.id}/ranking?page=2").get_data(as_text=True)
    assert f'id="application-row-{c.id}"' in first and f'id="application-row-{a.id}"' in first
    assert f'id="application-row-{b.id}"' not in first
    assert f'id="application-row-{b.id}"' in second and "Page 2 of 2" in second
    assert re.search(
        rf'id="application-row-{b.id}">\s*(<td>.*?</td>\s*)?<td class="num">3</td>', second, re.S
    )
