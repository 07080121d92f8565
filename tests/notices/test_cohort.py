"""Cohort notices: audiences per source and filter within the composer's reach, marketing consent,
variables, preview, scheduling, cancelling, retrying, and the mail that really goes out."""

from __future__ import annotations

import email
import email.policy
import time as time_module
from datetime import time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.applications.models import ApplicationStatus
from crm.audit.models import AccessLog, AuditEvent
from crm.auth.models import Role
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import kst_to_utc, today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.notices import outbox
from crm.notices.audience import render, resolve, resolve_members, template_problems, unknown_variables
from crm.notices.cohort import NoticeData, cancel_notice, compose_notice, preview, retry_failed
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus
from crm.programmes.models import Track
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_engagement,
    make_firm,
    make_institution,
    make_milestone,
    make_programme,
    make_user,
)


@pytest.fixture
def world(app_ctx):
    """Consortium A: institutions 1 and 2, each with a programme and a call; consortium B elsewhere.
    Firm 1 (울산) applied and was submitted, has a consenting primary contact and a portal account;
    firm 2 (서울) was selected and its contact did not consent to marketing; firm 3 applied to the other
    institution's call."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    other_institution = make_institution(consortium)
    programme = make_programme(institution=institution, name="2026 울산 AI 솔루션 도입", track=Track.adoption)
    other_programme = make_programme(
        institution=other_institution, name="2026 울산 AI 컨설팅", track=Track.consulting
    )
    call = make_call(programme, title="AI 솔루션 도입 기업 모집", cohort="2026-1차")
    other_call = make_call(other_programme, title="AI 컨설팅 기업 모집")
    firm1 = make_firm(name="(주)울산스마트팩토리", sido_code="31")
    firm2 = make_firm(name="(주)서울비전", sido_code="11", sigungu_code=None)
    firm3 = make_firm(name="(주)컨설팅대상")
    contact1 = make_contact(firm1, name="김민지", email="minji@firm1.example", consent_marketing_at=utcnow())
    contact2 = make_contact(firm2, name="이준호", email="junho@firm2.example")
    make_contact(firm3, name="박서연", email="seoyeon@firm3.example")
    portal_user = make_user(Role.firm_user, firm=firm1, email="portal@firm1.example", name="최대표")
    make_application(call, firm1, status=ApplicationStatus.submitted)
    make_application(call, firm2, status=ApplicationStatus.selected, supplement_due_on=None)
    make_application(other_call, firm3, status=ApplicationStatus.submitted)
    today = today_kst()
    engagement1 = make_engagement(
        programme, firm1, status=EngagementStatus.in_progress, ends_on=today + timedelta(days=90)
    )
    engagement2 = make_engagement(programme, firm2, status=EngagementStatus.agreed)
    make_milestone(engagement1, kind="interim_report", title="중간보고", due_on=today + timedelta(days=10))
    make_milestone(engagement2, kind="interim_report", title="중간보고", due_on=today - timedelta(days=3))
    return {
        "consortium": consortium,
        "programme": programme,
        "other_programme": other_programme,
        "call": call,
        "other_call": other_call,
        "firms": (firm1, firm2, firm3),
        "contacts": (contact1, contact2),
        "portal_user": portal_user,
        "engagements": (engagement1, engagement2),
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=other_institution),
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "foreign_manager": make_user(Role.consortium_manager, consortium=make_consortium()),
        "admin": make_user(Role.admin),
    }


def _names(members) -> list[str]:
    return [m.firm.name for m in members]


def _data(audience: dict, **kw) -> NoticeData:
    values = {
        "subject": "[{programme}] {firm_name} 안내",
        "body": "{contact_name}님, {firm_name}의 기한은 {due_on}입니다.",
        **kw,
    }
    return NoticeData(audience=audience, **values)


# --- audiences ----------------------------------------------------------------------------------------


def test_call_audience_by_status(world):
    call, coordinator = world["call"], world["coordinator"]
    everyone = resolve_members({"source": "call", "call_id": call.id, "statuses": []}, coordinator)
    assert _names(everyone) == ["(주)서울비전", "(주)울산스마트팩토리"]
    submitted = resolve_members(
        {"source": "call", "call_id": call.id, "statuses": ["submitted"]}, coordinator
    )
    assert _names(submitted) == ["(주)울산스마트팩토리"]
    assert submitted[0].call.id == call.id and submitted[0].due_on == call.closes_on_kst


def test_programme_audience_by_status(world):
    programme, coordinator = world["programme"], world["coordinator"]
    audience = {"source": "programme", "programme_id": programme.id, "statuses": ["in_progress"]}
    [member] = resolve_members(audience, coordinator)
    assert member.firm.name == "(주)울산스마트팩토리"
    assert member.due_on == world["engagements"][0].ends_on
    audience["statuses"] = ["agreed", "in_progress"]
    assert len(resolve_members(audience, coordinator)) == 2


def test_milestone_audience_open_or_overdue(world):
    coordinator = world["coordinator"]
    open_ = resolve_members({"source": "milestone", "kind": "interim_report", "state": "open"}, coordinator)
    assert _names(open_) == ["(주)울산스마트팩토리"]
    assert open_[0].due_on == today_kst() + timedelta(days=10)
    overdue = resolve_members(
        {"source": "milestone", "kind": "interim_report", "state": "overdue"}, coordinator
    )
    assert _names(overdue) == ["(주)서울비전"]
    elsewhere = {
        "source": "milestone",
        "kind": "interim_report",
        "state": "open",
        "programme_id": world["other_programme"].id,
    }
    assert resolve_members(elsewhere, world["manager"]) == []


def test_region_and_track_filters(world):
    call, coordinator = world["call"], world["coordinator"]
    ulsan = resolve_members({"source": "call", "call_id": call.id, "sido": "31"}, coordinator)
    assert _names(ulsan) == ["(주)울산스마트팩토리"]
    seoul = resolve_members({"source": "call", "call_id": call.id, "sido": "11"}, coordinator)
    assert _names(seoul) == ["(주)서울비전"]
    milestone = {"source": "milestone", "kind": "interim_report", "state": "overdue"}
    assert _names(resolve_members({**milestone, "track": "adoption"}, world["manager"])) == ["(주)서울비전"]
    assert resolve_members({**milestone, "track": "consulting"}, world["manager"]) == []


def test_a_coordinator_reaches_only_its_institutions_calls(world, english):
    foreign = _data({"source": "call", "call_id": world["other_call"].id})
    with pytest.raises(ValidationFailed) as refused:
        preview(foreign, world["coordinator"])
    assert refused.value.fields == {"call_id": ["Choose one of your calls from the list."]}
    with pytest.raises(ValidationFailed):
        compose_notice(foreign, world["coordinator"])
    # even a forged audience resolves to nobody outside its reach
    assert resolve_members({"source": "call", "call_id": world["other_call"].id}, world["coordinator"]) == []
    # the manager of the consortium reaches both; another consortium's manager neither
    assert len(resolve_members({"source": "call", "call_id": world["other_call"].id}, world["manager"])) == 1
    with pytest.raises(ValidationFailed):
        compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["foreign_manager"])
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_recipients_are_portal_accounts_and_primary_contacts_and_marketing_needs_consent(world):
    audience = {"source": "call", "call_id": world["call"].id}
    plain = resolve(audience, world["coordinator"])
    assert sorted(a.recipient.email for a in plain) == [
        "junho@firm2.example",
        "minji@firm1.example",
        "portal@firm1.example",
    ]
    marketing = resolve(audience, world["coordinator"], marketing=True)
    assert [a.recipient.email for a in marketing] == ["minji@firm1.example"]  # consent, and no accounts


def test_marketing_to_nobody_who_consented_is_refused(world, english):
    data = _data({"source": "call", "call_id": world["call"].id, "sido": "11"}, marketing=True)
    with pytest.raises(RuleViolation) as refused:
        compose_notice(data, world["coordinator"])
    assert refused.value.code == "empty_audience"
    assert "agreed to marketing" in str(refused.value.message)


# --- variables ----------------------------------------------------------------------------------------


def test_render_fills_variables_keeps_unknown_ones_and_reads_escaped_braces():
    values = {
        "firm_name": "(주)울산",
        "contact_name": "김민지",
        "programme": "AI 도입",
        "call": "",
        "due_on": "D",
    }
    assert (
        render("{contact_name}님 ({firm_name}) {{예시}} {nope}", values)
        == "김민지님 ((주)울산) {예시} {nope}"
    )
    assert render("{firm_name.__class__} {0} {} {due_on!r:>9}", values) == (
        "{firm_name.__class__} {0} {} {due_on!r:>9}"
    )
    assert render("열린 중괄호 { 하나", values) == "열린 중괄호 { 하나"  # never raises
    assert unknown_variables("{firm_name} {nope} {nope} {firm_name.x}") == ["nope", "firm_name.x"]


def test_unknown_variables_are_reported_with_the_allowed_ones(english):
    [message] = template_problems("안녕하세요 {company}님")
    assert "{company}" in str(
        message
    ) and "{firm_name}, {contact_name}, {programme}, {call}, {due_on}" in str(message)
    [unbalanced] = template_problems("기한 } 까지")
    assert "brace" in str(unbalanced)
    assert template_problems("{{literal}} {firm_name}") == []


def test_compose_reports_every_problem_at_once(world, english):
    data = NoticeData(
        audience={"source": "programme"},
        subject="x" * 201,
        body="{company} 안내",
        send_at=utcnow() - timedelta(minutes=5),
    )
    with pytest.raises(ValidationFailed) as refused:
        compose_notice(data, world["coordinator"])
    fields = refused.value.fields
    assert set(fields) == {"subject", "body", "send_at", "programme_id"}
    assert "200" in str(fields["subject"][0]) and "{company}" in str(fields["body"][0])
    with pytest.raises(ValidationFailed) as too_long:
        compose_notice(
            _data({"source": "call", "call_id": world["call"].id}, body="가" * 10_001), world["manager"]
        )
    assert "10,000" in str(too_long.value.fields["body"][0])


def test_nobody_matching_is_refused(world, english):
    data = _data({"source": "call", "call_id": world["call"].id, "statuses": ["withdrawn"]})
    with pytest.raises(RuleViolation) as refused:
        compose_notice(data, world["coordinator"])
    assert refused.value.code == "empty_audience" and "Nobody matches this audience" in str(
        refused.value.message
    )


# --- preview, compose, cancel, retry ------------------------------------------------------------------


def test_preview_renders_for_the_first_real_recipient_and_saves_no_notice(world):
    data = _data({"source": "call", "call_id": world["call"].id, "statuses": ["submitted"]})
    shown = preview(data, world["coordinator"])
    assert shown.count == 2 and shown.firm_count == 1  # the portal account and the contact of firm 1
    assert shown.firm.name == "(주)울산스마트팩토리"
    assert shown.subject == "[2026 울산 AI 솔루션 도입] (주)울산스마트팩토리 안내"
    assert shown.body.startswith(f"{shown.recipient.name}님, (주)울산스마트팩토리의 기한은 ")
    assert world["call"].closes_on_kst.isoformat() in shown.body
    assert db.session.scalar(sa.select(sa.func.count(Notice.id))) == 0
    assert db.session.scalar(sa.select(AccessLog.action)) == "view_notice_preview"


def test_compose_queues_personalised_deliveries_with_scope_and_audit(world):
    coordinator = world["coordinator"]
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), coordinator)
    assert notice.kind is NoticeKind.cohort and notice.status is NoticeStatus.scheduled
    assert notice.created_by_id == coordinator.id
    assert notice.audience["consortium_id"] == world["consortium"].id
    assert notice.audience["institution_id"] == coordinator.institution_id and notice.audience["firms"] == 2
    by_address = {d.recipient: d for d in notice.deliveries}
    assert set(by_address) == {"junho@firm2.example", "minji@firm1.example", "portal@firm1.example"}
    assert by_address["junho@firm2.example"].subject == "[2026 울산 AI 솔루션 도입] (주)서울비전 안내"
    assert by_address["junho@firm2.example"].body.startswith("이준호님, (주)서울비전의 기한은 ")
    assert by_address["portal@firm1.example"].user_id == world["portal_user"].id
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "notice.compose"))
    assert event.object_id == notice.id and event.changes["recipients"] == 3


def test_scheduled_notice_waits_and_cancelled_notice_never_goes_out(world, outbox_dir):
    send_at = utcnow() + timedelta(hours=3)
    notice = compose_notice(
        _data({"source": "call", "call_id": world["call"].id}, send_at=send_at), world["coordinator"]
    )
    db.session.commit()
    assert notice.send_at == send_at
    assert outbox.relay(outbox.send_delivery) == 0  # not yet
    cancel_notice(notice, world["coordinator"])
    db.session.commit()
    db.session.expire_all()
    assert notice.status is NoticeStatus.cancelled and notice.cancelled_at is not None
    assert outbox.relay(outbox.send_delivery, now=send_at + timedelta(minutes=1)) == 0
    assert list(outbox_dir.glob("*.eml")) == []
    assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "notice.cancel"))
    with pytest.raises(RuleViolation):
        cancel_notice(notice, world["coordinator"])  # twice


def test_cancel_is_refused_once_sending_started(world, outbox_dir, english):
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["coordinator"])
    db.session.commit()
    assert outbox.relay(outbox.send_delivery) == 3
    db.session.expire_all()
    with pytest.raises(RuleViolation) as refused:
        cancel_notice(notice, world["coordinator"])
    assert "already sent" in str(refused.value.message)
    assert notice.status is NoticeStatus.done and notice.cancelled_at is None


def test_cancel_is_refused_while_a_delivery_is_being_sent(world, english):
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["coordinator"])
    notice.deliveries[0].status = DeliveryStatus.sending  # a sender claimed it, the relay not yet done
    db.session.flush()
    with pytest.raises(RuleViolation) as refused:
        cancel_notice(notice, world["coordinator"])
    assert "Sending has already started" in str(refused.value.message)
    assert notice.status is NoticeStatus.scheduled


def test_cancel_and_retry_by_someone_outside_the_notice_are_not_permitted(world):
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["coordinator"])
    with pytest.raises(NotPermitted):
        cancel_notice(notice, world["foreign_manager"])
    with pytest.raises(NotPermitted):
        retry_failed(notice.deliveries[0], world["other_coordinator"])
    cancel_notice(notice, world["manager"])  # the consortium's manager may


def test_retry_of_a_failed_delivery(world, english):
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["coordinator"])
    failed = notice.deliveries[0]
    failed.status, failed.attempts, failed.last_error = DeliveryStatus.failed, 8, "SMTP 550: no such user"
    notice.status = NoticeStatus.done
    db.session.flush()
    retry_failed(failed, world["manager"])
    assert failed.status is DeliveryStatus.queued and failed.attempts == 0
    assert notice.status is NoticeStatus.sending
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "delivery.retry"))
    assert (event.object_type, event.object_id) == ("deliveries", failed.id)
    with pytest.raises(RuleViolation):
        retry_failed(failed, world["manager"])  # no longer failed


def test_retry_is_refused_for_a_cancelled_notice(world, english):
    notice = compose_notice(_data({"source": "call", "call_id": world["call"].id}), world["coordinator"])
    cancel_notice(notice, world["coordinator"])
    notice.deliveries[0].status = DeliveryStatus.failed
    with pytest.raises(RuleViolation) as refused:
        retry_failed(notice.deliveries[0], world["coordinator"])
    assert refused.value.code == "notice_cancelled"


# --- the mail ---------------------------------------------------------------------------------------


@pytest.fixture
def outbox_dir(app, tmp_path):
    previous = app.config["OUTBOX_DIR"], app.config.get("SMTP_URL")
    app.config["OUTBOX_DIR"], app.config["SMTP_URL"] = str(tmp_path / "outbox"), None
    try:
        yield tmp_path / "outbox"
    finally:
        app.config["OUTBOX_DIR"], app.config["SMTP_URL"] = previous


def _mails(directory: Path) -> dict[str, email.message.EmailMessage]:
    mails = {}
    for path in directory.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        mails[message["To"].addresses[0].addr_spec] = message
    return mails


def test_personalised_korean_mail_really_goes_out(world, outbox_dir):
    audience = {"source": "milestone", "kind": "interim_report", "state": "overdue"}
    data = NoticeData(
        audience=audience,
        subject="[중간보고 지연] {firm_name}",
        body="{contact_name}님,\n{programme} 중간보고 기한({due_on})이 지났습니다. {{회신 요망}}",
    )
    notice = compose_notice(data, world["manager"])
    db.session.commit()
    assert outbox.relay(lambda i: outbox.send_delivery(i)) == 1
    mails = _mails(outbox_dir)
    assert set(mails) == {"junho@firm2.example"}
    message = mails["junho@firm2.example"]
    due = today_kst() - timedelta(days=3)
    weekday = "월화수목금토일"[due.weekday()]
    assert message["Subject"] == "[중간보고 지연] (주)서울비전"
    assert message.get_content().strip() == (
        f"이준호님,\n2026 울산 AI 솔루션 도입 중간보고 기한({due.isoformat()} ({weekday}))이 지났습니다. "
        "{회신 요망}"
    )
    assert message["Message-ID"] == notice.deliveries[0].message_id
    db.session.expire_all()
    assert notice.status is NoticeStatus.done and notice.deliveries[0].status is DeliveryStatus.sent


def test_marketing_waits_out_the_quiet_hours(world, outbox_dir):
    data = _data({"source": "call", "call_id": world["call"].id}, marketing=True)
    compose_notice(data, world["coordinator"])
    db.session.commit()
    night = kst_to_utc(today_kst() + timedelta(days=1), at=time(22, 30))
    assert outbox.relay(outbox.send_delivery, now=night) == 0
    morning = kst_to_utc(today_kst() + timedelta(days=2), at=time(8, 5))
    assert outbox.relay(outbox.send_delivery, now=morning) == 1
    assert set(_mails(outbox_dir)) == {"minji@firm1.example"}
    assert db.session.scalar(sa.select(Delivery.status)) is DeliveryStatus.sent


# --- a cancel racing the relay (PostgreSQL) ---------------------------------------------------------


@pytest.fixture
def race_app(tmp_path):
    from tests.training.races import committed_postgres_app

    for application in committed_postgres_app():
        application.config.update(OUTBOX_DIR=str(tmp_path / "outbox"), SMTP_URL=None)
        yield application


def test_a_cancel_racing_the_relay_never_leaves_a_cancelled_notice_half_sent(race_app, tmp_path, monkeypatch):
    from crm.auth.models import User
    from crm.notices import cohort
    from tests.training.races import run_together, slowed

    with race_app.app_context():
        coordinator = make_user(Role.coordinator)
        call = make_call(make_programme(institution=coordinator.institution))
        for n in range(2):
            firm = make_firm()
            make_contact(firm, email=f"race{n}@firm.example")
            make_application(call, firm, status=ApplicationStatus.submitted)
        notice = compose_notice(_data({"source": "call", "call_id": call.id}), coordinator)
        db.session.commit()
        notice_id, coordinator_id = notice.id, coordinator.id

    # The cancel passes its check, then waits; the relay starts a moment later and sends in between.
    monkeypatch.setattr(cohort, "cancel_refusal", slowed(cohort.cancel_refusal, 0.8))

    def cancel():
        cancel_notice(db.session.get(Notice, notice_id), db.session.get(User, coordinator_id))
        return "cancelled"

    def send():
        time_module.sleep(0.2)
        return outbox.relay(outbox.send_delivery)

    cancelled, sent = run_together(race_app, cancel, send)
    mails = list((tmp_path / "outbox").glob("*.eml"))
    with race_app.app_context():
        notice = db.session.get(Notice, notice_id)
        statuses = sorted(d.status.value for d in notice.deliveries)
    if isinstance(cancelled, RuleViolation):  # the relay won: everything went out, nothing is cancelled
        assert notice.cancelled_at is None and statuses == ["sent", "sent"] and len(mails) == 2
    else:  # the cancel won: nothing went out
        assert cancelled == "cancelled" and notice.status is NoticeStatus.cancelled
        assert mails == [] and "sent" not in statuses
    assert sent in (0, 2)


def test_demo_notices_are_personalised_deterministic_and_partly_sent(app):
    import random

    from crm.demo.notices import seed_notices
    from crm.demo.seed import seed_demo

    with app.app_context():
        seed_demo()
        seed_notices(random.Random(7), today_kst())
        notices = db.session.scalars(
            sa.select(Notice).where(Notice.created_by_id.is_not(None)).order_by(Notice.id)
        ).all()
        assert len(notices) >= 4
        statuses = {n.status for n in notices}
        assert statuses == {NoticeStatus.done, NoticeStatus.scheduled}
        deliveries = [d for n in notices for d in n.deliveries]
        assert {d.status for d in deliveries} == {
            DeliveryStatus.sent,
            DeliveryStatus.failed,
            DeliveryStatus.queued,
        }
        assert all("{" not in d.subject and d.body for d in deliveries)
        assert all(n.audience.get("consortium_id") for n in notices)
        scheduled = [n for n in notices if n.status is NoticeStatus.scheduled]
        assert all(n.send_at > utcnow() for n in scheduled)
        count = len(notices)
        seed_notices(random.Random(7), today_kst())  # a second run adds nothing
        assert (
            db.session.scalar(sa.select(sa.func.count(Notice.id)).where(Notice.created_by_id.is_not(None)))
            == count
        )


def test_resolving_an_audience_costs_the_same_queries_for_3_and_30_firms(world):
    from tests.statements import recorded_statements

    audience = {"source": "call", "call_id": world["call"].id}

    def statements_for_resolve() -> int:
        db.session.expire_all()
        with recorded_statements() as statements:
            resolve(audience, world["coordinator"])
        return len(statements)

    for n in range(1, 2):
        firm = make_firm(name=f"(주)추가기업{n:02d}")
        make_contact(firm, name=f"담당자{n}", email=f"extra{n}@firm.example")
        make_application(world["call"], firm, status=ApplicationStatus.submitted)
    few = statements_for_resolve()
    for n in range(2, 29):
        firm = make_firm(name=f"(주)추가기업{n:02d}")
        make_contact(firm, name=f"담당자{n}", email=f"extra{n}@firm.example")
        make_application(world["call"], firm, status=ApplicationStatus.submitted)
    many = statements_for_resolve()
    assert len(resolve(audience, world["coordinator"])) == 3 + 28
    assert many == few
