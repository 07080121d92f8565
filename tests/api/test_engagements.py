"""The engagement and milestone endpoints: visibility per role, the agreement's terms, transitions (409 and
nothing changed when illegal), milestone filters and completion with evidence, pagination."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.api.engagements import EngagementOut, MilestoneOut
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.documents.models import Document
from crm.engagements.models import Engagement, EngagementHistory, EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.programmes.models import Track
from tests.api.helpers import Api, error_code
from tests.documents.helpers import PDF
from tests.factories import (
    make_engagement,
    make_firm,
    make_institution,
    make_milestone,
    make_programme,
    make_programme_year,
    make_user,
)

E = EngagementStatus
TODAY = today_kst()
TEMPLATES = [
    {"kind": "kickoff", "title": "착수보고", "anchor": "start", "offset_days": 14, "owner": "firm"},
    {"kind": "final_report", "title": "완료보고", "anchor": "end", "offset_days": 0, "owner": "firm"},
]


@pytest.fixture
def world(app_ctx):
    """Consortium A: institution 1 runs an adoption programme with engagements of firms 1 and 2; institution
    2 (same consortium) runs another; consortium B has its own engagement."""
    year = make_programme_year(starts_on=TODAY - timedelta(days=200), ends_on=TODAY + timedelta(days=300))
    institution = make_institution(year.consortium)
    other_institution = make_institution(year.consortium)
    programme = make_programme(year, institution, track=Track.adoption, milestone_templates=TEMPLATES)
    sibling = make_programme(year, other_institution, track=Track.consulting)
    foreign = make_programme(track=Track.adoption)
    firm1, firm2 = make_firm(name="(주)울산정밀"), make_firm(name="(주)부산비전")
    engagement = make_engagement(programme, firm1)
    second = make_engagement(programme, firm2, status=E.in_progress)
    sibling_engagement = make_engagement(sibling, firm1, status=E.in_progress)
    foreign_engagement = make_engagement(foreign, make_firm())
    return {
        "programme": programme,
        "engagement": engagement,
        "second": second,
        "sibling": sibling_engagement,
        "foreign": foreign_engagement,
        "firm1": firm1,
        "firm2": firm2,
        "supplier": make_firm(name="(주)AI공급", is_supplier=True),
        "admin": make_user(Role.admin),
        "manager": make_user(Role.consortium_manager, consortium=year.consortium),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=other_institution),
        "evaluator": make_user(Role.evaluator),
        "viewer": make_user(Role.national_viewer),
        "firm_user": make_user(Role.firm_user, firm=firm1),
        "other_firm_user": make_user(Role.firm_user, firm=firm2),
    }


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    for item in data["items"]:
        EngagementOut.model_validate(item)
    return {item["id"] for item in data["items"]}


def _terms(world, **kw) -> dict:
    return {
        "agreed_on": (TODAY - timedelta(days=1)).isoformat(),
        "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=180)).isoformat(),
        "gov_krw": 60_000_000,
        "local_krw": 20_000_000,
        "self_cash_krw": 15_000_000,
        "self_inkind_krw": 5_000_000,
        "supplier_firm_id": world["supplier"].id,
        "solution": "비전 검사 AI",
        **kw,
    }


# --- GET /engagements -------------------------------------------------------------------------------------


def test_each_role_lists_the_engagements_it_may_see(world, app):
    engagement, second, sibling, foreign = (world[k] for k in ("engagement", "second", "sibling", "foreign"))
    mine = {engagement.id, second.id}
    assert _ids(Api(app, world["coordinator"]).get("/engagements")) == mine
    assert _ids(Api(app, world["other_coordinator"]).get("/engagements")) == {sibling.id}
    assert _ids(Api(app, world["manager"]).get("/engagements")) == mine | {sibling.id}
    assert {engagement.id, second.id, sibling.id, foreign.id} <= _ids(
        Api(app, world["admin"]).get("/engagements")
    )
    assert _ids(Api(app, world["firm_user"]).get("/engagements")) == {engagement.id, sibling.id}
    for role in ("evaluator", "viewer"):
        response = Api(app, world[role]).get("/engagements")
        assert response.status_code == 403 and error_code(response) == "forbidden"
    assert Api(app).get("/engagements").status_code == 401


def test_engagement_filters_and_bad_filters(world, app):
    api = Api(app, world["manager"])
    assert _ids(api.get("/engagements?status=in_progress")) == {world["second"].id, world["sibling"].id}
    assert _ids(api.get(f"/engagements?programme_id={world['programme'].id}&status=pending_agreement")) == {
        world["engagement"].id
    }
    assert _ids(api.get(f"/engagements?firm_id={world['firm1'].id}")) == {
        world["engagement"].id,
        world["sibling"].id,
    }
    # A firm user cannot widen its view with a filter.
    assert _ids(Api(app, world["firm_user"]).get(f"/engagements?firm_id={world['firm2'].id}")) == set()
    for query, field in (
        ("status=signed", "status"),
        ("programme_id=abc", "programme_id"),
        ("limit=0", "limit"),
    ):
        response = api.get(f"/engagements?{query}")
        assert response.status_code == 422 and error_code(response) == "validation_error"
        assert field in response.get_json()["error"]["fields"]


def test_engagement_list_pages_with_limit_and_cursor(world, app):
    for _n in range(3):
        make_engagement(world["programme"], make_firm())
    api = Api(app, world["coordinator"])
    first = api.get("/engagements?limit=2").get_json()
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    seen = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.get(f"/engagements?limit=2&cursor={cursor}").get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen)
    bad = api.get("/engagements?cursor=!!!")
    assert bad.status_code == 422 and "cursor" in bad.get_json()["error"]["fields"]


# --- GET /engagements/{id} --------------------------------------------------------------------------------


def test_one_engagement_for_each_role(world, app):
    engagement = world["engagement"]
    engagement.supplier_firm_id = world["supplier"].id
    engagement.gov_krw = 10_000_000
    db.session.commit()
    path = f"/engagements/{engagement.id}"
    for role in ("admin", "manager", "coordinator", "firm_user"):
        response = Api(app, world[role]).get(path)
        assert response.status_code == 200, role
        data = EngagementOut.model_validate(response.get_json())
        assert data.id == engagement.id and data.status == "pending_agreement" and data.gov_krw == 10_000_000
        assert data.firm_id == world["firm1"].id and data.supplier_firm_id == world["supplier"].id
    assert set(response.get_json()) == set(EngagementOut.model_fields)
    for role in ("other_coordinator", "other_firm_user"):
        response = Api(app, world[role]).get(path)
        assert response.status_code == 404 and error_code(response) == "not_found", role
    for role in ("evaluator", "viewer"):
        assert Api(app, world[role]).get(path).status_code == 403
    assert Api(app, world["admin"]).get("/engagements/999999").status_code == 404


# --- PATCH /engagements/{id} ------------------------------------------------------------------------------


def test_staff_set_the_agreement_terms_while_pending(world, app):
    engagement = world["engagement"]
    response = Api(app, world["coordinator"]).patch(f"/engagements/{engagement.id}", json=_terms(world))
    assert response.status_code == 200, response.get_json()
    data = EngagementOut.model_validate(response.get_json())
    assert data.gov_krw == 60_000_000 and data.solution == "비전 검사 AI" and data.starts_on == TODAY
    db.session.expire_all()
    stored = db.session.get(Engagement, engagement.id)
    assert stored.local_krw == 20_000_000 and stored.supplier_firm_id == world["supplier"].id
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(
            AuditEvent.action == "engagement.agreement", AuditEvent.object_id == engagement.id
        )
    )
    # Only the fields sent change.
    again = Api(app, world["manager"]).patch(
        f"/engagements/{engagement.id}", json={"self_inkind_krw": 6_000_000}
    )
    assert again.status_code == 200 and again.get_json()["gov_krw"] == 60_000_000
    assert again.get_json()["self_inkind_krw"] == 6_000_000


def test_patch_refuses_roles_invisible_engagements_and_bad_input(world, app):
    engagement = world["engagement"]
    path = f"/engagements/{engagement.id}"
    firm = Api(app, world["firm_user"]).patch(path, json={"gov_krw": 1})
    assert firm.status_code == 403 and error_code(firm) == "forbidden"
    assert Api(app, world["other_coordinator"]).patch(path, json={"gov_krw": 1}).status_code == 404
    api = Api(app, world["coordinator"])
    typed = api.patch(path, json={"gov_krw": "lots", "brn": "1"})
    assert typed.status_code == 422 and error_code(typed) == "validation_error"
    assert set(typed.get_json()["error"]["fields"]) == {"gov_krw", "brn"}
    negative = api.patch(path, json={"local_krw": -1, "ends_on": "2026-13-01"})
    assert set(negative.get_json()["error"]["fields"]) == {"local_krw", "ends_on"}
    # The operation's own rules: 국비 at most 60 % of the total, a supplier for adoption.
    split = api.patch(path, json=_terms(world, gov_krw=90_000_000))
    assert split.status_code == 422 and "60%" in split.get_json()["error"]["fields"]["gov_krw"][0]
    no_supplier = api.patch(path, json=_terms(world, supplier_firm_id=None))
    assert "supplier_firm_id" in no_supplier.get_json()["error"]["fields"]
    malformed = api.patch(path, data="{", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and error_code(malformed) == "bad_request"
    db.session.expire_all()
    assert db.session.get(Engagement, engagement.id).gov_krw == 0


def test_patch_after_signature_keeps_the_operations_rule(world, app):
    second = world["second"]
    response = Api(app, world["coordinator"]).patch(f"/engagements/{second.id}", json={"gov_krw": 1})
    assert response.status_code == 422 and error_code(response) == "agreement_signed"
    assert "agreement change" in response.get_json()["error"]["message"]


# --- POST /engagements/{id}/transitions -------------------------------------------------------------------


def test_agreeing_creates_the_milestones(world, app):
    engagement = world["engagement"]
    api = Api(app, world["coordinator"])
    assert api.patch(f"/engagements/{engagement.id}", json=_terms(world)).status_code == 200
    response = api.post(f"/engagements/{engagement.id}/transitions", json={"to": "agreed"})
    assert response.status_code == 200, response.get_json()
    assert EngagementOut.model_validate(response.get_json()).status == "agreed"
    kinds = set(db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id)))
    assert {"kickoff", "final_report", "change_deadline", "settlement"} <= kinds
    history = db.session.scalars(
        sa.select(EngagementHistory.to_status).where(EngagementHistory.engagement_id == engagement.id)
    ).all()
    assert history == [E.agreed]


def test_illegal_and_incomplete_moves_change_nothing(world, app):
    engagement = world["engagement"]
    api = Api(app, world["coordinator"])
    path = f"/engagements/{engagement.id}/transitions"
    illegal = api.post(path, json={"to": "closed", "reason": "끝"})
    assert illegal.status_code == 409 and error_code(illegal) == "illegal_transition"
    incomplete = api.post(path, json={"to": "agreed"})
    assert incomplete.status_code == 422 and error_code(incomplete) == "agreement_incomplete"
    unknown = api.post(path, json={"to": "finished"})
    assert unknown.status_code == 422 and "to" in unknown.get_json()["error"]["fields"]
    missing = api.post(path, json={"reason": "x"})
    assert missing.status_code == 422 and missing.get_json()["error"]["fields"]["to"]
    db.session.expire_all()
    assert db.session.get(Engagement, engagement.id).status is E.pending_agreement
    assert not db.session.scalar(
        sa.select(EngagementHistory.id).where(EngagementHistory.engagement_id == engagement.id)
    )
    assert not db.session.scalar(sa.select(Milestone.id).where(Milestone.engagement_id == engagement.id))


def test_termination_needs_a_reason_and_waives_open_milestones(world, app):
    second = world["second"]
    milestone = make_milestone(second, due_on=TODAY + timedelta(days=5))
    db.session.commit()
    api = Api(app, world["coordinator"])
    path = f"/engagements/{second.id}/transitions"
    no_reason = api.post(path, json={"to": "terminated"})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["error"]["fields"]
    response = api.post(path, json={"to": "terminated", "reason": "기업 폐업으로 중도포기"})
    assert response.status_code == 200 and response.get_json()["status"] == "terminated"
    db.session.expire_all()
    assert db.session.get(Milestone, milestone.id).waived_at is not None
    again = api.post(path, json={"to": "in_progress"})
    assert again.status_code == 409 and error_code(again) == "illegal_transition"


def test_transitions_refuse_firm_users_and_invisible_engagements(world, app):
    path = f"/engagements/{world['second'].id}/transitions"
    firm = Api(app, world["firm_user"]).post(path, json={"to": "final_report"})
    assert firm.status_code == 403
    assert Api(app, world["other_coordinator"]).post(path, json={"to": "final_report"}).status_code == 404
    assert Api(app, world["evaluator"]).post(path, json={"to": "final_report"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Engagement, world["second"].id).status is E.in_progress
    moved = Api(app, world["manager"]).post(path, json={"to": "final_report"})
    assert moved.status_code == 200 and moved.get_json()["status"] == "final_report"


# --- GET /milestones --------------------------------------------------------------------------------------


@pytest.fixture
def milestones(world):
    second, sibling = world["second"], world["sibling"]
    return {
        "open": make_milestone(second, kind="kickoff", due_on=TODAY + timedelta(days=10)),
        "overdue": make_milestone(
            second, kind="interim", due_on=TODAY - timedelta(days=2), owner=MilestoneOwner.staff
        ),
        "done": make_milestone(second, kind="final", due_on=TODAY - timedelta(days=20), done_at=utcnow()),
        "sibling": make_milestone(sibling, kind="kickoff", due_on=TODAY + timedelta(days=3)),
    }


def _milestone_ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    for item in items:
        MilestoneOut.model_validate(item)
    return [item["id"] for item in items]


def test_milestones_by_role_and_filter(world, milestones, app):
    m = {k: v.id for k, v in milestones.items()}
    coordinator = Api(app, world["coordinator"])
    assert _milestone_ids(coordinator.get("/milestones")) == [m["done"], m["overdue"], m["open"]]
    assert _milestone_ids(coordinator.get("/milestones?status=open")) == [m["open"]]
    assert _milestone_ids(coordinator.get("/milestones?status=overdue")) == [m["overdue"]]
    assert _milestone_ids(coordinator.get("/milestones?status=done")) == [m["done"]]
    assert _milestone_ids(coordinator.get(f"/milestones?due_before={TODAY.isoformat()}")) == [
        m["done"],
        m["overdue"],
    ]
    manager = Api(app, world["manager"])
    assert _milestone_ids(manager.get(f"/milestones?engagement_id={world['sibling'].id}")) == [m["sibling"]]
    # The firm of engagement "second" is firm 2; firm 1's user sees only its own engagements' milestones.
    assert _milestone_ids(Api(app, world["firm_user"]).get("/milestones")) == [m["sibling"]]
    assert _milestone_ids(Api(app, world["other_firm_user"]).get("/milestones?status=overdue")) == [
        m["overdue"]
    ]
    item = coordinator.get("/milestones?status=done").get_json()["items"][0]
    assert item["done_at"].endswith("+00:00") and item["status"] == "done" and item["owner"] == "firm"
    for role in ("evaluator", "viewer"):
        assert Api(app, world[role]).get("/milestones").status_code == 403


def test_milestone_filters_are_validated_and_the_list_pages(world, milestones, app):
    api = Api(app, world["manager"])
    for query, field in (
        ("status=late", "status"),
        ("due_before=31-12-2026", "due_before"),
        ("due_before=2026-02-30", "due_before"),
        ("engagement_id=-1", "engagement_id"),
    ):
        response = api.get(f"/milestones?{query}")
        assert response.status_code == 422 and field in response.get_json()["error"]["fields"], query
    first = api.get("/milestones?limit=3").get_json()
    assert first["total"] == 4 and len(first["items"]) == 3 and first["next_cursor"]
    rest = api.get(f"/milestones?limit=3&cursor={first['next_cursor']}").get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None


# --- POST /milestones/{id}/complete -------------------------------------------------------------------------


def _evidence(name: str = "착수보고서.pdf", note: str = "제출합니다") -> dict:
    return {"evidence": (io.BytesIO(PDF), name), "note": note}


def test_the_firm_completes_its_milestone_with_evidence(world, milestones, app):
    milestone = milestones["open"]
    api = Api(app, world["other_firm_user"])
    path = f"/milestones/{milestone.id}/complete"
    missing = api.post(path, data={"note": "파일 없음"})
    assert missing.status_code == 422 and "evidence" in missing.get_json()["error"]["fields"]
    response = api.post(path, data=_evidence(), content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    data = MilestoneOut.model_validate(response.get_json())
    assert data.status == "done" and data.done_at is not None
    db.session.expire_all()
    stored = db.session.get(Milestone, milestone.id)
    document = db.session.get(Document, stored.evidence_document_id)
    assert document.engagement_id == world["second"].id and stored.note == "제출합니다"
    again = api.post(path, data=_evidence(), content_type="multipart/form-data")
    assert again.status_code == 422 and error_code(again) == "milestone_closed"


def test_completion_is_for_the_owner_side_only(world, milestones, app):
    staff_milestone = milestones["overdue"]
    path = f"/milestones/{staff_milestone.id}/complete"
    firm = Api(app, world["other_firm_user"]).post(path, data=_evidence(), content_type="multipart/form-data")
    assert firm.status_code == 403 and error_code(firm) == "forbidden"
    outsider = Api(app, world["firm_user"]).post(path, data=_evidence(), content_type="multipart/form-data")
    assert outsider.status_code == 404
    assert Api(app, world["other_coordinator"]).post(path, data=_evidence()).status_code == 404
    assert Api(app, world["evaluator"]).post(path, data=_evidence()).status_code == 403
    db.session.expire_all()
    assert db.session.get(Milestone, staff_milestone.id).done_at is None
    done = Api(app, world["coordinator"]).post(path, data=_evidence(), content_type="multipart/form-data")
    assert done.status_code == 200 and done.get_json()["status"] == "done"


def test_evidence_of_a_refused_type_is_named_on_the_evidence_field(world, milestones, app):
    path = f"/milestones/{milestones['open'].id}/complete"
    bad = {"evidence": (io.BytesIO(b"MZ\x90\x00" + b"\x00" * 64), "setup.exe"), "note": ""}
    response = Api(app, world["coordinator"]).post(path, data=bad, content_type="multipart/form-data")
    assert response.status_code == 422 and "evidence" in response.get_json()["error"]["fields"]
    nul = Api(app, world["coordinator"]).post(
        path, data=_evidence(note="a\x00b"), content_type="multipart/form-data"
    )
    assert nul.status_code == 422 and "note" in nul.get_json()["error"]["fields"]
