"""Milestone reminders: D-7, D-1 and weekly overdue, each once; catch-up after downtime; business days;
recipients per owner; Korean and English texts; the CLI; and delivery through the outbox."""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.core.db import utcnow
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.notices import outbox, reminders
from crm.notices.models import Delivery, DeliveryStatus, Heartbeat, Notice, NoticeKind, Reminder, ReminderRule
from crm.notices.reminders import due_reminder, is_business_day, run_sweep
from crm.programmes.models import Programme
from tests.conftest import login, post_form
from tests.factories import (
    make_contact,
    make_engagement,
    make_firm,
    make_institution,
    make_milestone,
    make_programme,
    make_programme_year,
    make_user,
)
from tests.statements import recorded_statements

DAY = date(2026, 6, 16)  # a Tuesday, no holiday near it


@dataclass
class World:
    programme: Programme
    coordinator: object
    engagement: object
    contact: object


@pytest.fixture
def world(app_ctx) -> World:
    coordinator = make_user(Role.coordinator, email="coordinator@institution.example")
    programme = make_programme(institution=coordinator.institution)
    firm = make_firm(name="(주)울산정밀")
    contact = make_contact(firm, email="ceo@ulsan.example", name="김대표")
    engagement = make_engagement(
        programme,
        firm,
        status=EngagementStatus.in_progress,
        coordinator=coordinator,
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 11, 30),
    )
    return World(programme, coordinator, engagement, contact)


def _milestone(world: World, due_on: date, **kw) -> Milestone:
    return make_milestone(world.engagement, due_on=due_on, **kw)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count(model.id)))


def _keys(milestone: Milestone) -> list[tuple[ReminderRule, date]]:
    rows = db.session.scalars(
        sa.select(Reminder)
        .where(Reminder.milestone_id == milestone.id)
        .order_by(Reminder.due_on, Reminder.id)
    )
    return [(row.rule, row.due_on) for row in rows]


def _deliveries(milestone: Milestone) -> list[Delivery]:
    return list(
        db.session.scalars(
            sa.select(Delivery)
            .join(Notice, Delivery.notice_id == Notice.id)
            .where(Notice.subject_type == "milestones", Notice.subject_id == milestone.id)
            .order_by(Delivery.id)
        )
    )


def _sweep_days(first: date, last: date) -> dict[date, int]:
    """Runs the sweep every day from first to last; the days on which it created something."""
    created = {}
    day = first
    while day <= last:
        result = run_sweep(day)
        if result.created:
            created[day] = result.created
        day += timedelta(days=1)
    return created


# --- The rules ---------------------------------------------------------------------------------------------


def test_the_rule_of_the_day():
    due = date(2026, 6, 30)
    assert due_reminder(due, due - timedelta(days=8)) is None
    assert due_reminder(due, due - timedelta(days=7)) == (ReminderRule.d7, due)
    assert due_reminder(due, due - timedelta(days=2)) == (ReminderRule.d7, due)
    assert due_reminder(due, due - timedelta(days=1)) == (ReminderRule.d1, due)
    assert due_reminder(due, due) == (ReminderRule.d1, due)
    assert due_reminder(due, due + timedelta(days=1)) == (ReminderRule.overdue, date(2026, 7, 1))
    assert due_reminder(due, due + timedelta(days=7)) == (ReminderRule.overdue, date(2026, 7, 1))
    assert due_reminder(due, due + timedelta(days=8)) == (ReminderRule.overdue, date(2026, 7, 8))
    assert due_reminder(due, due + timedelta(days=20)) == (ReminderRule.overdue, date(2026, 7, 15))


def test_d7_d1_and_overdue_each_once_and_a_second_run_sends_nothing_new(world):
    d7 = _milestone(world, DAY + timedelta(days=7), title="중간보고")
    d1 = _milestone(world, DAY + timedelta(days=1), title="결과보고서 제출")
    late = _milestone(world, DAY - timedelta(days=1), title="착수보고", owner=MilestoneOwner.staff)
    _milestone(world, DAY + timedelta(days=8), title="아직 먼 일정")

    result = run_sweep(DAY)

    assert result.created == 3
    assert dict(result.by_rule) == {ReminderRule.d7: 1, ReminderRule.d1: 1, ReminderRule.overdue: 1}
    assert _keys(d7) == [(ReminderRule.d7, d7.due_on)]
    assert _keys(d1) == [(ReminderRule.d1, d1.due_on)]
    assert _keys(late) == [(ReminderRule.overdue, DAY)]
    assert result.deliveries == _count(Delivery) == 3  # the contact twice, the coordinator once
    notices = db.session.scalars(sa.select(Notice)).all()
    assert {n.kind for n in notices} == {NoticeKind.reminder}
    assert {n.firm_id for n in notices} == {world.engagement.firm_id}
    reminder = db.session.scalar(sa.select(Reminder).where(Reminder.milestone_id == d7.id))
    assert db.session.get(Notice, reminder.notice_id).subject_id == d7.id
    heartbeat = db.session.scalar(sa.select(Heartbeat).where(Heartbeat.name == "sweep"))
    assert heartbeat.detail == {"day": DAY.isoformat(), "created": 3}

    again = run_sweep(DAY)

    assert again.created == 0 and again.deliveries == 0
    assert (_count(Reminder), _count(Notice), _count(Delivery)) == (3, 3, 3)


def test_one_d7_over_the_week_then_one_d1_then_the_weekly_overdue(world):
    milestone = _milestone(world, DAY + timedelta(days=7))

    created = _sweep_days(DAY, DAY + timedelta(days=7 + 16))

    assert created == {
        DAY: 1,  # D-7
        DAY + timedelta(days=6): 1,  # D-1
        DAY + timedelta(days=8): 1,  # the first overdue day
        DAY + timedelta(days=15): 1,  # a week later
        DAY + timedelta(days=22): 1,  # and again
    }
    due = milestone.due_on
    assert _keys(milestone) == [
        (ReminderRule.d7, due),
        (ReminderRule.d1, due),
        (ReminderRule.overdue, due + timedelta(days=1)),
        (ReminderRule.overdue, due + timedelta(days=8)),
        (ReminderRule.overdue, due + timedelta(days=15)),
    ]


def test_catch_up_after_five_days_down_sends_what_is_still_relevant_once(world):
    start = DAY
    was_d7 = _milestone(world, start + timedelta(days=7), title="D-7 at the last run")
    comes_near = _milestone(world, start + timedelta(days=8), title="8 days away at the last run")
    passes = _milestone(world, start + timedelta(days=2), title="due during the downtime")
    long_late = _milestone(world, start - timedelta(days=10), title="long overdue")
    run_sweep(start)
    assert _keys(was_d7) == [(ReminderRule.d7, was_d7.due_on)]
    assert _keys(comes_near) == []
    assert _keys(passes) == [(ReminderRule.d7, passes.due_on)]
    assert _keys(long_late) == [(ReminderRule.overdue, start - timedelta(days=2))]

    back = start + timedelta(days=6)  # five days without a sweep
    result = run_sweep(back)

    assert result.created == 4  # one per milestone, however many days were missed
    assert _keys(was_d7) == [(ReminderRule.d7, was_d7.due_on), (ReminderRule.d1, was_d7.due_on)]
    # Never swept at D-7 and still two days away: its D-7 reminder goes out now, once.
    assert _keys(comes_near) == [(ReminderRule.d7, comes_near.due_on)]
    # Its D-1 and due day passed unseen: only the first overdue step, no stale D-1.
    assert _keys(passes) == [
        (ReminderRule.d7, passes.due_on),
        (ReminderRule.overdue, passes.due_on + timedelta(days=1)),
    ]
    # The overdue step of the missed week, not one per missed day.
    assert _keys(long_late) == [
        (ReminderRule.overdue, start - timedelta(days=2)),
        (ReminderRule.overdue, start + timedelta(days=5)),
    ]
    # Back to normal the next day: only what is due then (the D-1 of the milestone first seen at D-2).
    assert run_sweep(back + timedelta(days=1)).created == 1
    assert _keys(comes_near)[-1] == (ReminderRule.d1, comes_near.due_on)


def test_a_milestone_first_seen_at_d1_never_gets_a_stale_d7(world):
    milestone = _milestone(world, DAY + timedelta(days=1))
    run_sweep(DAY)
    run_sweep(DAY + timedelta(days=1))
    assert _keys(milestone) == [(ReminderRule.d1, milestone.due_on)]


def test_the_unique_key_keeps_a_second_sweep_from_sending_what_it_read_as_unsent(world, monkeypatch):
    milestone = _milestone(world, DAY + timedelta(days=7))
    # A concurrent sweep that read before the first one committed: its reminder row is skipped, and the
    # notice it had written for it is taken back, so nothing goes out twice.
    read_too_early = reminders._due_reminders(DAY, True)
    run_sweep(DAY)
    monkeypatch.setattr(reminders, "_due_reminders", lambda day, business_day: read_too_early)
    result = run_sweep(DAY)
    assert (result.created, result.deliveries) == (0, 0)
    assert _keys(milestone) == [(ReminderRule.d7, milestone.due_on)]
    assert (_count(Notice), _count(Delivery)) == (1, 1)


def test_done_waived_and_ended_engagements_get_nothing(world):
    due = DAY + timedelta(days=1)
    done = _milestone(world, due, done_at=utcnow())
    waived = _milestone(world, due, waived_at=utcnow(), waive_reason="협약 변경")
    silent = []
    for status in (EngagementStatus.cancelled, EngagementStatus.terminated):
        engagement = make_engagement(world.programme, make_firm(), status=status)
        silent.append(make_milestone(engagement, due_on=due))
    closed = make_engagement(world.programme, make_firm(), status=EngagementStatus.closed)
    survey = make_milestone(closed, due_on=due, title="성과조사 1차")

    result = run_sweep(DAY)

    assert result.created == 1
    assert _keys(survey) == [(ReminderRule.d1, due)]
    for milestone in (done, waived, *silent):
        assert _keys(milestone) == []


def test_the_rule_in_sql_matches_the_rule_in_python_on_every_day_around_the_deadline(world):
    # The sweep computes the rule and day key in SQL (date arithmetic differs by database); due_reminder
    # is the reference, for deadlines from a month overdue to more than a week away.
    milestones = [_milestone(world, DAY + timedelta(days=offset)) for offset in range(-30, 11)]

    result = run_sweep(DAY)

    for milestone in milestones:
        due = due_reminder(milestone.due_on, DAY)
        assert _keys(milestone) == ([due] if due else []), milestone.due_on
    assert result.created == sum(1 for m in milestones if due_reminder(m.due_on, DAY))


def _due_milestones(world: World, count: int) -> None:
    """`count` milestones with a reminder due on DAY, of firm and staff, in English and Korean, some of
    engagements without a coordinator (their consortium's manager is reminded)."""
    for n in range(count):
        firm = make_firm()
        make_contact(firm)
        make_user(Role.firm_user, firm=firm, locale="en" if n % 2 else "ko")
        engagement = make_engagement(
            world.programme,
            firm,
            status=EngagementStatus.in_progress,
            coordinator=world.coordinator if n % 3 else None,
        )
        owner = MilestoneOwner.staff if n % 3 == 0 or n % 2 else MilestoneOwner.firm
        make_milestone(engagement, due_on=DAY + timedelta(days=n % 10 - 2), owner=owner)
    db.session.flush()


def test_the_sweeps_statements_do_not_grow_with_the_reminders_it_sends(world):
    from crm.notices.health import record_heartbeat

    record_heartbeat("sweep")  # as after the first sweep ever, which inserts the row
    make_user(Role.consortium_manager, consortium=world.programme.programme_year.consortium)
    _due_milestones(world, 3)
    with recorded_statements() as few:
        assert run_sweep(DAY).created == 3
    _due_milestones(world, 30)
    with recorded_statements() as many:
        result = run_sweep(DAY)

    # 20 staff milestones (n divisible by 3 or odd) to one person each; 10 firm ones to a contact and a user
    assert (result.created, result.deliveries) == (30, 20 + 10 * 2)
    assert len(many) == len(few), "\n\n".join(many)
    assert len(many) <= 12


# --- Business days -----------------------------------------------------------------------------------------


def test_korean_public_holidays_and_weekends_are_not_business_days():
    assert is_business_day(date(2026, 10, 8))  # Thursday
    assert not is_business_day(date(2026, 10, 9))  # 한글날, a Friday
    assert not is_business_day(date(2026, 9, 25))  # 추석
    assert not is_business_day(date(2026, 10, 5))  # 개천절 substitute holiday, a Monday
    assert not is_business_day(date(2026, 10, 10)) and not is_business_day(date(2026, 10, 11))


def test_a_weekend_d1_moves_to_the_next_business_day(world):
    world.programme.reminders_on_business_days = True
    monday = date(2026, 5, 18)
    held = _milestone(world, monday, title="주말 직후 마감")
    every_day = make_milestone(
        make_engagement(make_programme(), make_firm(), status=EngagementStatus.in_progress), due_on=monday
    )
    assert _sweep_days(date(2026, 5, 11), date(2026, 5, 15)) == {date(2026, 5, 11): 2}  # both D-7

    saturday = run_sweep(date(2026, 5, 16))
    sunday = run_sweep(date(2026, 5, 17))

    assert not saturday.business_day and saturday.held_back == 1 and saturday.created == 0
    assert sunday.created == 1 and sunday.held_back == 1
    assert _keys(every_day) == [(ReminderRule.d7, monday), (ReminderRule.d1, monday)]  # D-1 on Sunday
    assert _keys(held) == [(ReminderRule.d7, monday)]

    result = run_sweep(monday)

    assert result.business_day and result.created == 1
    assert _keys(held) == [(ReminderRule.d7, monday), (ReminderRule.d1, monday)]  # on the due day itself
    assert run_sweep(monday).created == 0


def test_a_d7_on_a_public_holiday_goes_out_on_the_next_business_day(world):
    world.programme.reminders_on_business_days = True
    due = date(2026, 10, 16)  # D-7 is 한글날 (Friday 9 October), then a weekend
    milestone = _milestone(world, due)

    created = _sweep_days(date(2026, 10, 9), date(2026, 10, 11))
    assert created == {}
    assert _keys(milestone) == []

    assert run_sweep(date(2026, 10, 12)).created == 1
    assert _keys(milestone) == [(ReminderRule.d7, due)]
    assert _sweep_days(date(2026, 10, 13), date(2026, 10, 14)) == {}


def test_an_overdue_step_on_a_holiday_waits_for_the_next_business_day(world):
    world.programme.reminders_on_business_days = True
    milestone = _milestone(world, date(2026, 9, 23))  # first overdue day: 9/24, 추석 연휴
    assert _sweep_days(date(2026, 9, 24), date(2026, 9, 27)) == {}
    assert run_sweep(date(2026, 9, 28)).created == 1
    assert _keys(milestone) == [(ReminderRule.overdue, date(2026, 9, 24))]


# --- Recipients and texts ----------------------------------------------------------------------------------


def test_staff_milestones_go_to_the_coordinator_only(world):
    milestone = _milestone(world, DAY + timedelta(days=7), owner=MilestoneOwner.staff)
    run_sweep(DAY)
    assert [d.recipient for d in _deliveries(milestone)] == ["coordinator@institution.example"]
    assert _deliveries(milestone)[0].user_id == world.coordinator.id


def test_without_an_active_coordinator_the_consortium_managers_are_reminded(world):
    consortium = world.programme.programme_year.consortium
    manager = make_user(Role.consortium_manager, consortium=consortium, email="manager@consortium.example")
    make_user(Role.consortium_manager, consortium=consortium, is_active=False)
    make_user(Role.consortium_manager, email="other@consortium.example")  # another consortium
    world.coordinator.is_active = False
    milestone = _milestone(world, DAY + timedelta(days=7), owner=MilestoneOwner.staff)
    run_sweep(DAY)
    assert [d.recipient for d in _deliveries(milestone)] == [manager.email]


def test_a_reminder_with_nobody_to_go_to_is_recorded_without_a_notice(world):
    world.engagement.coordinator = None  # and the consortium has no manager
    milestone = _milestone(world, DAY + timedelta(days=7), owner=MilestoneOwner.staff)
    result = run_sweep(DAY)
    assert (result.created, result.deliveries) == (1, 0)
    reminder = db.session.scalar(sa.select(Reminder).where(Reminder.milestone_id == milestone.id))
    assert reminder.notice_id is None and _count(Notice) == 0
    assert run_sweep(DAY).created == 0


def test_firm_milestones_go_to_consenting_contacts_and_verified_firm_users(world):
    firm = world.engagement.firm
    make_contact(firm, email="staff@ulsan.example", is_primary=False)
    make_contact(firm, email="no-consent@ulsan.example", is_primary=False, consent_privacy_at=None)
    make_contact(firm, email="primary-no-consent@ulsan.example", consent_privacy_at=None)
    make_contact(firm, email="", is_primary=False)
    make_contact(firm, email="CEO@ulsan.example", is_primary=False)  # the same address again
    user = make_user(Role.firm_user, firm=firm, email="portal@ulsan.example")
    make_user(Role.firm_user, firm=firm, email="unverified@ulsan.example", email_verified_at=None)
    make_user(Role.firm_user, firm=firm, email="inactive@ulsan.example", is_active=False)
    make_contact(make_firm(), email="other-firm@example.com")
    milestone = _milestone(world, DAY + timedelta(days=7), owner=MilestoneOwner.firm)

    run_sweep(DAY)

    deliveries = _deliveries(milestone)
    assert sorted(d.recipient for d in deliveries) == [
        "ceo@ulsan.example",
        "portal@ulsan.example",
        "staff@ulsan.example",
    ]
    by_address = {d.recipient: d for d in deliveries}
    assert by_address["portal@ulsan.example"].user_id == user.id
    assert by_address["ceo@ulsan.example"].contact_id == world.contact.id
    assert "coordinator@institution.example" not in by_address


def test_texts_follow_the_recipients_language_with_date_d_n_and_link(world):
    make_user(Role.firm_user, firm=world.engagement.firm, email="en@ulsan.example", locale="en", name="Jane")
    milestone = _milestone(world, DAY + timedelta(days=7), title="중간보고서 제출")  # Tuesday 23 June
    staff = _milestone(world, DAY - timedelta(days=3), title="현장점검", owner=MilestoneOwner.staff)

    run_sweep(DAY)

    by_address = {d.recipient: d for d in _deliveries(milestone)}
    korean, english = by_address["ceo@ulsan.example"], by_address["en@ulsan.example"]
    programme = world.programme.name
    path = f"/portal/engagements/{world.engagement.id}"
    assert (korean.locale, english.locale) == ("ko", "en")
    assert korean.subject == "[AX CRM] 마감 D-7: 중간보고서 제출 – (주)울산정밀"
    assert korean.body.startswith("김대표님, 안녕하세요.\n\n아래 일정의 기한이 7일 남았습니다.\n")
    assert "- 기한: 2026-06-23 (화), D-7" in korean.body
    assert f"- 사업: {programme}" in korean.body and f"- 바로가기: {path}" in korean.body
    assert "기업 포털에 로그인하여" in korean.body
    assert english.subject == "[AX CRM] Due in 7 days: 중간보고서 제출 – (주)울산정밀"
    assert english.body.startswith("Hello Jane,\n\nThe deadline below is in 7 days.\n")
    assert "- Due: 2026-06-23 (Tue), D-7" in english.body and f"- Link: {path}" in english.body
    notice = korean.notice
    assert notice.subject == korean.subject and "아래 일정의 기한이 7일 남았습니다." in notice.body

    [to_coordinator] = _deliveries(staff)
    assert to_coordinator.subject == "[AX CRM] 기한 경과(D+3): 현장점검 – (주)울산정밀"
    assert "아래 일정의 기한이 3일 지났습니다." in to_coordinator.body
    assert f"- 바로가기: /engagements/{world.engagement.id}\n" in to_coordinator.body
    assert "매주 다시 안내됩니다" in to_coordinator.body


def test_a_d1_caught_up_on_the_due_day_says_today(world):
    milestone = _milestone(world, DAY, title="정산서류 제출")
    run_sweep(DAY)
    [delivery] = _deliveries(milestone)
    assert delivery.subject == "[AX CRM] 오늘 마감: 정산서류 제출 – (주)울산정밀"
    assert "아래 일정의 기한이 오늘입니다." in delivery.body and "D-Day" in delivery.body


# --- Delivery through the outbox ---------------------------------------------------------------------------


@pytest.fixture
def outbox_dir(app, tmp_path: Path):
    previous = app.config["OUTBOX_DIR"], app.config.get("SMTP_URL")
    app.config["OUTBOX_DIR"] = str(tmp_path)
    app.config["SMTP_URL"] = None
    try:
        yield tmp_path
    finally:
        app.config["OUTBOX_DIR"], app.config["SMTP_URL"] = previous


def test_the_sweeps_deliveries_are_sent_by_the_outbox(world, outbox_dir):
    make_contact(world.engagement.firm, email="pm@ulsan.example", is_primary=False)
    milestone = _milestone(world, DAY + timedelta(days=1), title="최종보고")
    result = run_sweep(DAY)
    assert result.deliveries == 2
    # Written in bulk, yet as queue_notice writes them: queued, never tried, the deterministic Message-ID.
    for delivery in _deliveries(milestone):
        assert (delivery.status, delivery.attempts, delivery.last_error) == (DeliveryStatus.queued, 0, "")
        assert delivery.message_id == outbox.message_id_for(delivery)

    assert outbox.relay(enqueue=lambda delivery_id: outbox.send_delivery(delivery_id)) == 2

    files = sorted(outbox_dir.glob("*.eml"))
    assert len(files) == 2
    messages = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert sorted(str(m["To"]) for m in messages) == [
        "김담당 <pm@ulsan.example>",
        "김대표 <ceo@ulsan.example>",
    ]
    assert {m["Subject"] for m in messages} == {"[AX CRM] 내일 마감: 최종보고 – (주)울산정밀"}
    assert all("아래 일정의 기한이 내일입니다." in m.get_content() for m in messages)
    db.session.expire_all()
    assert {d.status for d in _deliveries(milestone)} == {DeliveryStatus.sent}
    run_sweep(DAY)
    assert outbox.relay(enqueue=lambda delivery_id: outbox.send_delivery(delivery_id)) == 0
    assert len(list(outbox_dir.glob("*.eml"))) == 2


# --- The command line --------------------------------------------------------------------------------------


def test_cli_runs_the_sweep_for_a_date(app, world):
    _milestone(world, date(2026, 5, 15))
    _milestone(world, date(2026, 5, 1), owner=MilestoneOwner.staff)
    db.session.flush()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["reminders", "run", "--date", "2026-05-08"])

    assert result.exit_code == 0, result.output
    assert "2026-05-08: 2 reminder(s) created (d7 1, d1 0, overdue 1), 2 deliveries queued" in result.output
    assert _count(Reminder) == 2
    again = runner.invoke(args=["reminders", "run", "--date", "2026-05-08"])
    assert "2026-05-08: 0 reminder(s) created (d7 0, d1 0, overdue 0)" in again.output
    assert _count(Reminder) == 2


def test_cli_tells_when_a_business_day_programme_waits(app, world):
    world.programme.reminders_on_business_days = True
    _milestone(world, date(2026, 10, 16))
    db.session.flush()
    result = app.test_cli_runner().invoke(args=["reminders", "run", "--date", "2026-10-09"])
    assert result.exit_code == 0, result.output
    assert "0 reminder(s) created" in result.output
    assert "Not a business day: 1 milestone(s)" in result.output


@pytest.mark.parametrize("value", ["2026-02-30", "08.05.2026", "tomorrow"])
def test_cli_rejects_a_bad_date(app, app_ctx, value):
    result = app.test_cli_runner().invoke(args=["reminders", "run", "--date", value])
    assert result.exit_code == 2
    assert f"Invalid value for '--date': “{value}” is not a date; use YYYY-MM-DD" in result.output
    assert _count(Reminder) == 0


# --- The programme setting ---------------------------------------------------------------------------------


def test_programme_form_saves_and_shows_the_business_day_setting(client_en):
    manager = make_user(Role.consortium_manager)
    year = make_programme_year(manager.consortium)
    institution = make_institution(year.consortium)
    login(client_en, manager.email)
    page = client_en.get(f"/programmes/years/{year.id}/programmes/new").get_data(as_text=True)
    assert 'name="reminders_on_business_days"' in page and "Send reminders on business days only" in page
    form = {
        "name": "AI 솔루션 도입",
        "institution_id": str(institution.id),
        "track": "adoption",
        "target": "40",
        "exclusivity_years": "3",
        "unit": "",
        "counting_point": "",
        "reminders_on_business_days": "y",
    }
    response = post_form(client_en, f"/programmes/years/{year.id}/programmes/new", form)
    assert response.status_code == 302, response.get_data(as_text=True)
    programme = db.session.scalar(sa.select(Programme).where(Programme.programme_year_id == year.id))
    assert programme.reminders_on_business_days is True
    assert "On business days only" in client_en.get(f"/programmes/{programme.id}").get_data(as_text=True)

    del form["reminders_on_business_days"]
    response = post_form(client_en, f"/programmes/{programme.id}/edit", form)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Programme, programme.id).reminders_on_business_days is False
    assert "Every day" in client_en.get(f"/programmes/{programme.id}").get_data(as_text=True)


# --- Concurrency (PostgreSQL) ------------------------------------------------------------------------------


def test_two_concurrent_sweeps_create_each_reminder_once(app, committed):
    from crm.notices.health import record_heartbeat

    coordinator = make_user(Role.coordinator)
    engagement = make_engagement(
        make_programme(institution=coordinator.institution),
        make_firm(),
        status=EngagementStatus.in_progress,
        coordinator=coordinator,
    )
    make_contact(engagement.firm)
    for offset in (7, 1, -1):
        make_milestone(engagement, due_on=DAY + timedelta(days=offset))
    db.session.commit()
    record_heartbeat("sweep")  # the heartbeat row exists, as after the first sweep ever
    db.session.remove()

    barrier = threading.Barrier(2, timeout=10)
    real_due_reminders = reminders._due_reminders

    def due_reminders_then_wait(day, business_day):
        dues = real_due_reminders(day, business_day)
        barrier.wait()  # both sweeps have read "nothing sent yet" before either writes
        return dues

    results, errors = [], []

    def sweep():
        with app.app_context():
            try:
                results.append(run_sweep(DAY))
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)
            finally:
                db.session.remove()

    reminders._due_reminders = due_reminders_then_wait
    try:
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        reminders._due_reminders = real_due_reminders

    assert errors == []
    assert sorted(r.created for r in results) == [0, 3]
    assert _count(Reminder) == 3 and _count(Notice) == 3 and _count(Delivery) == 3


# --- Demo data ---------------------------------------------------------------------------------------------


def test_demo_reminder_history_leaves_the_seeds_own_sweep_only_todays_reminders(app):
    """The demo writes two weeks of reminder history (rows without notices) and then runs today's sweep, so
    the staff pages show no late-sweep banner and only today's reminders are sent."""
    from crm.core.time import today_kst
    from crm.demo.seed import seed_demo
    from crm.notices.models import Heartbeat

    with app.app_context():
        assert seed_demo() is True
        today = today_kst()
        assert db.session.scalar(
            sa.select(sa.func.count(Programme.id)).where(Programme.reminders_on_business_days.is_(True))
        )
        history = db.session.scalar(sa.select(sa.func.count(Reminder.id)).where(Reminder.notice_id.is_(None)))
        sent = db.session.scalars(sa.select(Reminder).where(Reminder.notice_id.is_not(None))).all()
        assert history > 0  # today may have nothing due at D-7, D-1 or a weekly overdue mark
        assert db.session.scalar(sa.select(Heartbeat.seen_at).where(Heartbeat.name == "sweep")) is not None

        for reminder in sent:
            milestone = db.session.get(Milestone, reminder.milestone_id)
            if milestone.engagement.programme.reminders_on_business_days:
                continue  # after a weekend it catches up, which is allowed
            days_left = (milestone.due_on - today).days
            assert (
                (reminder.rule is ReminderRule.d7 and days_left == 7)
                or (reminder.rule is ReminderRule.d1 and days_left == 1)
                or (reminder.rule is ReminderRule.overdue and reminder.due_on == today)
            ), (reminder.rule, milestone.due_on, today)
        assert run_sweep(today).created == 0
