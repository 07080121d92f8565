"""POST /notices and GET /notices/{id}: who may compose and read, the audience checked against the
composer's reach, problems by field, scheduling, delivery counts by status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from crm.api.notices import NoticeOut
from crm.applications.models import ApplicationStatus
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind
from crm.programmes.models import Track
from tests.api.helpers import Api, error_code
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_delivery,
    make_firm,
    make_institution,
    make_notice,
    make_programme,
    make_user,
)


@pytest.fixture
def world(app_ctx):
    """Institution 1 runs a call with two applicants (each with a primary contact); institution 2 of the
    same consortium runs another call."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    other_institution = make_institution(consortium)
    programme = make_programme(institution=institution, name="2026 울산 AI 솔루션 도입", track=Track.adoption)
    other_programme = make_programme(institution=other_institution, track=Track.consulting)
    call = make_call(programme, title="AI 솔루션 도입 기업 모집")
    other_call = make_call(other_programme)
    firm1, firm2 = make_firm(name="(주)울산스마트팩토리"), make_firm(name="(주)서울비전")
    make_contact(firm1, name="김민지", email="minji@firm1.example")
    make_contact(firm2, name="이준호", email="junho@firm2.example")
    make_application(call, firm1, status=ApplicationStatus.submitted)
    make_application(call, firm2, status=ApplicationStatus.selected)
    return {
        "programme": programme,
        "call": call,
        "other_call": other_call,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=other_institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "foreign_manager": make_user(Role.consortium_manager, consortium=make_consortium()),
        "admin": make_user(Role.admin),
        "evaluator": make_user(Role.evaluator),
        "viewer": make_user(Role.national_viewer),
        "firm_user": make_user(Role.firm_user, firm=firm1),
    }


def _notice(world, **kw) -> dict:
    return {
        "audience": {"source": "call", "call_id": world["call"].id},
        "subject": "[{programme}] {firm_name} 서류 안내",
        "body": "{contact_name}님, 제출 서류를 확인해 주세요.",
        **kw,
    }


def test_a_coordinator_composes_a_notice_to_its_calls_applicants(world, app):
    response = Api(app, world["coordinator"]).post("/notices", json=_notice(world))
    assert response.status_code == 201, response.get_json()
    data = NoticeOut.model_validate(response.get_json())
    assert data.kind == "cohort" and data.status == "scheduled"
    assert data.counts.model_dump() == {"queued": 3, "sending": 0, "sent": 0, "failed": 0}
    assert data.audience["call_id"] == world["call"].id and data.audience["firms"] == 2
    assert data.send_at.utcoffset() == timedelta(0)
    notice = db.session.get(Notice, data.id)
    assert notice.kind is NoticeKind.cohort and notice.created_by_id == world["coordinator"].id
    # Firm 1's portal account is written to as well as the primary contacts.
    assert {d.recipient for d in notice.deliveries} == {
        "minji@firm1.example",
        "junho@firm2.example",
        world["firm_user"].email,
    }
    assert db.session.scalar(
        sa.select(AuditEvent.id).where(AuditEvent.action == "notice.compose", AuditEvent.object_id == data.id)
    )


def test_a_manager_schedules_a_notice_by_status(world, app):
    send_at = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    payload = _notice(
        world,
        audience={"source": "call", "call_id": world["call"].id, "statuses": ["selected"]},
        send_at=send_at.astimezone(ZoneInfo("Asia/Seoul")).isoformat(),  # written in KST, stored in UTC
    )
    response = Api(app, world["manager"]).post("/notices", json=payload)
    assert response.status_code == 201, response.get_json()
    data = NoticeOut.model_validate(response.get_json())
    assert data.send_at == send_at and data.counts.queued == 1
    assert {d.recipient for d in db.session.get(Notice, data.id).deliveries} == {"junho@firm2.example"}


def test_roles_outside_coordinator_and_manager_are_refused(world, app):
    for role in ("admin", "evaluator", "viewer", "firm_user"):
        response = Api(app, world[role]).post("/notices", json=_notice(world))
        assert response.status_code == 403 and error_code(response) == "forbidden", role
    assert Api(app).post("/notices", json=_notice(world)).status_code == 401
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_problems_are_reported_by_field(world, app):
    api = Api(app, world["coordinator"])
    cases = [
        ({"subject": " ", "body": ""}, {"subject", "body"}),
        ({"subject": "{unknown} 안내"}, {"subject"}),
        ({"audience": {"source": "call", "call_id": world["other_call"].id}}, {"audience.call_id"}),
        (
            {"audience": {"source": "call", "call_id": world["call"].id, "statuses": ["won"]}},
            {"audience.statuses"},
        ),
        ({"audience": {"source": "everyone"}}, {"audience.source"}),
        ({"audience": {"source": "milestone"}}, {"audience.kind"}),
        ({"send_at": "2026-05-01T09:00:00"}, {"send_at"}),  # no offset: ambiguous
        ({"send_at": "2020-01-01T09:00:00+09:00"}, {"send_at"}),  # passed
        ({"send_at": "0001-01-01T00:00:00+09:00"}, {"send_at"}),  # not representable in UTC
        ({"body": "a\x00b"}, {"body"}),
        ({"channel": "sms"}, {"channel"}),
    ]
    for change, fields in cases:
        response = api.post("/notices", json=_notice(world, **change))
        assert response.status_code == 422, (change, response.get_json())
        assert set(response.get_json()["error"]["fields"]) == fields, change
    missing = api.post("/notices", json={"audience": {"source": "call"}})
    assert {"subject", "body"} <= set(missing.get_json()["error"]["fields"])
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_an_audience_nobody_matches_is_a_rule_violation(world, app):
    payload = _notice(
        world, audience={"source": "call", "call_id": world["call"].id, "statuses": ["rejected"]}
    )
    response = Api(app, world["coordinator"]).post("/notices", json=payload)
    assert response.status_code == 422 and error_code(response) == "empty_audience"
    assert "audience.source" in response.get_json()["error"]["fields"]


def test_messages_follow_accept_language(world, app):
    korean = Api(app, world["coordinator"], language="ko").post("/notices", json=_notice(world, subject=""))
    english = Api(app, world["coordinator"], language="en").post("/notices", json=_notice(world, subject=""))
    assert english.get_json()["error"]["fields"]["subject"] == ["Enter a subject."]
    assert korean.get_json()["error"]["fields"]["subject"] != ["Enter a subject."]


# --- GET /notices/{id} --------------------------------------------------------------------------------------


def test_a_notice_shows_its_delivery_counts_to_those_who_may_see_it(world, app):
    created = Api(app, world["coordinator"]).post("/notices", json=_notice(world)).get_json()
    notice = db.session.get(Notice, created["id"])
    first, second, third = notice.deliveries
    first.status, first.sent_at = DeliveryStatus.sent, utcnow()
    second.status = DeliveryStatus.failed
    third.status = DeliveryStatus.sending
    make_delivery(notice)  # queued
    db.session.commit()
    path = f"/notices/{notice.id}"
    for role in ("coordinator", "manager"):
        response = Api(app, world[role]).get(path)
        assert response.status_code == 200, role
        data = NoticeOut.model_validate(response.get_json())
        assert data.counts.model_dump() == {"queued": 1, "sending": 1, "sent": 1, "failed": 1}
        assert data.subject == "[{programme}] {firm_name} 서류 안내"
    for role in ("other_coordinator", "foreign_manager"):
        response = Api(app, world[role]).get(path)
        assert response.status_code == 404 and error_code(response) == "not_found", role
    for role in ("admin", "evaluator", "viewer", "firm_user"):
        assert Api(app, world[role]).get(path).status_code == 403, role
    assert Api(app, world["coordinator"]).get("/notices/999999").status_code == 404


def test_a_status_notice_to_one_firm_is_not_anyones_to_read(world, app):
    notice = make_notice(created_by_id=None, send_at=datetime(2026, 3, 2, tzinfo=UTC))
    make_delivery(notice)
    db.session.commit()
    assert Api(app, world["coordinator"]).get(f"/notices/{notice.id}").status_code == 404
    assert (
        db.session.scalar(sa.select(sa.func.count(Delivery.id)).where(Delivery.notice_id == notice.id)) == 1
    )
