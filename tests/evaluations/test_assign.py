"""A consortium manager assigns evaluators to a call's applications, and takes them off again."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm.applications.models import Application, ApplicationStatus
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment
from crm.extensions import db
from tests.conftest import login, post_form
from tests.evaluations.helpers import make_world, submitted
from tests.factories import (
    make_application,
    make_call,
    make_evaluator_assignment,
    make_firm,
    make_institution,
    make_programme,
    make_user,
)


def _pairs(call_id: int) -> set[tuple[int, int]]:
    rows = db.session.execute(
        sa.select(EvaluatorAssignment.application_id, EvaluatorAssignment.evaluator_id)
        .join(Application, EvaluatorAssignment.application_id == Application.id)
        .where(Application.call_id == call_id)
    ).tuples()
    return set(rows)


def test_manager_assigns_evaluators_to_applications(client_en):
    world = make_world()
    a1, a2, _ = world.applications
    e1, e2, _ = world.evaluators
    login(client_en, world.manager.email)
    url = f"/calls/{world.call.id}/evaluators"
    page = client_en.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert world.applications[0].firm.name in html and e1.name in html

    response = post_form(client_en, url, {"application_ids": [a1.id, a2.id], "evaluator_ids": [e1.id, e2.id]})
    assert response.status_code == 302
    assert _pairs(world.call.id) == {(a1.id, e1.id), (a1.id, e2.id), (a2.id, e1.id), (a2.id, e2.id)}
    rows = db.session.scalars(sa.select(EvaluatorAssignment)).all()
    assert all(
        r.status is AssignmentStatus.awaiting_declaration and r.assigned_by_id == world.manager.id
        for r in rows
    )
    audits = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.assign")).all()
    assert len(audits) == 4 and all(a.actor_id == world.manager.id for a in audits)

    # Assigning again skips what exists instead of failing or duplicating.
    again = post_form(client_en, url, {"application_ids": [a1.id], "evaluator_ids": [e1.id]})
    assert again.status_code == 302
    assert len(_pairs(world.call.id)) == 4
    listing = client_en.get(url).get_data(as_text=True)
    assert "were skipped" in listing


def test_a_recused_evaluator_is_not_assigned_again(client_en):
    world = make_world()
    application, evaluator = world.applications[0], world.evaluators[0]
    recusal = make_evaluator_assignment(
        application, evaluator, status=AssignmentStatus.recused, conflict_statement="전 직장"
    )
    login(client_en, world.manager.email)
    response = post_form(
        client_en,
        f"/calls/{world.call.id}/evaluators",
        {"application_ids": [application.id], "evaluator_ids": [evaluator.id]},
    )
    assert response.status_code == 302
    rows = db.session.scalars(
        sa.select(EvaluatorAssignment).where(EvaluatorAssignment.application_id == application.id)
    ).all()
    assert [r.id for r in rows] == [recusal.id]
    assert rows[0].status is AssignmentStatus.recused


def test_assignment_needs_a_choice_and_a_stage_under_review(client_en):
    world = make_world(applications=1)
    draft = make_application(world.call, make_firm(), ApplicationStatus.draft)
    selected = make_application(world.call, make_firm(), ApplicationStatus.selected)
    coordinator_user = make_user(Role.coordinator)
    login(client_en, world.manager.email)
    url = f"/calls/{world.call.id}/evaluators"

    empty = post_form(client_en, url, {})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert "Choose at least one application." in html and "Choose at least one evaluator." in html

    decided = post_form(
        client_en, url, {"application_ids": [selected.id], "evaluator_ids": [world.evaluators[0].id]}
    )
    assert decided.status_code == 422
    assert f"{selected.firm.name}: the application is at “Selected”" in decided.get_data(as_text=True)

    wrong_role = post_form(
        client_en,
        url,
        {"application_ids": [world.applications[0].id], "evaluator_ids": [coordinator_user.id]},
    )
    assert wrong_role.status_code == 422
    html = wrong_role.get_data(as_text=True)
    assert f"{coordinator_user.name} is not an active evaluator." in html
    # What was ticked stays ticked.
    ticked = world.applications[0].id
    assert re.search(rf'value="{ticked}" id="application-{ticked}"\s+checked', html)
    assert _pairs(world.call.id) == set()
    # A draft is private to the firm: not even listed.
    assert draft.firm.name not in client_en.get(url).get_data(as_text=True)


def test_a_call_without_criteria_cannot_get_evaluators(client_en):
    world = make_world(applications=1)
    world.call.criteria = []
    db.session.flush()
    login(client_en, world.manager.email)
    url = f"/calls/{world.call.id}/evaluators"
    assert "no evaluation criteria yet" in client_en.get(url).get_data(as_text=True)
    response = post_form(
        client_en,
        url,
        {"application_ids": [world.applications[0].id], "evaluator_ids": [world.evaluators[0].id]},
    )
    assert response.status_code == 422
    assert "Add evaluation criteria to the call" in response.get_data(as_text=True)
    assert _pairs(world.call.id) == set()


def test_a_coordinator_may_not_assign(client_en):
    world = make_world(applications=1)
    coordinator = make_user(Role.coordinator, institution=world.call.programme.institution)
    login(client_en, coordinator.email)
    url = f"/calls/{world.call.id}/evaluators"
    assert client_en.get(url).status_code == 403
    response = post_form(
        client_en,
        url,
        {"application_ids": [world.applications[0].id], "evaluator_ids": [world.evaluators[0].id]},
        page="/account",
    )
    assert response.status_code == 403
    assert _pairs(world.call.id) == set()


def test_a_manager_of_another_consortium_gets_404(client_en):
    world = make_world(applications=1)
    outsider = make_user(Role.consortium_manager)
    login(client_en, outsider.email)
    url = f"/calls/{world.call.id}/evaluators"
    assert client_en.get(url).status_code == 404
    response = post_form(
        client_en,
        url,
        {"application_ids": [world.applications[0].id], "evaluator_ids": [world.evaluators[0].id]},
        page="/account",
    )
    assert response.status_code == 404
    assert _pairs(world.call.id) == set()
    # Nor can it reach another consortium's applications through its own call.
    own_call = make_call(make_programme(institution=make_institution(outsider.consortium)))
    sneaky = post_form(
        client_en,
        f"/calls/{own_call.id}/evaluators",
        {"application_ids": [world.applications[0].id], "evaluator_ids": [world.evaluators[0].id]},
    )
    assert sneaky.status_code == 422
    assert _pairs(world.call.id) == set()


def test_manager_removes_an_assignment_after_confirming(client_en):
    world = make_world(applications=1)
    assignment = make_evaluator_assignment(
        world.applications[0], world.evaluators[0], status=AssignmentStatus.scoring
    )
    assignment_id = assignment.id
    login(client_en, world.manager.email)
    url = f"/evaluator-assignments/{assignment_id}/remove"
    assert world.evaluators[0].name in client_en.get(url).get_data(as_text=True)

    unconfirmed = post_form(client_en, url, {})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the removal." in unconfirmed.get_data(as_text=True)
    assert db.session.get(EvaluatorAssignment, assignment_id) is not None

    response = post_form(client_en, url, {"confirm": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(EvaluatorAssignment, assignment_id) is None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.unassign"))
    assert event.object_id == assignment_id and event.changes["evaluator_id"] == world.evaluators[0].id


def test_submitted_and_recused_assignments_stay(client_en):
    world = make_world(applications=1)
    done = submitted(world.applications[0], world.evaluators[0], 8, 8)
    recused = make_evaluator_assignment(
        world.applications[0], world.evaluators[1], status=AssignmentStatus.recused
    )
    login(client_en, world.manager.email)
    for assignment, message in (
        (done, "already submitted scores"),
        (recused, "declared a conflict of interest"),
    ):
        url = f"/evaluator-assignments/{assignment.id}/remove"
        response = post_form(client_en, url, {"confirm": "y"})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
        assert db.session.get(EvaluatorAssignment, assignment.id) is not None


def test_another_consortiums_manager_cannot_remove(client_en):
    world = make_world(applications=1)
    assignment = make_evaluator_assignment(world.applications[0], world.evaluators[0])
    outsider = make_user(Role.consortium_manager)
    login(client_en, outsider.email)
    assert client_en.get(f"/evaluator-assignments/{assignment.id}/remove").status_code == 404
