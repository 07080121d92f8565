"""An evaluator sees only its own assignments, declares before reading, never sees contact details, and
scores the call's criteria."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from crm.applications.models import Application, ApplicationStatus
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation
from crm.evaluations import operations
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment, Score
from crm.extensions import db
from tests.conftest import login, post_form
from tests.evaluations.helpers import make_world
from tests.factories import make_contact, make_document, make_evaluator_assignment, make_user

ANSWER = "사출 불량 검출 자동화 — 고유답변XYZ"


def _assignment(status: AssignmentStatus = AssignmentStatus.awaiting_declaration):
    world = make_world(applications=1, evaluators=2)
    application = world.applications[0]
    application.answers = {"goal": ANSWER}
    db.session.flush()
    assignment = make_evaluator_assignment(application, world.evaluators[0], status=status)
    return world, assignment


def _visible_ids(user) -> set[int]:
    return set(db.session.scalars(sa.select(Application.id).where(Application.visible_to(user))))


def _reload(assignment: EvaluatorAssignment) -> EvaluatorAssignment:
    db.session.expire_all()
    return db.session.get(EvaluatorAssignment, assignment.id)


def test_evaluator_gets_404_for_assignments_not_its_own(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    other = make_evaluator_assignment(
        world.applications[0], world.evaluators[1], status=AssignmentStatus.scoring
    )
    login(client_en, world.evaluators[0].email)
    assert client_en.get(f"/evaluations/{assignment.id}").status_code == 200
    assert client_en.get(f"/evaluations/{other.id}").status_code == 404
    assert client_en.get("/evaluations/999999").status_code == 404
    response = post_form(
        client_en, f"/evaluations/{other.id}", {"score_feasibility": "1"}, page="/evaluations"
    )
    assert response.status_code == 404
    # Staff pages of the call are closed to evaluators altogether.
    assert client_en.get(f"/calls/{world.call.id}/ranking").status_code == 403
    assert client_en.get(f"/calls/{world.call.id}/evaluators").status_code == 403


def test_an_unassigned_application_is_invisible_to_the_evaluator(app_ctx):
    world, _ = _assignment(AssignmentStatus.scoring)
    outsider = make_user(Role.evaluator)
    assert world.applications[0].id in _visible_ids(world.evaluators[0])
    assert _visible_ids(outsider) == set()


def test_the_list_shows_own_assignments_grouped_by_status(client_en):
    world, _ = _assignment()
    other_world, _ = _assignment()
    login(client_en, world.evaluators[0].email)
    html = client_en.get("/evaluations").get_data(as_text=True)
    assert world.applications[0].firm.name in html
    assert world.call.title in html
    assert "Awaiting declaration" in html and "Declaration due" in html
    assert other_world.applications[0].firm.name not in html


def test_before_declaring_only_call_firm_and_brn_are_shown(client_en):
    world, assignment = _assignment()
    application = world.applications[0]
    document = make_document(application)
    login(client_en, world.evaluators[0].email)
    html = client_en.get(f"/evaluations/{assignment.id}").get_data(as_text=True)
    assert world.call.title in html
    assert application.firm.name in html and application.firm.brn_display in html
    assert ANSWER not in html
    assert document.filename not in html and f"/documents/{document.id}" not in html
    assert 'name="conflict"' in html
    assert 'name="score_feasibility"' not in html
    # Nor may it score before declaring.
    response = post_form(
        client_en, f"/evaluations/{assignment.id}", {"score_feasibility": "7", "version": "1"}
    )
    assert response.status_code == 422
    assert db.session.scalars(sa.select(Score)).all() == []


def test_declaring_no_conflict_opens_the_application(client_en):
    world, assignment = _assignment()
    application = world.applications[0]
    document = make_document(application)
    evaluator = world.evaluators[0]
    assert application.id not in _visible_ids(evaluator)
    login(client_en, evaluator.email)
    response = post_form(client_en, f"/evaluations/{assignment.id}", {"conflict": "no"})
    assert response.status_code == 302
    assignment = _reload(assignment)
    assert assignment.status is AssignmentStatus.scoring and assignment.declared_at is not None
    assert application.id in _visible_ids(evaluator)
    html = client_en.get(f"/evaluations/{assignment.id}").get_data(as_text=True)
    assert ANSWER in html and "도입 목표" in html
    assert f'href="/documents/{document.id}"' in html
    assert 'name="score_feasibility"' in html and 'name="score_impact"' in html
    assert "Weight 60 · from 0 to 10" in html


def test_declaring_a_conflict_removes_the_assignment(client_en):
    world, assignment = _assignment()
    application = world.applications[0]
    evaluator = world.evaluators[0]
    login(client_en, evaluator.email)
    url = f"/evaluations/{assignment.id}"

    missing = post_form(client_en, url, {"conflict": "yes", "statement": "  "})
    assert missing.status_code == 422
    assert "Describe the conflict of interest" in missing.get_data(as_text=True)
    assert _reload(assignment).status is AssignmentStatus.awaiting_declaration

    response = post_form(client_en, url, {"conflict": "yes", "statement": "3년 전까지 이 기업의 자문위원"})
    assert response.status_code == 302
    assignment = _reload(assignment)
    assert assignment.status is AssignmentStatus.recused
    assert assignment.conflict_statement == "3년 전까지 이 기업의 자문위원"
    assert assignment.declared_at is not None
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.declare"))
    assert event.object_id == assignment.id and event.changes["status"] == ["awaiting_declaration", "recused"]
    # The evaluator no longer sees the application anywhere (documents included: they follow visible_to).
    assert application.id not in _visible_ids(evaluator)
    html = client_en.get(url).get_data(as_text=True)
    assert "Removed for a conflict of interest" in html and ANSWER not in html
    # It cannot take the declaration back.
    again = post_form(client_en, url, {"conflict": "no"})
    assert again.status_code == 302
    assert _reload(assignment).status is AssignmentStatus.recused


def test_a_recusal_does_not_count_in_the_results(app_ctx):
    world, assignment = _assignment()
    application = world.applications[0]
    operations.declare(assignment, True, "가족 관계", world.evaluators[0])
    other = make_evaluator_assignment(application, world.evaluators[1], status=AssignmentStatus.scoring)
    operations.submit_scores(other, {"feasibility": 8, "impact": 5}, "", world.evaluators[1], other.version)
    result = operations.results_for_application(application)
    assert result is not None
    assert [e.evaluator.id for e in result.evaluations] == [world.evaluators[1].id]
    assert result.mean_raw == 68  # 6 × 8 + 4 × 5


def test_contact_details_never_reach_the_evaluator(client_en):
    world, assignment = _assignment()
    firm = world.applications[0].firm
    make_contact(firm, name="비밀담당자", email="hidden.contact@secret-firm.example", phone="010-9876-5432")
    login(client_en, world.evaluators[0].email)
    url = f"/evaluations/{assignment.id}"
    pages = [client_en.get(url).get_data(as_text=True), client_en.get("/evaluations").get_data(as_text=True)]
    post_form(client_en, url, {"conflict": "no"})
    pages.append(client_en.get(url).get_data(as_text=True))
    assert ANSWER in pages[-1]
    for html in pages:
        assert "hidden.contact@secret-firm.example" not in html
        assert "010-9876-5432" not in html
        assert "비밀담당자" not in html


def _score_form(assignment: EvaluatorAssignment, **values: str) -> dict[str, str]:
    return {"version": str(assignment.version), "comment": "", "save": "Save draft", **values}


def test_a_score_above_the_maximum_is_refused_and_kept(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    login(client_en, world.evaluators[0].email)
    response = post_form(
        client_en,
        f"/evaluations/{assignment.id}",
        _score_form(assignment, score_feasibility="11", score_impact="7.5", comment="좋은 계획"),
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a score for “실현가능성” from 0 to 10." in html
    assert 'value="11"' in html and 'value="7.5"' in html and "좋은 계획" in html
    assert db.session.scalars(sa.select(Score)).all() == []

    words = post_form(
        client_en, f"/evaluations/{assignment.id}", _score_form(assignment, score_feasibility="seven")
    )
    assert words.status_code == 422
    assert "Enter a number, e.g. 7.5." in words.get_data(as_text=True)
    assert 'value="seven"' in words.get_data(as_text=True)


def test_a_draft_saves_part_of_the_scores(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    login(client_en, world.evaluators[0].email)
    version = assignment.version
    response = post_form(
        client_en,
        f"/evaluations/{assignment.id}",
        _score_form(assignment, score_feasibility="7.25", comment="초안"),
    )
    assert response.status_code == 302
    assignment = _reload(assignment)
    assert {s.criterion_key: s.value for s in assignment.scores} == {"feasibility": 7.25}
    assert assignment.comment == "초안" and assignment.status is AssignmentStatus.scoring
    assert assignment.version == version + 1
    html = client_en.get(f"/evaluations/{assignment.id}").get_data(as_text=True)
    assert 'value="7.25"' in html and f'name="version" type="hidden" value="{version + 1}"' in html
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.save"))


def test_a_stale_save_answers_409_and_keeps_what_was_typed(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    login(client_en, world.evaluators[0].email)
    url = f"/evaluations/{assignment.id}"
    stale_version = assignment.version
    # Another tab saves first.
    assert post_form(client_en, url, _score_form(assignment, score_feasibility="5")).status_code == 302
    response = post_form(
        client_en,
        url,
        {
            "version": str(stale_version),
            "score_feasibility": "9",
            "score_impact": "8",
            "comment": "늦은 저장",
        },
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "This evaluation was changed by someone else — reload the page." in html
    assert 'value="9"' in html and 'value="8"' in html and "늦은 저장" in html
    assignment = _reload(assignment)
    assert {s.criterion_key: s.value for s in assignment.scores} == {"feasibility": 5}


def test_submitting_needs_every_criterion(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    login(client_en, world.evaluators[0].email)
    url = f"/evaluations/{assignment.id}"
    partial = {"version": str(assignment.version), "score_feasibility": "8", "submit": "Submit scores"}
    response = post_form(client_en, url, partial)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter a score for “기대효과” before submitting." in html
    assert 'value="8"' in html
    assert _reload(assignment).status is AssignmentStatus.scoring

    complete = {**partial, "score_impact": "6", "comment": "실현가능성 높음"}
    assert post_form(client_en, url, complete).status_code == 302
    assignment = _reload(assignment)
    assert assignment.status is AssignmentStatus.submitted and assignment.submitted_at is not None
    assert {s.criterion_key: s.value for s in assignment.scores} == {"feasibility": 8, "impact": 6}
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "evaluation.submit"))
    assert event.changes["total"] == 72  # 6 × 8 + 4 × 6
    # Submitted scores are read-only.
    html = client_en.get(url).get_data(as_text=True)
    assert 'name="score_feasibility"' not in html and "실현가능성 높음" in html
    late = post_form(
        client_en, url, {"version": str(assignment.version), "score_feasibility": "1", "save": "x"}
    )
    assert late.status_code == 302
    assert {s.criterion_key: s.value for s in _reload(assignment).scores} == {"feasibility": 8, "impact": 6}


def test_scores_freeze_once_the_application_is_decided(app_ctx):
    world, assignment = _assignment(AssignmentStatus.scoring)
    world.applications[0].status = ApplicationStatus.rejected
    db.session.flush()
    with pytest.raises(RuleViolation) as caught:
        operations.save_scores(assignment, {"feasibility": 5}, "", world.evaluators[0], assignment.version)
    assert caught.value.code == "evaluation_closed"
    assert operations.due_state(assignment) is operations.DueState.closed


def test_only_the_assigned_evaluator_may_declare_or_score(app_ctx):
    world, assignment = _assignment(AssignmentStatus.awaiting_declaration)
    with pytest.raises(NotPermitted):
        operations.declare(assignment, False, "", world.evaluators[1])
    with pytest.raises(NotPermitted):
        operations.declare(assignment, False, "", world.manager)
    operations.declare(assignment, False, "", world.evaluators[0])
    with pytest.raises(NotPermitted):
        operations.save_scores(assignment, {"feasibility": 5}, "", world.evaluators[1], assignment.version)
    assert assignment.scores == []


def test_the_version_field_is_hidden(client_en):
    world, assignment = _assignment(AssignmentStatus.scoring)
    login(client_en, world.evaluators[0].email)
    html = client_en.get(f"/evaluations/{assignment.id}").get_data(as_text=True)
    assert re.search(r'<input id="version" name="version" type="hidden" value="\d+">', html)
