"""The applications and documents API: each endpoint for each role, visibility (404), refused roles (403),
bad input (422 with fields), duplicates and illegal moves (409, nothing changed), uploads and pagination."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.api.applications import ApplicationOut, DocumentOut
from crm.applications.models import Application, ApplicationHistory, ApplicationStatus
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.documents.models import Document
from crm.engagements.models import Engagement, EngagementStatus
from crm.evaluations.models import AssignmentStatus
from crm.extensions import db
from tests.api.helpers import Api, error_code
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_document,
    make_engagement,
    make_evaluator_assignment,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

S = ApplicationStatus
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


@pytest.fixture
def upload_dir(app, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(folder))
    return folder


@pytest.fixture
def world(app_ctx):
    """A call (document review only) of one institution's programme, staff of that institution and
    consortium, a firm with a portal user, and outsiders of another consortium and firm."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(
        make_programme_year(consortium), institution, review_stages=["document_review"]
    )
    call = make_call(programme, capacity=5)
    firm = make_firm(consortium, sme_certificate_expires_on=date(2030, 1, 1))
    other_consortium = make_consortium()
    return {
        "consortium": consortium,
        "institution": institution,
        "programme": programme,
        "call": call,
        "firm": firm,
        "firm_user": make_user(Role.firm_user, firm=firm),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "admin": make_user(Role.admin),
        "viewer": make_user(Role.national_viewer),
        "evaluator": make_user(Role.evaluator),
        "other_firm_user": make_user(Role.firm_user),
        "other_coordinator": make_user(Role.coordinator, institution=make_institution(other_consortium)),
        "sibling_coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
        "other_manager": make_user(Role.consortium_manager, consortium=other_consortium),
    }


def _api(app, user) -> Api:
    return Api(app, user)


def _valid(data: dict) -> dict:
    ApplicationOut.model_validate(data)
    return data


def _status_of(application_id: int) -> ApplicationStatus:
    db.session.expire_all()
    return db.session.get(Application, application_id).status


def _history_count(application_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).where(ApplicationHistory.application_id == application_id)
    )


# --- GET /applications ------------------------------------------------------------------------------------


def test_list_shows_each_role_what_it_may_see(app, world):
    own = make_application(world["call"], world["firm"])
    other_firm = make_firm()
    other = make_application(world["call"], other_firm, status=S.document_review)
    elsewhere = make_application()  # another consortium's call
    make_evaluator_assignment(other, world["evaluator"], status=AssignmentStatus.scoring)

    def ids(user) -> set[int]:
        response = _api(app, user).get("/applications")
        assert response.status_code == 200, response.get_json()
        for item in response.get_json()["items"]:
            _valid(item)
        return {item["id"] for item in response.get_json()["items"]}

    assert ids(world["admin"]) >= {own.id, other.id, elsewhere.id}
    assert ids(world["manager"]) == {own.id, other.id}
    assert ids(world["coordinator"]) == {own.id, other.id}
    assert ids(world["sibling_coordinator"]) == set()
    assert ids(world["other_manager"]) == set()
    assert ids(world["firm_user"]) == {own.id}
    assert ids(world["other_firm_user"]) == set()
    assert ids(world["evaluator"]) == {other.id}


def test_list_refuses_national_viewers_and_anonymous_callers(app, world):
    response = _api(app, world["viewer"]).get("/applications")
    assert response.status_code == 403 and error_code(response) == "forbidden"
    anonymous = Api(app).get("/applications")
    assert anonymous.status_code == 401 and error_code(anonymous) == "unauthorized"


def test_list_filters_by_call_status_and_firm(app, world):
    second_call = make_call(world["programme"])
    firms = [make_firm(), make_firm(), make_firm()]
    first = make_application(world["call"], firms[0])
    submitted = make_application(world["call"], firms[1], status=S.submitted)
    other_call = make_application(second_call, firms[2])
    api = _api(app, world["coordinator"])

    def ids(query: str) -> set[int]:
        response = api.get(f"/applications?{query}")
        assert response.status_code == 200, response.get_json()
        return {item["id"] for item in response.get_json()["items"]}

    assert ids(f"call_id={world['call'].id}") == {first.id, submitted.id}
    assert ids("status=submitted") == {submitted.id}
    assert ids(f"firm_id={firms[2].id}") == {other_call.id}
    assert ids(f"call_id={world['call'].id}&status=draft") == {first.id}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=approved", "status"),
        ("call_id=abc", "call_id"),
        ("firm_id=0", "firm_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
def test_list_refuses_bad_query_values_with_fields(app, world, query, field):
    response = _api(app, world["coordinator"]).get(f"/applications?{query}")
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert list(response.get_json()["error"]["fields"]) == [field]


def test_list_paginates_with_limit_cursor_and_total(app, world):
    created = {make_application(world["call"], make_firm()).id for _ in range(5)}
    api = _api(app, world["coordinator"])
    first = api.get("/applications?limit=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    second = api.get(f"/applications?limit=2&cursor={first['next_cursor']}").get_json()
    third = api.get(f"/applications?limit=2&cursor={second['next_cursor']}").get_json()
    assert len(third["items"]) == 1 and third["next_cursor"] is None and third["total"] == 5
    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert len(seen) == 5 and set(seen) == created


# --- POST /applications -----------------------------------------------------------------------------------


def test_a_firm_user_starts_a_draft_for_its_own_firm(app, world):
    response = _api(app, world["firm_user"]).post(
        "/applications", json={"call_id": world["call"].id, "answers": {"goal": " 불량 검출 "}}
    )
    assert response.status_code == 201, response.get_json()
    data = _valid(response.get_json())
    assert data["status"] == "draft" and data["firm_id"] == world["firm"].id
    assert data["answers"] == {"goal": "불량 검출"}
    assert data["submitted_at"] is None and data["documents"] == []
    assert [(h["from"], h["to"], h["by"]) for h in data["history"]] == [
        (None, "draft", world["firm_user"].id)
    ]
    stored = db.session.get(Application, data["id"])
    assert stored.call_id == world["call"].id and stored.created_by_id == world["firm_user"].id


def test_a_second_application_to_the_same_call_is_409_with_the_existing_id(app, world):
    existing = make_application(world["call"], world["firm"])
    response = _api(app, world["firm_user"]).post("/applications", json={"call_id": world["call"].id})
    assert response.status_code == 409 and error_code(response) == "conflict"
    assert response.get_json()["error"]["existing_id"] == existing.id
    count = db.session.scalar(sa.select(sa.func.count()).where(Application.firm_id == world["firm"].id))
    assert count == 1


def test_a_closed_call_is_422_and_nothing_is_created(app, world):
    closed = make_call(world["programme"], open_now=False)
    response = _api(app, world["firm_user"]).post("/applications", json={"call_id": closed.id})
    assert response.status_code == 422 and error_code(response) == "call_closed"
    assert db.session.scalar(sa.select(Application.id).where(Application.call_id == closed.id)) is None


def test_a_coordinator_applies_for_a_firm_it_sees_and_must_name_it(app, world):
    api = _api(app, world["coordinator"])
    missing = api.post("/applications", json={"call_id": world["call"].id})
    assert missing.status_code == 422 and list(missing.get_json()["error"]["fields"]) == ["firm_id"]
    unseen = api.post("/applications", json={"call_id": world["call"].id, "firm_id": make_firm().id})
    assert unseen.status_code == 422 and list(unseen.get_json()["error"]["fields"]) == ["firm_id"]
    response = api.post("/applications", json={"call_id": world["call"].id, "firm_id": world["firm"].id})
    assert response.status_code == 201, response.get_json()
    assert _valid(response.get_json())["firm_id"] == world["firm"].id


def test_a_coordinator_cannot_apply_to_a_call_it_does_not_see(app, world):
    foreign_call = make_call()
    response = _api(app, world["coordinator"]).post(
        "/applications", json={"call_id": foreign_call.id, "firm_id": world["firm"].id}
    )
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == ["call_id"]


def test_starting_refuses_bad_input_with_fields(app, world):
    api = _api(app, world["firm_user"])
    cases = [
        ({"answers": {}}, "call_id"),
        ({"call_id": "x"}, "call_id"),
        ({"call_id": world["call"].id, "colour": "red"}, "colour"),
        ({"call_id": world["call"].id, "answers": {"nonsense": "a"}}, "answers.nonsense"),
        ({"call_id": world["call"].id, "answers": {"goal": 3}}, "answers.goal"),
        ({"call_id": world["call"].id, "firm_id": make_firm().id}, "firm_id"),
        ({"call_id": 999_999}, "call_id"),
    ]
    for payload, field in cases:
        response = api.post("/applications", json=payload)
        assert response.status_code == 422, (payload, response.get_json())
        assert field in response.get_json()["error"]["fields"], (payload, response.get_json())
    malformed = api.post("/applications", data="{", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and error_code(malformed) == "bad_request"
    assert db.session.scalar(sa.select(Application.id).where(Application.firm_id == world["firm"].id)) is None


@pytest.mark.parametrize("role_key", ["manager", "admin", "evaluator", "viewer"])
def test_roles_other_than_firm_users_and_coordinators_may_not_start(app, world, role_key):
    response = _api(app, world[role_key]).post(
        "/applications", json={"call_id": world["call"].id, "firm_id": world["firm"].id}
    )
    assert response.status_code == 403 and error_code(response) == "forbidden"


# --- GET /applications/{id} ------------------------------------------------------------------------------


def test_the_detail_is_404_for_callers_who_may_not_see_it(app, world):
    application = make_application(world["call"], world["firm"], status=S.document_review)
    for key in ("firm_user", "coordinator", "manager", "admin"):
        response = _api(app, world[key]).get(f"/applications/{application.id}")
        assert response.status_code == 200, key
        _valid(response.get_json())
    for key in ("other_firm_user", "other_coordinator", "sibling_coordinator", "other_manager", "evaluator"):
        response = _api(app, world[key]).get(f"/applications/{application.id}")
        assert response.status_code == 404 and error_code(response) == "not_found", key
    assert _api(app, world["viewer"]).get(f"/applications/{application.id}").status_code == 403
    assert _api(app, world["admin"]).get("/applications/999999").status_code == 404
    assert _api(app, world["admin"]).get(f"/applications/{2**64}").status_code == 404
    make_evaluator_assignment(application, world["evaluator"], status=AssignmentStatus.scoring)
    assert _api(app, world["evaluator"]).get(f"/applications/{application.id}").status_code == 200


def test_the_detail_has_history_and_current_documents_and_firms_read_only_their_reasons(app, world):
    application = make_application(world["call"], world["firm"], status=S.rejected)
    old = make_document(application, superseded_at=utcnow())
    current = make_document(application)
    staff = world["coordinator"]
    for to, reason in ((S.submitted, ""), (S.document_review, "내부 메모"), (S.rejected, "예산 부족")):
        db.session.add(
            ApplicationHistory(
                application_id=application.id,
                from_status=None,
                to_status=to,
                actor_id=staff.id,
                reason=reason,
            )
        )
    db.session.flush()
    staff_view = _valid(_api(app, staff).get(f"/applications/{application.id}").get_json())
    assert [d["id"] for d in staff_view["documents"]] == [current.id]
    assert old.id not in {d["id"] for d in staff_view["documents"]}
    DocumentOut.model_validate(staff_view["documents"][0])
    assert [h["reason"] for h in staff_view["history"]] == ["", "내부 메모", "예산 부족"]
    assert {h["by"] for h in staff_view["history"]} == {staff.id}
    firm_view = _valid(_api(app, world["firm_user"]).get(f"/applications/{application.id}").get_json())
    assert [h["reason"] for h in firm_view["history"]] == ["", "", "예산 부족"]
    assert {h["by"] for h in firm_view["history"]} == {None}


# --- PATCH /applications/{id} ----------------------------------------------------------------------------


def test_a_firm_user_changes_answers_of_its_draft(app, world):
    application = make_application(world["call"], world["firm"])
    response = _api(app, world["firm_user"]).patch(
        f"/applications/{application.id}", json={"answers": {"goal": "품질 검사 자동화"}}
    )
    assert response.status_code == 200, response.get_json()
    assert _valid(response.get_json())["answers"] == {"goal": "품질 검사 자동화"}
    db.session.expire_all()
    assert db.session.get(Application, application.id).answers == {"goal": "품질 검사 자동화"}


def test_patching_refuses_submitted_applications_bad_answers_and_outsiders(app, world):
    submitted = make_application(world["call"], world["firm"], status=S.submitted)
    api = _api(app, world["firm_user"])
    response = api.patch(f"/applications/{submitted.id}", json={"answers": {"goal": "다른 답"}})
    assert response.status_code == 422 and error_code(response) == "not_editable"
    draft = make_application(make_call(world["programme"]), world["firm"])
    unknown = api.patch(f"/applications/{draft.id}", json={"answers": {"nope": "x"}})
    assert unknown.status_code == 422 and list(unknown.get_json()["error"]["fields"]) == ["answers.nope"]
    extra = api.patch(f"/applications/{draft.id}", json={"answers": {}, "status": "selected"})
    assert extra.status_code == 422 and "status" in extra.get_json()["error"]["fields"]
    outsider = _api(app, world["other_firm_user"]).patch(
        f"/applications/{draft.id}", json={"answers": {"goal": "x"}}
    )
    assert outsider.status_code == 404
    refused = _api(app, world["evaluator"]).patch(
        f"/applications/{draft.id}", json={"answers": {"goal": "x"}}
    )
    assert refused.status_code == 403
    db.session.expire_all()
    assert db.session.get(Application, submitted.id).answers == {"goal": "불량 검출 자동화"}
    assert db.session.get(Application, draft.id).answers == {"goal": "불량 검출 자동화"}


# --- POST /applications/{id}/documents --------------------------------------------------------------------


def _upload(api: Api, application_id: int, name: str, content: bytes, kind: str = "business_plan"):
    return api.post(
        f"/applications/{application_id}/documents",
        data={"kind": kind, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_a_firm_user_uploads_a_document_to_its_draft(app, world, upload_dir):
    application = make_application(world["call"], world["firm"])
    response = _upload(_api(app, world["firm_user"]), application.id, "사업계획서.pdf", PDF)
    assert response.status_code == 201, response.get_json()
    data = DocumentOut.model_validate(response.get_json())
    assert data.kind == "business_plan" and data.filename == "사업계획서.pdf" and data.size == len(PDF)
    stored = db.session.get(Document, data.id)
    assert stored.application_id == application.id and stored.sha256 == data.sha256
    detail = _api(app, world["firm_user"]).get(f"/applications/{application.id}").get_json()
    assert [d["id"] for d in detail["documents"]] == [data.id]


def test_uploads_refuse_bad_files_with_the_contract_codes(app, world, upload_dir, monkeypatch):
    application = make_application(world["call"], world["firm"])
    api = _api(app, world["coordinator"])
    exe = _upload(api, application.id, "plan.pdf", EXE)
    assert exe.status_code == 422 and list(exe.get_json()["error"]["fields"]) == ["file"]
    mismatch = _upload(api, application.id, "plan.png", PDF)
    assert mismatch.status_code == 422 and list(mismatch.get_json()["error"]["fields"]) == ["file"]
    kind = _upload(api, application.id, "plan.pdf", PDF, kind="passport")
    assert kind.status_code == 422 and list(kind.get_json()["error"]["fields"]) == ["kind"]
    no_file = api.post(
        f"/applications/{application.id}/documents",
        data={"kind": "business_plan"},
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 422 and list(no_file.get_json()["error"]["fields"]) == ["file"]
    monkeypatch.setitem(app.config, "DOCUMENT_MAX_BYTES", 64)
    big = _upload(api, application.id, "plan.pdf", PDF + b"0" * 100)
    assert big.status_code == 413 and error_code(big) == "too_large"
    assert db.session.scalar(sa.select(Document.id).where(Document.application_id == application.id)) is None


def test_uploads_follow_who_may_upload(app, world, upload_dir):
    submitted = make_application(world["call"], world["firm"], status=S.submitted)
    firm_refused = _upload(_api(app, world["firm_user"]), submitted.id, "a.pdf", PDF)
    assert firm_refused.status_code == 403 and error_code(firm_refused) == "forbidden"
    assert _upload(_api(app, world["other_firm_user"]), submitted.id, "a.pdf", PDF).status_code == 404
    assert _upload(_api(app, world["other_coordinator"]), submitted.id, "a.pdf", PDF).status_code == 404
    for key in ("viewer", "evaluator", "manager", "admin"):
        assert _upload(_api(app, world[key]), submitted.id, "a.pdf", PDF).status_code == 403, key
    assert _upload(_api(app, world["coordinator"]), submitted.id, "a.pdf", PDF).status_code == 201


# --- GET /documents/{id} ----------------------------------------------------------------------------------


def test_documents_download_by_visibility(app, world, upload_dir):
    application = make_application(world["call"], world["firm"])
    uploaded = _upload(_api(app, world["firm_user"]), application.id, "계획.pdf", PDF).get_json()
    for key in ("firm_user", "coordinator", "manager", "admin"):
        response = _api(app, world[key]).get(f"/documents/{uploaded['id']}")
        assert response.status_code == 200 and response.data == PDF, key
        assert response.headers["Content-Disposition"].startswith("attachment")
    for key in ("other_firm_user", "other_coordinator", "evaluator", "viewer"):
        response = _api(app, world[key]).get(f"/documents/{uploaded['id']}")
        assert response.status_code == 404 and error_code(response) == "not_found", key
    assert _api(app, world["admin"]).get("/documents/999999").status_code == 404
    assert _api(app, world["admin"]).get(f"/documents/{2**64}").status_code == 404


def test_engagement_documents_download_for_whoever_sees_the_engagement(app, world, upload_dir):
    from werkzeug.datastructures import FileStorage

    from crm.documents.operations import upload_engagement_document

    engagement = make_engagement(world["programme"], world["firm"])
    document = upload_engagement_document(
        engagement, "report", FileStorage(io.BytesIO(PDF), "report.pdf"), world["coordinator"]
    )
    db.session.flush()
    assert _api(app, world["firm_user"]).get(f"/documents/{document.id}").data == PDF
    assert _api(app, world["coordinator"]).get(f"/documents/{document.id}").status_code == 200
    assert _api(app, world["other_firm_user"]).get(f"/documents/{document.id}").status_code == 404


# --- POST /applications/{id}/transitions ------------------------------------------------------------------


def test_the_firm_submits_and_staff_review_and_select_which_creates_the_engagement(app, world):
    application = make_application(world["call"], world["firm"])
    make_document(application)
    firm_api, staff_api = _api(app, world["firm_user"]), _api(app, world["coordinator"])
    path = f"/applications/{application.id}/transitions"
    submitted = firm_api.post(path, json={"to": "submitted"})
    assert submitted.status_code == 200, submitted.get_json()
    assert _valid(submitted.get_json())["status"] == "submitted"
    assert submitted.get_json()["submitted_at"] is not None
    for to in ("eligibility", "document_review"):
        response = staff_api.post(path, json={"to": to})
        assert response.status_code == 200, response.get_json()
    selected = staff_api.post(path, json={"to": "selected", "reason": "우수"})
    assert selected.status_code == 200, selected.get_json()
    data = _valid(selected.get_json())
    assert data["status"] == "selected" and data["decided_at"] is not None
    assert [h["to"] for h in data["history"]] == ["submitted", "eligibility", "document_review", "selected"]
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.application_id == application.id))
    assert engagement is not None and engagement.status is EngagementStatus.pending_agreement


def test_an_illegal_move_is_409_and_changes_nothing(app, world):
    application = make_application(world["call"], world["firm"])
    response = _api(app, world["coordinator"]).post(
        f"/applications/{application.id}/transitions", json={"to": "selected", "reason": "x"}
    )
    assert response.status_code == 409 and error_code(response) == "illegal_transition"
    assert _status_of(application.id) is S.draft and _history_count(application.id) == 0
    assert (
        db.session.scalar(sa.select(Engagement.id).where(Engagement.application_id == application.id)) is None
    )


def test_firm_users_make_only_their_moves_and_staff_not_the_firms(app, world):
    application = make_application(world["call"], world["firm"], status=S.submitted)
    path = f"/applications/{application.id}/transitions"
    firm = _api(app, world["firm_user"]).post(path, json={"to": "eligibility"})
    assert firm.status_code == 403 and error_code(firm) == "forbidden"
    staff = _api(app, world["coordinator"]).post(path, json={"to": "withdrawn"})
    assert staff.status_code == 403
    assert _api(app, world["other_firm_user"]).post(path, json={"to": "withdrawn"}).status_code == 404
    assert _api(app, world["evaluator"]).post(path, json={"to": "withdrawn"}).status_code == 403
    assert _status_of(application.id) is S.submitted
    withdrawn = _api(app, world["firm_user"]).post(path, json={"to": "withdrawn"})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"


def test_a_supplement_request_needs_its_due_date(app, world):
    application = make_application(world["call"], world["firm"], status=S.eligibility)
    api = _api(app, world["coordinator"])
    path = f"/applications/{application.id}/transitions"
    missing = api.post(path, json={"to": "supplement_requested", "reason": "사업자등록증 재제출"})
    assert missing.status_code == 422 and list(missing.get_json()["error"]["fields"]) == ["supplement_due_on"]
    assert _status_of(application.id) is S.eligibility
    due = (today_kst() + timedelta(days=7)).isoformat()
    response = api.post(
        path, json={"to": "supplement_requested", "reason": "재제출", "supplement_due_on": due}
    )
    assert response.status_code == 200, response.get_json()
    assert _valid(response.get_json())["status"] == "supplement_requested"
    db.session.expire_all()
    assert db.session.get(Application, application.id).supplement_due_on.isoformat() == due


def test_transitions_refuse_bad_bodies_with_fields(app, world):
    application = make_application(world["call"], world["firm"], status=S.submitted)
    api = _api(app, world["coordinator"])
    path = f"/applications/{application.id}/transitions"
    for payload, field in (
        ({"to": "approved"}, "to"),
        ({}, "to"),
        ({"to": "eligibility", "why": "x"}, "why"),
        ({"to": "supplement_requested", "supplement_due_on": "tomorrow"}, "supplement_due_on"),
    ):
        response = api.post(path, json=payload)
        assert response.status_code == 422, payload
        assert field in response.get_json()["error"]["fields"], (payload, response.get_json())
    assert _status_of(application.id) is S.submitted and _history_count(application.id) == 0


def test_messages_are_korean_by_default(app, world):
    application = make_application(world["call"], world["firm"])
    english = _api(app, world["other_firm_user"]).get(f"/applications/{application.id}")
    korean_api = _api(app, world["other_firm_user"])
    korean_api.headers["Accept-Language"] = "ko"
    korean = korean_api.get(f"/applications/{application.id}")
    assert english.status_code == korean.status_code == 404
    assert korean.get_json()["error"]["message"] != english.get_json()["error"]["message"]


def test_firm_link_keeps_applicants_visible_to_the_consortium(app, world):
    """Starting through the API links the firm to the programme like the portal does (staff then see it)."""
    firm = make_firm()
    user = make_user(Role.firm_user, firm=firm)
    response = _api(app, user).post("/applications", json={"call_id": world["call"].id})
    assert response.status_code == 201
    firm_view = _api(app, world["manager"]).get(f"/applications?firm_id={firm.id}").get_json()
    assert [item["id"] for item in firm_view["items"]] == [response.get_json()["id"]]
