"""GET /programmes, /programmes/{id}, /calls and /quotas: roles, visibility, figures, filters, paging."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm.api.programmes import CallOut, ProgrammeOut, QuotaOut, QuotasOut
from crm.applications.models import ApplicationStatus
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.dashboard.quotas import quota_rows
from crm.engagements.models import EngagementStatus
from crm.programmes.models import Track
from tests.api.helpers import Api, error_code
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_engagement,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

S = EngagementStatus


@pytest.fixture
def world(app_ctx):
    consortium = make_consortium()
    institution = make_institution(consortium)
    today = today_kst()
    year = make_programme_year(
        consortium, starts_on=today - timedelta(days=100), ends_on=today + timedelta(days=265)
    )
    programme = make_programme(year, institution=institution, track=Track.adoption, target=10)
    for status in (S.pending_agreement, S.agreed, S.in_progress, S.closed, S.cancelled, S.terminated):
        make_engagement(programme, make_firm(consortium), status=status)
    other_year = make_programme_year(make_consortium())
    return {
        "consortium": consortium,
        "institution": institution,
        "year": year,
        "programme": programme,
        "hidden": make_programme(other_year),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
    }


# --- /programmes --------------------------------------------------------------------------------------------


def test_programmes_carry_the_dashboards_figures(app, world):
    response = Api(app, world["manager"]).get("/programmes")
    assert response.status_code == 200
    data = response.get_json()
    items = [ProgrammeOut.model_validate(item) for item in data["items"]]
    assert [item.id for item in items] == [world["programme"].id] and data["total"] == 1
    item = items[0]
    assert item.target == 10 and item.counting_point.value == "agreed" and item.unit.value == "firms"
    # agreed, in_progress, closed count at `agreed`; a terminated agreement no longer does.
    assert item.counted == 3
    assert item.funnel.model_dump() == {"applied": 0, "selected": 5, "agreed": 4, "completed": 1}
    assert item.institution.id == world["institution"].id
    assert item.programme_year.id == world["year"].id
    row = quota_rows(world["manager"], programme_year_id=world["year"].id).rows[0]
    assert item.counted == row.counted and item.funnel.model_dump() == row.funnel.as_dict()


def test_programmes_by_visibility_and_404(app, world):
    admin = Api(app, make_user(Role.admin)).get("/programmes?limit=200").get_json()
    assert {world["programme"].id, world["hidden"].id} <= {item["id"] for item in admin["items"]}
    for user in (world["coordinator"], world["manager"]):
        api = Api(app, user)
        assert api.get(f"/programmes/{world['programme'].id}").status_code == 200
        response = api.get(f"/programmes/{world['hidden'].id}")
        assert response.status_code == 404 and error_code(response) == "not_found"
        assert world["hidden"].id not in [item["id"] for item in api.get("/programmes").get_json()["items"]]
    detail = Api(app, world["coordinator"]).get(f"/programmes/{world['programme'].id}")
    assert ProgrammeOut.model_validate(detail.get_json()).counted == 3


@pytest.mark.parametrize("role", [Role.firm_user, Role.evaluator, Role.national_viewer])
def test_programmes_are_for_staff_only(app, world, role):
    api = Api(app, make_user(role))
    for path in ("/programmes", f"/programmes/{world['programme'].id}"):
        response = api.get(path)
        assert response.status_code == 403 and error_code(response) == "forbidden"


def test_programme_filters_and_paging(app, world):
    consulting = make_programme(world["year"], institution=world["institution"], track=Track.consulting)
    third = make_programme(world["year"], institution=world["institution"], track=Track.consulting)
    api = Api(app, world["manager"])
    filtered = api.get("/programmes?track=consulting").get_json()
    assert {item["id"] for item in filtered["items"]} == {consulting.id, third.id}
    first = api.get("/programmes?limit=2").get_json()
    assert first["total"] == 3 and len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get("/programmes", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert rest["next_cursor"] is None
    assert {i["id"] for i in first["items"] + rest["items"]} == {
        world["programme"].id,
        consulting.id,
        third.id,
    }
    by_year = api.get("/programmes", query_string={"programme_year_id": world["year"].id}).get_json()
    assert by_year["total"] == 3


@pytest.mark.parametrize(
    "query, field",
    [
        ({"track": "nope"}, "track"),
        ({"programme_year_id": "x"}, "programme_year_id"),
        ({"limit": 500}, "limit"),
    ],
)
def test_bad_programme_filters_are_422(app, world, query, field):
    response = Api(app, world["manager"]).get("/programmes", query_string=query)
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == [field]


def test_an_invisible_programme_year_filter_is_422(app, world):
    year_id = world["hidden"].programme_year_id
    response = Api(app, world["manager"]).get("/programmes", query_string={"programme_year_id": year_id})
    assert response.status_code == 422 and "programme_year_id" in response.get_json()["error"]["fields"]


# --- /calls -------------------------------------------------------------------------------------------------


def _call_ids(response) -> list[int]:
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    for item in data["items"]:
        CallOut.model_validate(item)
    return [item["id"] for item in data["items"]]


def test_staff_see_the_calls_of_their_programmes(app, world):
    open_call = make_call(world["programme"])
    closed_call = make_call(world["programme"], open_now=False)
    hidden = make_call(world["hidden"])
    api = Api(app, world["coordinator"])
    assert set(_call_ids(api.get("/calls"))) == {open_call.id, closed_call.id}
    assert _call_ids(api.get("/calls?status=open")) == [open_call.id]
    assert _call_ids(api.get("/calls?status=closed")) == [closed_call.id]
    assert hidden.id in _call_ids(Api(app, make_user(Role.national_viewer)).get("/calls?limit=200"))
    item = api.get("/calls?status=open").get_json()["items"][0]
    assert item["is_open"] is True and item["programme_id"] == world["programme"].id
    assert item["required_documents"] == [{"kind": "business_plan", "label": "사업계획서"}]
    assert item["questions"] == [{"key": "goal", "label": "도입 목표", "required": True}]
    assert item["opens_at"].endswith("+00:00")


def test_upcoming_calls(app, world):
    now = utcnow()
    upcoming = make_call(
        world["programme"], opens_at=now + timedelta(days=3), closes_at=now + timedelta(days=9)
    )
    ids = _call_ids(Api(app, world["manager"]).get("/calls?status=upcoming"))
    assert ids == [upcoming.id]


def test_firm_users_see_the_calls_open_now_as_the_portal_does(app, world):
    open_here = make_call(world["programme"])
    open_elsewhere = make_call(world["hidden"])
    closed = make_call(world["programme"], open_now=False)
    api = Api(app, make_user(Role.firm_user))
    ids = set(_call_ids(api.get("/calls?limit=200")))
    assert {open_here.id, open_elsewhere.id} <= ids and closed.id not in ids
    assert set(_call_ids(api.get("/calls?status=open&limit=200"))) == ids
    assert _call_ids(api.get("/calls?status=closed")) == []


def test_evaluators_may_call_but_see_no_programme_calls(app, world):
    make_call(world["programme"])
    assert _call_ids(Api(app, make_user(Role.evaluator)).get("/calls")) == []


def test_calls_paging_and_bad_status(app, world):
    made = {make_call(world["programme"]).id for _ in range(3)}
    api = Api(app, world["manager"])
    first = api.get("/calls?limit=2").get_json()
    assert first["total"] == 3 and first["next_cursor"]
    rest = api.get("/calls", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert {i["id"] for i in first["items"] + rest["items"]} == made and rest["next_cursor"] is None
    bad = api.get("/calls?status=soon")
    assert bad.status_code == 422 and list(bad.get_json()["error"]["fields"]) == ["status"]
    by_programme = api.get("/calls", query_string={"programme_id": world["hidden"].id}).get_json()
    assert by_programme["total"] == 0


def test_calls_need_a_token(app, app_ctx):
    response = Api(app).get("/calls")
    assert response.status_code == 401 and error_code(response) == "unauthorized"


# --- /quotas ------------------------------------------------------------------------------------------------


def test_quotas_per_programme_with_pace_projection_and_as_of(app, world):
    call = make_call(world["programme"])
    make_application(call=call, firm=make_firm(world["consortium"]), status=ApplicationStatus.submitted)
    for user in (world["manager"], world["coordinator"]):
        response = Api(app, user).get("/quotas")
        assert response.status_code == 200
        report = QuotasOut.model_validate(response.get_json())
        assert report.as_of == today_kst()
        row = next(item for item in report.items if item.programme_id == world["programme"].id)
        assert row.target == 10 and row.counted == 3 and row.funnel.applied == 1
        expected = quota_rows(user).rows[0]
        assert row.pace == expected.pace and row.projected == expected.projected
        assert row.at_risk is expected.at_risk
        assert world["hidden"].id not in [item.programme_id for item in report.items]


def test_national_viewers_see_every_consortium(app, world):
    response = Api(app, make_user(Role.national_viewer)).get("/quotas")
    assert response.status_code == 200
    ids = [QuotaOut.model_validate(item).programme_id for item in response.get_json()["items"]]
    assert world["programme"].id in ids and world["hidden"].id in ids


def test_quotas_for_a_chosen_year_and_track(app, world):
    earlier = make_programme_year(world["consortium"], starts_on=date(2020, 1, 1), ends_on=date(2020, 12, 31))
    old = make_programme(earlier, institution=world["institution"], track=Track.consulting)
    api = Api(app, world["manager"])
    chosen = api.get("/quotas", query_string={"programme_year_id": earlier.id}).get_json()
    assert [item["programme_id"] for item in chosen["items"]] == [old.id]
    assert chosen["items"][0]["pace"] == pytest.approx(0.0)
    none = api.get("/quotas", query_string={"programme_year_id": earlier.id, "track": "adoption"})
    assert none.get_json()["items"] == []


@pytest.mark.parametrize("role", [Role.admin, Role.firm_user, Role.evaluator])
def test_quotas_are_refused_to_other_roles(app, world, role):
    response = Api(app, make_user(role)).get("/quotas")
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_bad_quota_filters_are_422(app, world):
    api = Api(app, world["manager"])
    for query, field in (
        ({"programme_year_id": "abc"}, "programme_year_id"),
        ({"programme_year_id": world["hidden"].programme_year_id}, "programme_year_id"),
        ({"track": "x"}, "track"),
    ):
        response = api.get("/quotas", query_string=query)
        assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == [field]
