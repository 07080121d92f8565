"""GET/POST /firms, GET/PATCH /firms/{id}, GET /firms/{id}/journey: roles, visibility, errors, paging."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.api.firms import FirmOut, JourneyOut
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.firms.models import BusinessStatus, Firm, FirmLink
from crm.programmes.models import Track
from tests.api.helpers import Api, error_code
from tests.factories import (
    make_brn,
    make_consortium,
    make_diagnosis_result,
    make_engagement,
    make_financial,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)

BAD_CHECKSUM = "1248100999"  # 124-81-00998 is valid; the last digit is off


def _page(response) -> dict:
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert set(data) == {"items", "next_cursor", "total"}
    for item in data["items"]:
        FirmOut.model_validate(item)
    return data


@pytest.fixture
def world(app_ctx):
    """Two consortia; the coordinator and manager belong to the first."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    other = make_consortium()
    return {
        "consortium": consortium,
        "institution": institution,
        "other": other,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
    }


# --- GET /firms ---------------------------------------------------------------------------------------------


def test_staff_list_only_the_firms_of_their_consortium(app, world):
    mine = make_firm(world["consortium"], name="울산정밀")
    make_financial(mine, year=2025, revenue_krw=7_000_000_000)
    hidden = make_firm(world["other"], name="부산정밀")
    for user in (world["coordinator"], world["manager"]):
        data = _page(Api(app, user).get("/firms"))
        ids = [item["id"] for item in data["items"]]
        assert mine.id in ids and hidden.id not in ids
    admin_ids = [
        item["id"] for item in _page(Api(app, make_user(Role.admin)).get("/firms?limit=200"))["items"]
    ]
    assert {mine.id, hidden.id} <= set(admin_ids)
    item = next(i for i in _page(Api(app, world["manager"]).get("/firms"))["items"] if i["id"] == mine.id)
    assert item["brn"] == mine.brn and item["brn_display"] == mine.brn_display
    assert item["revenue_krw"] == 7_000_000_000 and item["business_status"] == "active"
    assert item["created_at"].endswith("+00:00")
    assert "contacts" not in item


@pytest.mark.parametrize("role", [Role.firm_user, Role.evaluator, Role.national_viewer])
def test_other_roles_may_not_list_firms(app, app_ctx, role):
    response = Api(app, make_user(role)).get("/firms")
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_search_by_name_brn_digits_and_initials(app, world):
    target = make_firm(world["consortium"], name="울산스마트팩토리", brn="1248100998")
    other = make_firm(world["consortium"], name="부산기계")
    api = Api(app, world["coordinator"])
    for q in ("스마트", "8100998", "124-81-00998", "ㅇㅅㅅㅁㅌ"):
        ids = [item["id"] for item in _page(api.get("/firms", query_string={"q": q}))["items"]]
        assert ids == [target.id], q
    assert other.id in [i["id"] for i in _page(api.get("/firms", query_string={"q": "부산"}))["items"]]


def test_filters_sido_ksic_status_and_track(app, world):
    consortium = world["consortium"]
    ulsan = make_firm(consortium, sido_code="31", sigungu_code="31140", ksic_code="26110")
    busan = make_firm(consortium, sido_code="26", sigungu_code="26110", ksic_code="10110")
    closed = make_firm(consortium, business_status=BusinessStatus.closed)
    programme = make_programme(
        make_programme_year(consortium), institution=world["institution"], track=Track.consulting
    )
    make_engagement(programme, busan, status=EngagementStatus.in_progress)
    api = Api(app, world["manager"])

    def ids(**query) -> set[int]:
        return {item["id"] for item in _page(api.get("/firms", query_string=query))["items"]}

    assert busan.id in ids(sido="26") and ulsan.id not in ids(sido="26")
    assert ulsan.id in ids(ksic="26") and busan.id not in ids(ksic="26")
    assert busan.id in ids(ksic="C")  # 10110 is manufacturing (section C)
    assert ids(status="closed") == {closed.id}
    assert ids(track="consulting") == {busan.id}
    assert ids(track="adoption") == set()


@pytest.mark.parametrize(
    "query, field",
    [
        ({"sido": "99"}, "sido"),
        ({"ksic": "Z9"}, "ksic"),
        ({"track": "gardening"}, "track"),
        ({"status": "asleep"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
    ],
)
def test_bad_filters_are_422_with_fields(app, world, query, field):
    response = Api(app, world["manager"]).get("/firms", query_string=query)
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert list(response.get_json()["error"]["fields"]) == [field]


def test_pagination_with_limit_cursor_and_total(app, world):
    created = {make_firm(world["consortium"], name=f"페이지기업{n}").id for n in range(5)}
    api = Api(app, world["coordinator"])
    first = _page(api.get("/firms?limit=2&q=페이지기업"))
    assert first["total"] == 5 and len(first["items"]) == 2 and first["next_cursor"]
    second = _page(
        api.get("/firms", query_string={"limit": 2, "q": "페이지기업", "cursor": first["next_cursor"]})
    )
    third = _page(
        api.get("/firms", query_string={"limit": 2, "q": "페이지기업", "cursor": second["next_cursor"]})
    )
    assert third["next_cursor"] is None and len(third["items"]) == 1
    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert set(seen) == created and len(seen) == 5


# --- POST /firms --------------------------------------------------------------------------------------------


def test_a_coordinator_registers_a_firm(app, world):
    brn = make_brn()
    response = Api(app, world["coordinator"]).post(
        "/firms",
        json={
            "brn": f"{brn[:3]}-{brn[3:5]}-{brn[5:]}",
            "name": "(주)새기업",
            "ceo_name": "김대표",
            "sido_code": "31",
            "sigungu_code": "31140",
            "ksic_code": "26110",
            "employees": 12,
            "founded_on": "2019-03-01",
        },
    )
    assert response.status_code == 201, response.get_json()
    data = FirmOut.model_validate(response.get_json())
    assert data.brn == brn and data.name == "(주)새기업" and data.founded_on == date(2019, 3, 1)
    firm = db.session.get(Firm, data.id)
    assert firm.registered_by_id == world["coordinator"].id
    link = db.session.scalar(sa.select(FirmLink).where(FirmLink.firm_id == firm.id))
    assert link.consortium_id == world["consortium"].id and link.institution_id == world["institution"].id
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "firm.create")) is not None


def test_a_bad_brn_checksum_is_422_with_fields(app, world):
    response = Api(app, world["manager"]).post("/firms", json={"brn": BAD_CHECKSUM, "name": "틀린번호"})
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert "brn" in response.get_json()["error"]["fields"]
    assert db.session.scalar(sa.select(Firm.id).where(Firm.name == "틀린번호")) is None


def test_missing_and_unknown_fields_are_422(app, world):
    api = Api(app, world["manager"])
    missing = api.post("/firms", json={"name": "이름만"})
    assert missing.status_code == 422 and missing.get_json()["error"]["fields"] == {
        "brn": ["This field is required."]
    }
    unknown = api.post("/firms", json={"brn": make_brn(), "name": "x", "colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.get_json()["error"]["fields"]
    bad_values = api.post("/firms", json={"brn": make_brn(), "name": "x", "sido_code": "99", "employees": -1})
    assert bad_values.status_code == 422
    assert set(bad_values.get_json()["error"]["fields"]) == {"sido_code", "employees"}
    malformed = api.post("/firms", data="{", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and error_code(malformed) == "bad_request"


def test_a_registered_brn_is_409_with_existing_id_and_creates_nothing(app, world):
    existing = make_firm(world["other"])
    before = db.session.scalar(sa.select(sa.func.count(Firm.id)))
    response = Api(app, world["coordinator"]).post("/firms", json={"brn": existing.brn, "name": "중복"})
    assert response.status_code == 409 and error_code(response) == "conflict"
    assert response.get_json()["error"]["existing_id"] == existing.id
    assert db.session.scalar(sa.select(sa.func.count(Firm.id))) == before
    # As with the form: the consortium may now open the existing firm's company data.
    assert Api(app, world["coordinator"]).get(f"/firms/{existing.id}").status_code == 200


@pytest.mark.parametrize("role", [Role.admin, Role.firm_user, Role.evaluator, Role.national_viewer])
def test_only_coordinators_and_managers_register(app, app_ctx, role):
    response = Api(app, make_user(role)).post("/firms", json={"brn": make_brn(), "name": "x"})
    assert response.status_code == 403 and error_code(response) == "forbidden"


# --- GET /firms/{id} ----------------------------------------------------------------------------------------


def test_get_a_firm_by_visibility(app, world):
    mine = make_firm(world["consortium"])
    hidden = make_firm(world["other"])
    for user in (world["coordinator"], world["manager"], make_user(Role.admin)):
        response = Api(app, user).get(f"/firms/{mine.id}")
        assert response.status_code == 200
        assert FirmOut.model_validate(response.get_json()).id == mine.id
    for user in (world["coordinator"], world["manager"]):
        response = Api(app, user).get(f"/firms/{hidden.id}")
        assert response.status_code == 404 and error_code(response) == "not_found"
    assert Api(app, world["manager"]).get("/firms/999999").status_code == 404


def test_a_firm_user_sees_its_own_firm_only(app, world):
    own = make_firm()
    other = make_firm(world["consortium"])
    api = Api(app, make_user(Role.firm_user, firm=own))
    assert api.get(f"/firms/{own.id}").get_json()["id"] == own.id
    assert api.get(f"/firms/{other.id}").status_code == 404


@pytest.mark.parametrize("role", [Role.evaluator, Role.national_viewer])
def test_evaluators_and_viewers_may_not_read_firms(app, world, role):
    firm = make_firm(world["consortium"])
    api = Api(app, make_user(role))
    assert api.get(f"/firms/{firm.id}").status_code == 403
    assert api.patch(f"/firms/{firm.id}", json={"name": "x"}).status_code == 403
    assert api.get(f"/firms/{firm.id}/journey").status_code == 403


# --- PATCH /firms/{id} --------------------------------------------------------------------------------------


def test_staff_patch_changes_only_the_fields_sent(app, world):
    firm = make_firm(world["consortium"], name="옛이름", employees=10)
    response = Api(app, world["coordinator"]).patch(
        f"/firms/{firm.id}", json={"name": "새이름", "business_status": "suspended"}
    )
    assert response.status_code == 200, response.get_json()
    data = FirmOut.model_validate(response.get_json())
    assert data.name == "새이름" and data.employees == 10 and data.business_status is BusinessStatus.suspended
    db.session.refresh(firm)
    assert firm.name == "새이름" and firm.business_status_checked_at is not None
    assert db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "firm.update")) is not None


def test_patch_cannot_change_the_brn(app, world):
    firm = make_firm(world["consortium"])
    api = Api(app, world["manager"])
    response = api.patch(f"/firms/{firm.id}", json={"brn": make_brn(), "name": "바뀌면안됨"})
    assert response.status_code == 422 and "brn" in response.get_json()["error"]["fields"]
    db.session.refresh(firm)
    assert firm.name != "바뀌면안됨"
    same = api.patch(f"/firms/{firm.id}", json={"brn": firm.brn_display, "name": "그대로"})
    assert same.status_code == 200 and same.get_json()["brn"] == firm.brn


def test_patch_with_bad_values_is_422_and_changes_nothing(app, world):
    firm = make_firm(world["consortium"], name="원래")
    response = Api(app, world["manager"]).patch(
        f"/firms/{firm.id}", json={"name": "", "ksic_code": "00000", "founded_on": "2999-01-01"}
    )
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"name", "ksic_code", "founded_on"}
    db.session.refresh(firm)
    assert firm.name == "원래"
    not_a_date = Api(app, world["manager"]).patch(f"/firms/{firm.id}", json={"founded_on": "yesterday"})
    assert not_a_date.status_code == 422 and "founded_on" in not_a_date.get_json()["error"]["fields"]


def test_patch_of_an_invisible_firm_is_404(app, world):
    hidden = make_firm(world["other"], name="남의기업")
    response = Api(app, world["manager"]).patch(f"/firms/{hidden.id}", json={"name": "가로채기"})
    assert response.status_code == 404
    db.session.refresh(hidden)
    assert hidden.name == "남의기업"


def test_a_firm_user_patches_its_own_profile_but_not_staff_fields(app, world):
    own = make_firm(name="우리회사")
    api = Api(app, make_user(Role.firm_user, firm=own))
    response = api.patch(f"/firms/{own.id}", json={"ceo_name": "새대표", "employees": 30})
    assert response.status_code == 200
    db.session.refresh(own)
    assert own.ceo_name == "새대표" and own.employees == 30
    refused = api.patch(f"/firms/{own.id}", json={"business_status": "closed"})
    assert refused.status_code == 422 and "business_status" in refused.get_json()["error"]["fields"]
    db.session.refresh(own)
    assert own.business_status is BusinessStatus.active
    other = make_firm(world["consortium"])
    assert api.patch(f"/firms/{other.id}", json={"name": "x"}).status_code == 404


def test_cookie_sessions_cannot_patch(app, world):
    from tests.conftest import login

    firm = make_firm(world["consortium"])
    browser = app.test_client()
    login(browser, world["manager"].email)
    response = browser.patch(f"/api/v1/firms/{firm.id}", json={"name": "쿠키"})
    assert response.status_code == 401


# --- GET /firms/{id}/journey --------------------------------------------------------------------------------


def test_the_journey_lists_visible_entries_in_order(app, world):
    firm = make_firm(world["consortium"])
    year = make_programme_year(world["consortium"], starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31))
    consulting = make_programme(year, institution=world["institution"], track=Track.consulting)
    adoption = make_programme(
        make_programme_year(world["consortium"], starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31)),
        institution=world["institution"],
        track=Track.adoption,
    )
    later = make_engagement(adoption, firm, status=EngagementStatus.in_progress)
    earlier = make_engagement(consulting, firm, status=EngagementStatus.closed)
    make_diagnosis_result(firm)
    response = Api(app, world["coordinator"]).get(f"/firms/{firm.id}/journey")
    assert response.status_code == 200
    journey = JourneyOut.model_validate(response.get_json())
    engagements = [entry.id for entry in journey.entries if entry.kind == "engagement"]
    assert engagements == [earlier.id, later.id]
    assert journey.current_stage is Track.adoption
    hidden = make_firm(world["other"])
    assert Api(app, world["coordinator"]).get(f"/firms/{hidden.id}/journey").status_code == 404


def test_a_firm_user_reads_its_own_journey_only(app, world):
    own = make_firm()
    api = Api(app, make_user(Role.firm_user, firm=own))
    response = api.get(f"/firms/{own.id}/journey")
    assert response.status_code == 200 and response.get_json()["firm_id"] == own.id
    assert api.get(f"/firms/{make_firm(world['consortium']).id}/journey").status_code == 404


def test_messages_follow_accept_language(app, world):
    hidden = make_firm(world["other"])
    english = Api(app, world["manager"]).get(f"/firms/{hidden.id}")
    korean = Api(app, world["manager"], language="ko").get(f"/firms/{hidden.id}")
    assert english.get_json()["error"]["message"] != korean.get_json()["error"]["message"]


def test_an_id_beyond_the_database_integer_is_404(app, world):
    api = Api(app, world["manager"])
    for path in (
        "/firms/9223372036854775808",
        "/firms/2147483648/journey",
        "/programmes/9223372036854775808",
    ):
        response = api.get(path)
        assert response.status_code == 404 and error_code(response) == "not_found"
