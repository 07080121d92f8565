"""Recording, correcting and deleting activities; who may; which activities each user sees; the panels on
the engagement and firm pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.activities import operations
from crm.activities.models import Activity, ActivityKind
from crm.activities.operations import ActivityData
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from tests.conftest import login, post_form
from tests.factories import (
    make_activity,
    make_consortium,
    make_engagement,
    make_firm,
    make_firm_activity,
    make_institution,
    make_programme,
    make_user,
)

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def world(app):
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(institution=institution, name="AI 솔루션 도입 테스트")
    firm = make_firm(consortium, name="(주)활동테스트")
    engagement = make_engagement(programme, firm, status=EngagementStatus.in_progress)
    return {
        "consortium": consortium,
        "firm": firm,
        "engagement": engagement,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        # Same consortium, another institution: sees the firm, not this engagement.
        "other_coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
        # Another consortium altogether: sees neither.
        "stranger": make_user(Role.coordinator),
        "firm_user": make_user(Role.firm_user, firm=firm),
    }


def _form(**changes: str) -> dict[str, str]:
    values = {
        "kind": "visit",
        "occurred_on": (today_kst() - timedelta(days=1)).isoformat(),
        "hours": "1.5",
        "participants": "대표이사 김OO, 생산팀장",
        "summary": "현장 방문: 검사 라인 확인",
    }
    values.update(changes)
    return values


def _data(**changes) -> ActivityData:
    values = {
        "kind": ActivityKind.meeting,
        "occurred_on": today_kst(),
        "hours": Decimal("2"),
        "participants": "",
        "summary": "중간 점검 회의",
    }
    values.update(changes)
    return ActivityData(**values)


def _activities(firm_id: int) -> list[Activity]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(Activity).where(Activity.firm_id == firm_id).order_by(Activity.id))
    )


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


# --- recording through the pages ------------------------------------------------------------------------


def test_coordinator_records_an_engagement_activity(client, world):
    engagement = world["engagement"]
    login(client, world["coordinator"].email)
    url = f"/engagements/{engagement.id}/activities/new"
    assert client.get(url).status_code == 200
    response = post_form(client, url, _form())
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"] == f"/engagements/{engagement.id}#activities"
    [activity] = _activities(world["firm"].id)
    assert activity.engagement_id == engagement.id and activity.kind is ActivityKind.visit
    assert activity.hours == Decimal("1.5") and activity.recorded_by_id == world["coordinator"].id
    assert activity.participants == "대표이사 김OO, 생산팀장"
    [event] = _events("activity.record")
    assert event.object_id == activity.id and event.changes["hours"] == "1.5"
    assert event.changes["engagement_id"] == engagement.id


def test_firm_level_activity_by_staff_who_see_the_firm(client, world):
    firm = world["firm"]
    # Another institution's coordinator sees the firm (same consortium), so may note a meeting with it.
    login(client, world["other_coordinator"].email)
    response = post_form(client, f"/firms/{firm.id}/activities/new", _form(kind="meeting", hours="2"))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/firms/{firm.id}#activities"
    [activity] = _activities(firm.id)
    assert activity.engagement_id is None and activity.kind is ActivityKind.meeting


def test_every_validation_problem_is_named_and_input_kept(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    url = f"/engagements/{engagement.id}/activities/new"
    tomorrow = (today_kst() + timedelta(days=1)).isoformat()
    response = post_form(client_en, url, _form(occurred_on=tomorrow, hours="25", summary="  "))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The date cannot be in the future" in page
    assert "Hours must be between 0 and 24." in page
    assert "Write a short summary" in page
    assert f'value="{tomorrow}"' in page and 'value="25"' in page

    page = post_form(client_en, url, _form(hours="1.25", kind="lunch", occurred_on="")).get_data(as_text=True)
    assert "at most one decimal" in page
    assert "Not a valid choice" in page
    assert "Enter the date the activity took place." in page

    page = post_form(client_en, url, _form(hours="two")).get_data(as_text=True)
    assert "Enter the hours as a number" in page
    page = post_form(client_en, url, _form(hours="")).get_data(as_text=True)
    assert "Enter the hours spent" in page
    assert _activities(world["firm"].id) == []


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"kind": "lunch"}, "kind", "Choose the kind of activity"),
        ({"occurred_on": None}, "occurred_on", "Enter the date"),
        ({"occurred_on": "future"}, "occurred_on", "cannot be in the future"),
        ({"hours": None}, "hours", "Enter the hours spent"),
        ({"hours": Decimal("-1")}, "hours", "between 0 and 24"),
        ({"hours": Decimal("24.1")}, "hours", "between 0 and 24"),
        ({"hours": Decimal("0.25")}, "hours", "at most one decimal"),
        ({"summary": ""}, "summary", "Write a short summary"),
        ({"summary": "가" * 5001}, "summary", "at most 5,000 characters"),
        ({"participants": "x" * 1001}, "participants", "at most 1,000 characters"),
    ],
)
def test_operation_validation(app_ctx, world, changes, field, message):
    if changes.get("occurred_on") == "future":
        changes["occurred_on"] = today_kst() + timedelta(days=1)
    with pytest.raises(ValidationFailed) as raised:
        operations.record_activity(world["engagement"], _data(**changes), world["coordinator"])
    assert list(raised.value.fields) == [field]
    assert message in str(raised.value.fields[field][0])


def test_boundaries_are_accepted(app_ctx, world):
    for hours in (Decimal("0"), Decimal("24"), Decimal("7.5")):
        activity = operations.record_activity(world["engagement"], _data(hours=hours), world["coordinator"])
        assert activity.hours == hours and activity.occurred_on == today_kst()


# --- permissions ------------------------------------------------------------------------------------------


def test_operations_refuse_who_may_not(app_ctx, world):
    engagement, firm = world["engagement"], world["firm"]
    for actor in (world["other_coordinator"], world["stranger"], world["firm_user"]):
        with pytest.raises(NotPermitted):
            operations.record_activity(engagement, _data(), actor)
    for actor in (world["stranger"], world["firm_user"], make_user(Role.national_viewer)):
        with pytest.raises(NotPermitted):
            operations.record_activity(firm, _data(), actor)
    activity = make_activity(engagement)
    with pytest.raises(NotPermitted):
        operations.update_activity(activity, _data(), world["other_coordinator"])
    with pytest.raises(NotPermitted):
        operations.delete_activity(activity, world["other_coordinator"])
    assert operations.may_change(activity, world["manager"])


def test_pages_answer_404_outside_the_scope_and_403_for_other_roles(client, world, app):
    engagement, firm = world["engagement"], world["firm"]
    engagement_activity = make_activity(engagement)
    firm_activity = make_firm_activity(firm)

    login(client, world["other_coordinator"].email)
    assert client.get(f"/engagements/{engagement.id}/activities/new").status_code == 404
    assert client.get(f"/activities/{engagement_activity.id}/edit").status_code == 404
    assert client.get(f"/activities/{engagement_activity.id}/delete").status_code == 404
    assert (
        post_form(client, f"/activities/{engagement_activity.id}/delete", {}, page="/account").status_code
        == 404
    )
    assert client.get(f"/activities/{firm_activity.id}/edit").status_code == 200
    assert client.get(f"/firms/{firm.id}/activities?engagement={engagement.id}").status_code == 404

    stranger = app.test_client()
    login(stranger, world["stranger"].email)
    assert stranger.get(f"/firms/{firm.id}/activities").status_code == 404
    assert stranger.get(f"/firms/{firm.id}/activities/new").status_code == 404
    assert stranger.get(f"/activities/{firm_activity.id}/edit").status_code == 404

    firm_browser = app.test_client()
    login(firm_browser, world["firm_user"].email)
    assert firm_browser.get(f"/firms/{firm.id}/activities").status_code == 403
    assert firm_browser.get(f"/activities/{engagement_activity.id}/edit").status_code == 403
    assert len(_activities(firm.id)) == 2


def test_manager_may_work_on_the_engagement_too(client, world):
    login(client, world["manager"].email)
    response = post_form(client, f"/engagements/{world['engagement'].id}/activities/new", _form())
    assert response.status_code == 302
    assert len(_activities(world["firm"].id)) == 1


# --- editing and deleting ---------------------------------------------------------------------------------


def test_edit_saves_and_audits_only_what_changed(client, world):
    activity = make_activity(world["engagement"], hours=2, occurred_on=today_kst() - timedelta(days=3))
    login(client, world["coordinator"].email)
    url = f"/activities/{activity.id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'value="2"' in page and "데이터 현황 점검" in page
    response = post_form(
        client,
        url,
        _form(
            kind="consulting_session",
            occurred_on=activity.occurred_on.isoformat(),
            hours="3.5",
            participants=activity.participants,
            summary=activity.summary,
        ),
    )
    assert response.status_code == 302
    [saved] = _activities(world["firm"].id)
    assert saved.hours == Decimal("3.5")
    [event] = _events("activity.update")
    assert event.changes == {"hours": ["2.0", "3.5"]}


def test_delete_asks_first_then_deletes_and_audits(client_en, world):
    activity_id = make_activity(world["engagement"], summary="삭제할 기록").id
    login(client_en, world["coordinator"].email)
    url = f"/activities/{activity_id}/delete"
    page = client_en.get(url)
    assert page.status_code == 200
    assert "Delete this activity?" in page.get_data(as_text=True) and "삭제할 기록" in page.get_data(
        as_text=True
    )
    assert len(_activities(world["firm"].id)) == 1  # showing the page deletes nothing
    response = post_form(client_en, url, {})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/engagements/{world['engagement'].id}#activities"
    assert _activities(world["firm"].id) == []
    [event] = _events("activity.delete")
    assert event.object_id == activity_id and event.changes["summary"] == "삭제할 기록"


# --- lists and panels -------------------------------------------------------------------------------------


def test_firm_list_newest_first_and_only_visible_engagements(client_en, world, app):
    engagement, firm = world["engagement"], world["firm"]
    today = today_kst()
    make_activity(engagement, summary="오래된 방문", occurred_on=today - timedelta(days=30))
    make_activity(engagement, summary="최근 회의", occurred_on=today - timedelta(days=1))
    make_firm_activity(firm, summary="기업 단위 상담", occurred_on=today)

    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/firms/{firm.id}/activities").get_data(as_text=True)
    assert page.index("기업 단위 상담") < page.index("최근 회의") < page.index("오래된 방문")
    assert "Firm-level" in page and "3 in all" in page

    other = app.test_client()
    other.set_cookie("lang", "en")
    login(other, world["other_coordinator"].email)
    page = other.get(f"/firms/{firm.id}/activities").get_data(as_text=True)
    assert "기업 단위 상담" in page
    assert "최근 회의" not in page and "오래된 방문" not in page

    only = client_en.get(f"/firms/{firm.id}/activities?engagement={engagement.id}").get_data(as_text=True)
    assert "최근 회의" in only and "기업 단위 상담" not in only


def test_list_paginates(client_en, world, app):
    for n in range(app.config["PAGE_SIZE"] + 3):
        make_activity(world["engagement"], summary=f"기록 {n:03d}")
    login(client_en, world["coordinator"].email)
    first = client_en.get(f"/firms/{world['firm'].id}/activities").get_data(as_text=True)
    assert "Page 1 of 2" in first
    second = client_en.get(f"/firms/{world['firm'].id}/activities?page=2").get_data(as_text=True)
    assert second.count("기록 ") == 3


def test_engagement_panel_shows_ten_newest_total_hours_and_link(client_en, world):
    engagement = world["engagement"]
    today = today_kst()
    for n in range(12):
        make_activity(
            engagement, summary=f"세션 {n:02d}", hours=Decimal("1.5"), occurred_on=today - timedelta(days=n)
        )
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert 'id="activities"' in page
    assert "세션 00" in page and "세션 09" in page and "세션 10" not in page
    assert "Activities recorded: 12 · total hours: 18" in page
    assert f"/firms/{world['firm'].id}/activities?engagement={engagement.id}" in page
    assert f"/engagements/{engagement.id}/activities/new" in page


def test_engagement_panel_is_read_only_for_an_empty_engagement(client_en, world):
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/engagements/{world['engagement'].id}").get_data(as_text=True)
    assert "No activities recorded yet." in page


def test_firm_panel_shows_five_newest(client_en, world):
    today = today_kst()
    for n in range(7):
        make_activity(world["engagement"], summary=f"상담 {n}", occurred_on=today - timedelta(days=n))
    login(client_en, world["manager"].email)
    page = client_en.get(f"/firms/{world['firm'].id}").get_data(as_text=True)
    assert 'id="activities"' in page
    assert "상담 0" in page and "상담 4" in page and "상담 5" not in page
    assert "All activities (7)" in page
    assert f"/firms/{world['firm'].id}/activities/new" in page


def test_korean_page_renders(client, world):
    make_activity(world["engagement"])
    login(client, world["coordinator"].email)
    assert client.get(f"/firms/{world['firm'].id}/activities").status_code == 200
    assert client.get(f"/engagements/{world['engagement'].id}/activities/new").status_code == 200
