"""Personal iCal feeds: made once, shown once, only a hash kept; the events each role's feed carries; and
every feed that is not there (unknown, revoked, replaced, deactivated) answering the same bare 404."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from config import TestConfig
from crm import create_app
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.calendar import operations
from crm.calendar.models import CalendarToken
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.milestones.models import MilestoneOwner
from tests.conftest import DATABASE_URL, IsolatedClient, login, post_form
from tests.factories import (
    make_calendar_token,
    make_consortium,
    make_engagement,
    make_firm,
    make_institution,
    make_milestone,
    make_programme,
    make_user,
)

FEED_URL = re.compile(r'value="(http://localhost/calendar/([A-Za-z0-9_-]+)\.ics)"')


@pytest.fixture
def world(app):
    """One consortium with two institutions; a coordinator with an engagement of its own, a colleague's
    engagement in the same institution, one of the other institution, and another consortium's."""
    today = today_kst()
    consortium = make_consortium()
    institution = make_institution(consortium)
    other_institution = make_institution(consortium)
    coordinator = make_user(Role.coordinator, institution=institution, locale="en")
    colleague = make_user(Role.coordinator, institution=institution)
    programme = make_programme(institution=institution, name="AI 솔루션 도입 지원")
    other_programme = make_programme(
        programme_year=programme.programme_year, institution=other_institution, name="AI 바우처"
    )
    firm = make_firm(consortium, name="(주)한빛정밀")
    mine = make_engagement(programme, firm, coordinator=coordinator, status=EngagementStatus.in_progress)
    colleagues = make_engagement(programme, make_firm(consortium, name="(주)동해기계"), coordinator=colleague)
    elsewhere = make_engagement(other_programme, make_firm(consortium, name="(주)태화로봇"))
    cancelled = make_engagement(programme, firm, coordinator=coordinator, status=EngagementStatus.cancelled)
    foreign = make_engagement(make_programme(), make_firm(name="(주)타지역"))

    def milestone(engagement, title, days, **kw):
        return make_milestone(engagement, title=title, due_on=today + timedelta(days=days), **kw)

    m = {
        "upcoming": milestone(mine, "착수보고", 10, owner=MilestoneOwner.firm),
        "overdue": milestone(mine, "중간보고", -30, owner=MilestoneOwner.staff),
        "too_old": milestone(mine, "사전점검", -91),
        "edge": milestone(mine, "협약체결", -90),
        "done": milestone(mine, "현장방문", 3, done_at=utcnow()),
        "waived": milestone(mine, "추가점검", 4, waived_at=utcnow()),
        "cancelled": milestone(cancelled, "취소된 과제", 5),
        "colleague": milestone(colleagues, "동료 과제 보고", 6),
        "elsewhere": milestone(elsewhere, "다른 기관 보고", 7),
        "foreign": milestone(foreign, "타 사업단 보고", 8),
    }
    return {
        "today": today,
        "consortium": consortium,
        "institution": institution,
        "coordinator": coordinator,
        "colleague": colleague,
        "firm": firm,
        "engagements": {"mine": mine, "colleagues": colleagues, "elsewhere": elsewhere},
        "milestones": m,
    }


def _parse(body: bytes) -> Calendar:
    return Calendar.from_ical(body)


def _events(calendar: Calendar) -> dict[str, object]:
    return {str(event["uid"]): event for event in calendar.walk("VEVENT")}


def _uids(world, *names: str) -> set[str]:
    return {f"milestone-{world['milestones'][name].id}@axcrm" for name in names}


def _feed(client, secret: str):
    return client.get(f"/calendar/{secret}.ics")


def _create(client, data: dict | None = None):
    return post_form(client, "/calendar/feed", data or {}, page="/calendar")


def _secret_on(response) -> str:
    return FEED_URL.search(response.get_data(as_text=True))[2]


def _events_logged(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


# --- making, showing and replacing the feed -----------------------------------------------------------


def test_create_shows_the_address_once_and_stores_only_its_hash(client_en, world):
    coordinator = world["coordinator"]
    login(client_en, coordinator.email)
    page = client_en.get("/calendar")
    assert page.status_code == 200
    assert "You have no calendar feed yet." in page.get_data(as_text=True)

    response = _create(client_en)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "shown only once" in html
    secret = _secret_on(response)
    assert len(secret) >= 43
    assert f'href="webcal://localhost/calendar/{secret}.ics"' in html

    [token] = db.session.scalars(sa.select(CalendarToken).where(CalendarToken.user_id == coordinator.id))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.revoked_at is None and token.last_used_at is None
    assert secret not in repr(
        db.session.execute(sa.select(CalendarToken.__table__).where(CalendarToken.id == token.id)).one()
    )
    [event] = _events_logged("calendar_feed.create")
    assert event.object_id == token.id and event.actor_id == coordinator.id
    assert secret not in str(event.changes) and token.token_hash not in str(event.changes)

    again = client_en.get("/calendar").get_data(as_text=True)
    assert secret not in again
    assert "In use" in again and "Revoke this feed" in again
    assert _feed(client_en, secret).status_code == 200


def test_a_new_feed_needs_confirmation_and_revokes_the_old(client_en, world):
    login(client_en, world["coordinator"].email)
    first = _secret_on(_create(client_en))

    refused = _create(client_en)
    assert refused.status_code == 422
    assert "Confirm that the current address may stop working" in refused.get_data(as_text=True)
    assert _feed(client_en, first).status_code == 200

    replaced = _create(client_en, {"replace": "y"})
    assert replaced.status_code == 200
    second = _secret_on(replaced)
    assert second != first
    assert _feed(client_en, first).status_code == 404
    assert _feed(client_en, second).status_code == 200
    tokens = list(
        db.session.scalars(
            sa.select(CalendarToken)
            .where(CalendarToken.user_id == world["coordinator"].id)
            .order_by(CalendarToken.id)
        )
    )
    assert [t.revoked_at is None for t in tokens] == [False, True]
    [revoked] = _events_logged("calendar_feed.revoke")
    assert revoked.object_id == tokens[0].id and revoked.changes["reason"] == "replaced"
    assert _events_logged("calendar_feed.create")[-1].changes["replaced_id"] == tokens[0].id


def test_revoking_asks_first_then_the_address_gives_404(client_en, world):
    login(client_en, world["coordinator"].email)
    secret = _secret_on(_create(client_en))

    confirm = client_en.get("/calendar/feed/revoke")
    assert confirm.status_code == 200
    assert "Revoke your calendar feed now?" in confirm.get_data(as_text=True)
    assert _feed(client_en, secret).status_code == 200  # looking at the confirmation changes nothing

    response = post_form(client_en, "/calendar/feed/revoke", {})
    assert response.status_code == 302 and response.headers["Location"] == "/calendar"
    assert _feed(client_en, secret).status_code == 404
    [event] = _events_logged("calendar_feed.revoke")
    assert event.changes == {"user_id": world["coordinator"].id, "reason": "revoked"}
    assert "You have no calendar feed yet." in client_en.get("/calendar").get_data(as_text=True)

    twice = post_form(client_en, "/calendar/feed/revoke", {}, page="/calendar")
    assert twice.status_code == 422
    assert "You have no calendar feed to revoke." in twice.get_data(as_text=True)


def test_only_the_user_itself_manages_its_feed(app_ctx, world):
    with pytest.raises(NotPermitted):
        operations.create_feed(world["coordinator"], world["colleague"])
    evaluator = make_user(Role.evaluator)
    with pytest.raises(NotPermitted):
        operations.create_feed(evaluator, evaluator)
    with pytest.raises(RuleViolation):
        operations.revoke_feed(world["coordinator"], world["coordinator"])
    operations.create_feed(world["coordinator"], world["coordinator"])
    with pytest.raises(ValidationFailed) as refused:
        operations.create_feed(world["coordinator"], world["coordinator"])
    assert "replace" in refused.value.fields


def test_the_database_keeps_one_live_feed_per_user(app_ctx, world):
    user = world["coordinator"]
    make_calendar_token(user, revoked_at=utcnow())
    make_calendar_token(user, revoked_at=utcnow())
    make_calendar_token(user)
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        make_calendar_token(user)


def test_roles_without_a_feed_are_refused(client, world):
    for role in (Role.evaluator, Role.national_viewer):
        browser = client.application.test_client()
        login(browser, make_user(role).email)
        assert browser.get("/calendar").status_code == 403


# --- what the feed says -------------------------------------------------------------------------------


def test_coordinator_feed_parses_with_its_own_engagements_milestones(client, world):
    secret = "coordinator-secret-0123456789abcdefghijklmnop"
    make_calendar_token(world["coordinator"], secret=secret)
    response = _feed(client, secret)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert "Set-Cookie" not in response.headers

    calendar = _parse(response.data)
    assert str(calendar["version"]) == "2.0"
    assert str(calendar["prodid"]) == operations.PRODID
    assert str(calendar["x-wr-calname"]) == "AX CRM 일정"
    assert str(calendar["x-wr-timezone"]) == "Asia/Seoul"
    events = _events(calendar)
    # open and overdue up to 90 days back; not done, waived, older, cancelled or anybody else's
    assert set(events) == _uids(world, "upcoming", "overdue", "edge")

    upcoming = world["milestones"]["upcoming"]
    event = events[f"milestone-{upcoming.id}@axcrm"]
    assert str(event["summary"]) == "[(주)한빛정밀] 착수보고"
    assert event.decoded("dtstart") == upcoming.due_on and not isinstance(event.decoded("dtstart"), datetime)
    assert event["dtstart"].params["VALUE"] == "DATE"
    assert event.decoded("dtend") == upcoming.due_on + timedelta(days=1)
    assert str(event["url"]) == f"http://localhost/engagements/{upcoming.engagement_id}#milestones"
    assert event.decoded("dtstamp").tzinfo is not None
    description = str(event["description"])  # the coordinator reads English
    assert "Programme: AI 솔루션 도입 지원" in description
    assert "Engagement status: In progress" in description
    assert "Milestone: Open, owed by Firm" in description and "Firm: (주)한빛정밀" in description

    overdue = events[f"milestone-{world['milestones']['overdue'].id}@axcrm"]
    assert "Milestone: Overdue, owed by Staff" in str(overdue["description"])
    assert b"DTSTART;VALUE=DATE:" + world["milestones"]["overdue"].due_on.strftime("%Y%m%d").encode() in (
        response.data
    )


def test_coordinator_without_cases_sees_its_institution(app_ctx, world):
    newcomer = make_user(Role.coordinator, institution=world["institution"])
    uids = set(_events(_parse(operations.calendar_for(newcomer))))
    assert uids == _uids(world, "upcoming", "overdue", "edge", "colleague")
    # a case of its own narrows the feed to it
    make_engagement(world["engagements"]["mine"].programme, make_firm(), coordinator=newcomer)
    assert set(_events(_parse(operations.calendar_for(newcomer)))) == set()


def test_manager_feed_holds_the_consortium(app_ctx, world):
    manager = make_user(Role.consortium_manager, consortium=world["consortium"])
    uids = set(_events(_parse(operations.calendar_for(manager))))
    assert uids == _uids(world, "upcoming", "overdue", "edge", "colleague", "elsewhere")


def test_admin_feed_holds_only_what_it_coordinates(app_ctx, world):
    admin = make_user(Role.admin)
    assert set(_events(_parse(operations.calendar_for(admin)))) == set()
    make_milestone(
        make_engagement(world["engagements"]["mine"].programme, make_firm(), coordinator=admin),
        due_on=world["today"],
    )
    assert len(_events(_parse(operations.calendar_for(admin)))) == 1


def test_firm_user_feed_holds_its_firms_milestones_without_the_firm_name(client, world):
    firm_user = make_user(Role.firm_user, firm=world["firm"], locale="en")
    other_firm_user = make_user(Role.firm_user, firm=make_firm())
    secret = "firm-secret-0123456789abcdefghijklmnopqrstuv"
    make_calendar_token(firm_user, secret=secret)
    response = _feed(client, secret)
    assert response.status_code == 200
    events = _events(_parse(response.data))
    # both the firm's and the staff's duties; not the cancelled engagement's
    assert set(events) == _uids(world, "upcoming", "overdue", "edge")
    upcoming = world["milestones"]["upcoming"]
    event = events[f"milestone-{upcoming.id}@axcrm"]
    assert str(event["summary"]) == "착수보고"
    assert "Firm:" not in str(event["description"])
    assert str(event["url"]) == f"http://localhost/portal/engagements/{upcoming.engagement_id}#milestones"
    assert set(_events(_parse(operations.calendar_for(other_firm_user)))) == set()


def test_dates_and_overdue_follow_korea_not_utc(app_ctx, world):
    """At 00:30 in Seoul it is still yesterday in UTC: a milestone due yesterday (KST) is overdue, and the
    event stays on its own day."""
    secret = "kst-secret-0123456789abcdefghijklmnopqrstuvw"
    make_calendar_token(world["coordinator"], secret=secret)
    due = world["milestones"]["upcoming"].due_on
    now = datetime(due.year, due.month, due.day, 15, 30, tzinfo=UTC)  # = due + 1 day, 00:30 KST
    assert today_kst(now) == due + timedelta(days=1)
    event_uid = f"milestone-{world['milestones']['upcoming'].id}@axcrm"
    event = _events(_parse(operations.feed_for(secret, now=now)))[event_uid]
    assert event.decoded("dtstart") == due
    assert "Milestone: Overdue" in str(event["description"])
    # one minute before midnight in Seoul it is still due today
    before = datetime(due.year, due.month, due.day, 14, 59, tzinfo=UTC)
    events = _events(_parse(operations.feed_for(secret, now=before)))
    assert "Milestone: Open" in str(
        events[f"milestone-{world['milestones']['upcoming'].id}@axcrm"]["description"]
    )


def test_the_feed_is_korean_unless_the_user_chose_otherwise(app_ctx, world):
    world["coordinator"].locale = None
    body = operations.calendar_for(world["coordinator"]).decode()
    assert "X-WR-CALNAME:AX CRM 일정" in body


# --- feeds that are not there -------------------------------------------------------------------------


def _not_found_signature(response) -> tuple:
    return (
        response.status_code,
        response.data,
        response.headers.get("Content-Type"),
        response.headers.get("Cache-Control"),
        "Set-Cookie" in response.headers,
    )


def test_revoked_and_unknown_tokens_get_the_same_404(client, world):
    secret = "revoked-secret-0123456789abcdefghijklmnopqrs"
    make_calendar_token(world["coordinator"], secret=secret, revoked_at=utcnow())
    revoked = _feed(client, secret)
    unknown = _feed(client, "never-issued-0123456789abcdefghijklmnopqrstu")
    assert revoked.status_code == 404
    assert _not_found_signature(revoked) == _not_found_signature(unknown)
    assert _not_found_signature(_feed(client, "x" * 500)) == _not_found_signature(unknown)


def test_a_deactivated_users_feed_gives_404(client, world):
    secret = "deactivated-secret-0123456789abcdefghijklmno"
    make_calendar_token(world["coordinator"], secret=secret)
    assert _feed(client, secret).status_code == 200
    world["coordinator"].is_active = False
    db.session.flush()
    gone = _feed(client, secret)
    assert _not_found_signature(gone) == _not_found_signature(_feed(client, "unknown-token"))


def test_a_user_moved_to_a_role_without_feeds_gets_404(client, world):
    secret = "evaluator-secret-0123456789abcdefghijklmnopq"
    make_calendar_token(world["coordinator"], secret=secret)
    world["coordinator"].role = Role.evaluator
    db.session.flush()
    assert _feed(client, secret).status_code == 404


def test_last_used_is_written_at_most_once_an_hour(app_ctx, world):
    secret = "touch-secret-0123456789abcdefghijklmnopqrstu"
    token = make_calendar_token(world["coordinator"], secret=secret)
    first = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
    operations.feed_for(secret, now=first)
    assert token.last_used_at == first
    operations.feed_for(secret, now=first + timedelta(minutes=59))
    assert token.last_used_at == first
    operations.feed_for(secret, now=first + timedelta(minutes=61))
    assert token.last_used_at == first + timedelta(minutes=61)


def test_an_unchanged_feed_answers_304(client, world):
    secret = "etag-secret-0123456789abcdefghijklmnopqrstuv"
    make_calendar_token(world["coordinator"], secret=secret)
    first = _feed(client, secret)
    etag = first.headers["ETag"]
    again = client.get(f"/calendar/{secret}.ics", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    world["milestones"]["upcoming"].title = "착수보고(변경)"
    db.session.flush()
    changed = client.get(f"/calendar/{secret}.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "착수보고(변경)" in changed.get_data(as_text=True)


def test_pages_render_in_korean_by_default(client, world):
    login(client, world["colleague"].email)
    page = client.get("/calendar")
    assert page.status_code == 200
    assert '<html lang="ko">' in page.get_data(as_text=True)
    assert client.get("/calendar/feed/revoke").status_code == 200


def test_firm_user_page_explains_its_scope(client_en, world):
    login(client_en, make_user(Role.firm_user, firm=world["firm"]).email)
    page = client_en.get("/calendar").get_data(as_text=True)
    assert "milestones of your firm's engagements" in page
    assert client_en.get("/calendar/feed/revoke").status_code == 200


@pytest.mark.parametrize("role", [Role.admin, Role.consortium_manager])
def test_staff_can_create_a_feed(client_en, world, role):
    user = (
        make_user(role, consortium=world["consortium"])
        if role is Role.consortium_manager
        else make_user(role)
    )
    login(client_en, user.email)
    response = _create(client_en)
    assert response.status_code == 200
    secret = _secret_on(response)
    assert _feed(client_en, secret).status_code == 200


def test_polling_is_limited_per_feed_not_per_address(app, world):
    """Calendar services fetch many users' feeds from a few addresses: one feed polled in a loop is slowed
    down, the others from the same address are not."""
    # A second app with rate limits on (the test configuration turns them off); it shares this test's
    # database connection, and the root conftest turns the shared limiter off again afterwards.
    limited = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, RATELIMIT_ENABLED=True)
    limited.test_client_class = IsolatedClient
    client = limited.test_client()
    busy, quiet = "busy-secret-0123456789abcdefghijklmnopqr", "quiet-secret-0123456789abcdefghijklmnop"
    make_calendar_token(world["coordinator"], secret=busy)
    make_calendar_token(world["colleague"], secret=quiet)
    statuses = [_feed(client, busy).status_code for _ in range(61)]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429
    assert _feed(client, quiet).status_code == 200
