"""CSV of the other lists: the same rows as the page's filters, the columns, masking by default, unmasking
with a reason (one access-log row naming the list's subject) and refusals where the page hides the people."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from crm.activities.models import ActivityKind
from crm.applications.models import ApplicationStatus
from crm.audit.models import AccessLog
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.notices.models import DeliveryStatus, NoticeKind
from tests.conftest import login
from tests.exports.helpers import filename_of, get_csv, kst_stamp, page_total, parse, post_reason
from tests.factories import (
    make_activity,
    make_application,
    make_call,
    make_consortium,
    make_delivery,
    make_engagement,
    make_firm,
    make_firm_activity,
    make_institution,
    make_milestone,
    make_notice,
    make_programme,
    make_training_registration,
    make_user,
)
from tests.training.helpers import make_world, session_in

REASON = "성과조사 안내 발송 대상 확인"


def _browser(app: Flask, user: User) -> FlaskClient:
    """Another person's browser, in English."""
    browser = app.test_client()
    browser.set_cookie("lang", "en")
    login(browser, user.email)
    return browser


def _logs(user: User) -> list[AccessLog]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(AccessLog).where(AccessLog.actor_id == user.id).order_by(AccessLog.id))
    )


# --- applications (no personal data) -----------------------------------------------------------------------


def test_applications_csv_follows_the_status_filters_of_the_page(client_en, app):
    institution = make_institution()
    programme = make_programme(institution=institution, name="2026 AI 솔루션 도입")
    call = make_call(programme, title="AI 솔루션 도입 기업 모집", cohort="2026-1차")
    other_call = make_call(programme, title="AI 솔루션 도입 추가 모집", cohort="2026-2차")
    make_application(call, make_firm(name="(주)가나전자"), status=ApplicationStatus.submitted)
    make_application(call, make_firm(name="(주)다라정밀"), status=ApplicationStatus.selected)
    make_application(call, make_firm(name="(주)마바물산"), status=ApplicationStatus.rejected)
    make_application(other_call, make_firm(name="(주)사아산업"), status=ApplicationStatus.submitted)
    make_application(make_call(), make_firm(name="(주)남의기업"), status=ApplicationStatus.submitted)
    coordinator = make_user(Role.coordinator, institution=institution)
    login(client_en, coordinator.email)

    filters = "status=submitted&status=selected"
    html = client_en.get(f"/applications?{filters}").get_data(as_text=True)
    file = get_csv(client_en, f"/applications?{filters}&format=csv")
    assert len(file.rows) == page_total(html) == 3
    assert sorted(file.column("Firm")) == ["(주)가나전자", "(주)다라정밀", "(주)사아산업"]
    assert file.header == [
        "Firm",
        "Business registration number",
        "Call",
        "Cohort",
        "Programme",
        "Submitted",
        "Status",
        "Eligibility",
        "Decided at",
    ]
    row = next(r for r in file.rows if r["Firm"] == "(주)다라정밀")
    assert (row["Call"], row["Cohort"], row["Programme"]) == (
        "AI 솔루션 도입 기업 모집",
        "2026-1차",
        programme.name,
    )
    assert row["Eligibility"] == "Not checked"
    assert row["Submitted"].startswith(f"{today_kst():%Y-%m-%d}")

    queue = get_csv(client_en, f"/calls/{call.id}/applications?q=정밀&format=csv")
    assert queue.column("Firm") == ["(주)다라정밀"]
    assert filename_of(queue.response) == f"call-{call.id}-applications-{kst_stamp()}.csv"
    # nothing personal to unmask: the plain file, no reason asked
    assert get_csv(client_en, f"/applications?{filters}&format=csv&personal=1").rows == file.rows
    assert _logs(coordinator) == []


# --- engagements -------------------------------------------------------------------------------------------


def test_engagements_csv_rows_money_and_coordinator_masking(client_en, app):
    institution = make_institution()
    programme = make_programme(institution=institution, name="AI 솔루션 도입 2026")
    coordinator = make_user(Role.coordinator, institution=institution, name="정담당")
    make_engagement(
        programme,
        make_firm(name="(주)협약중기업"),
        status=EngagementStatus.in_progress,
        coordinator_id=coordinator.id,
        gov_krw=30_000_000,
        local_krw=12_000_000,
        self_cash_krw=5_000_000,
        self_inkind_krw=3_000_000,
        starts_on=today_kst(),
    )
    make_engagement(programme, make_firm(name="(주)대기기업"), status=EngagementStatus.pending_agreement)
    make_engagement(make_programme(), make_firm(name="(주)남의과제"), status=EngagementStatus.in_progress)
    login(client_en, coordinator.email)

    html = client_en.get("/engagements?status=in_progress").get_data(as_text=True)
    file = get_csv(client_en, "/engagements?status=in_progress&format=csv")
    assert len(file.rows) == page_total(html) == 1
    [row] = file.rows
    assert row["Firm"] == "(주)협약중기업" and row["Status"] == "In progress"
    assert (row["National funds (국비, 원)"], row["Local funds (지방비, 원)"], row["Total (원)"]) == (
        "30000000",
        "12000000",
        "50000000",
    )
    assert row["Starts on"] == today_kst().isoformat()
    assert row["Coordinator"] == "정*당"
    assert len(get_csv(client_en, "/engagements?format=csv").rows) == 2

    unmasked = parse(post_reason(client_en, "/engagements?status=in_progress&format=csv&personal=1", REASON))
    assert unmasked.column("Coordinator") == ["정담당"]
    [entry] = _logs(coordinator)
    assert (entry.action, entry.subject_type, entry.purpose) == ("export.engagements", "users", REASON)


# --- milestones (no personal data) -------------------------------------------------------------------------


def test_milestones_csv_follows_the_status_filter(client_en, app):
    today = today_kst()
    engagement = make_engagement(make_programme(), make_firm(name="(주)마일스톤기업"))
    make_milestone(engagement, title="착수보고", due_on=today - timedelta(days=3))
    make_milestone(engagement, title="중간보고", due_on=today + timedelta(days=10))
    make_milestone(engagement, title="완료보고", due_on=today - timedelta(days=1), done_at=utcnow())
    make_milestone(make_engagement(), title="남의 마일스톤", due_on=today - timedelta(days=3))
    manager = make_user(Role.consortium_manager, consortium=engagement.programme.programme_year.consortium)
    login(client_en, manager.email)

    html = client_en.get("/milestones?status=overdue").get_data(as_text=True)
    file = get_csv(client_en, "/milestones?status=overdue&format=csv")
    assert len(file.rows) == page_total(html) == 1
    [row] = file.rows
    assert (row["Milestone"], row["Firm"], row["Status"], row["D-N"]) == (
        "착수보고",
        "(주)마일스톤기업",
        "Overdue",
        "D+3",
    )
    assert row["Due"] == (today - timedelta(days=3)).isoformat()
    assert get_csv(client_en, "/milestones?format=csv").column("Milestone") == [
        "착수보고",
        "완료보고",
        "중간보고",
    ]


# --- activities --------------------------------------------------------------------------------------------


def test_firm_activities_csv_masks_participants_and_logs_against_the_firm(client_en, app):
    engagement = make_engagement(make_programme())
    firm = engagement.firm
    author = make_user(Role.coordinator, institution=engagement.programme.institution, name="한기록")
    make_activity(engagement, participants="김대표, 이과장", recorded_by_id=author.id, hours=2)
    make_firm_activity(
        firm, kind=ActivityKind.meeting, participants="박책임", summary="=SUM(A1:A9) 수요 상담"
    )
    login(client_en, author.email)

    html = client_en.get(f"/firms/{firm.id}/activities").get_data(as_text=True)
    file = get_csv(client_en, f"/firms/{firm.id}/activities?format=csv")
    assert len(file.rows) == page_total(html) == 2
    assert sorted(file.column("Participants")) == ["김*표, 이*장", "박*임"]
    assert "'=SUM(A1:A9) 수요 상담" in file.column("Summary")  # a formula stays text
    assert "Firm-level" in file.column("Engagement") and engagement.programme.name in file.column(
        "Engagement"
    )
    only = get_csv(client_en, f"/firms/{firm.id}/activities?engagement={engagement.id}&format=csv")
    assert only.column("Recorded by") == ["한*록"] and only.column("Hours") == ["2"]

    unmasked = parse(post_reason(client_en, f"/firms/{firm.id}/activities?format=csv&personal=1", REASON))
    assert sorted(unmasked.column("Participants")) == ["김대표, 이과장", "박책임"]
    [entry] = _logs(author)
    assert (entry.action, entry.subject_type, entry.subject_id) == ("export.activities", "firms", firm.id)


# --- notices and their deliveries --------------------------------------------------------------------------


def test_notices_csv_with_delivery_counts(client_en, app):
    admin = make_user(Role.admin)
    cohort = make_notice(kind=NoticeKind.cohort, subject="협약 안내", created_by_id=admin.id)
    make_delivery(cohort, status=DeliveryStatus.sent)
    make_delivery(cohort, status=DeliveryStatus.sent)
    make_delivery(cohort, status=DeliveryStatus.failed)
    make_notice(kind=NoticeKind.reminder, subject="마감 알림", created_by_id=admin.id)
    login(client_en, admin.email)

    html = client_en.get("/notices?kind=cohort").get_data(as_text=True)
    file = get_csv(client_en, "/notices?kind=cohort&format=csv")
    assert len(file.rows) == page_total(html)
    row = next(r for r in file.rows if r["Subject"] == "협약 안내")
    assert (row["Kind"], row["Deliveries"], row["Sent"], row["Failed"]) == ("Cohort notice", "3", "2", "1")
    assert "마감 알림" not in file.column("Subject")


def test_delivery_list_masks_recipients_until_a_reason_is_given(client_en, app):
    consortium = make_consortium()
    manager = make_user(Role.consortium_manager, consortium=consortium)
    notice = make_notice(
        kind=NoticeKind.cohort, created_by_id=manager.id, audience={"consortium_id": consortium.id}
    )
    make_delivery(notice, recipient="minji@firm.example", recipient_name="김민지", status=DeliveryStatus.sent)
    make_delivery(
        notice,
        recipient="010-2345-6789",
        recipient_name="이준호",
        channel="sms",
        status=DeliveryStatus.failed,
    )
    login(client_en, manager.email)

    file = get_csv(client_en, f"/notices/{notice.id}?status=failed&format=csv")
    assert [(r["Recipient"], r["Recipient address"], r["Status"]) for r in file.rows] == [
        ("이*호", "010-****-6789", "Failed")
    ]
    everyone = get_csv(client_en, f"/notices/{notice.id}?format=csv")
    assert everyone.column("Recipient address") == ["m***@firm.example", "010-****-6789"]
    assert _logs(manager) == []  # a masked file is no view of personal data

    unmasked = parse(post_reason(client_en, f"/notices/{notice.id}?format=csv&personal=1", REASON))
    assert unmasked.column("Recipient") == ["김민지", "이준호"]
    [entry] = _logs(manager)
    assert (entry.action, entry.subject_type, entry.subject_id) == (
        "export.notice_deliveries",
        "notices",
        notice.id,
    )

    outsider = _browser(app, make_user(Role.consortium_manager, consortium=make_consortium()))
    assert outsider.get(f"/notices/{notice.id}?format=csv").status_code == 404
    assert outsider.get(f"/notices/{notice.id}?format=csv&personal=1").status_code == 404


# --- training registrations --------------------------------------------------------------------------------


def test_training_registrations_unmasked_only_for_staff_who_run_the_programme(client_en, app):
    world = make_world()
    session = session_in(world, 7)
    firm = make_firm(name="(주)교육참여기업")
    make_training_registration(
        session, name="홍길동", email="gildong@firm.example", phone="010-1111-2222", firm_id=firm.id
    )
    make_training_registration(session, name="김영희", email="younghee@firm.example")

    login(client_en, world.other_coordinator.email)  # reads the session, names masked on the page
    file = get_csv(client_en, f"/training/{session.id}?format=csv")
    assert file.header == [
        "Name",
        "E-mail",
        "Phone",
        "Firm",
        "Business registration number",
        "Engagement",
        "Attended",
        "Registered at",
    ]
    assert [(r["Name"], r["E-mail"], r["Phone"]) for r in file.rows] == [
        ("홍*동", "g***@firm.example", "010-****-2222"),
        ("김*희", "y***@firm.example", ""),
    ]
    assert file.rows[0]["Firm"] == "(주)교육참여기업" and file.rows[0]["Attended"] == "Not taken"
    assert client_en.get(f"/training/{session.id}?format=csv&personal=1").status_code == 403
    assert post_reason(client_en, f"/training/{session.id}?format=csv&personal=1", REASON).status_code == 403
    assert "CSV with personal data" not in client_en.get(f"/training/{session.id}").get_data(as_text=True)
    assert _logs(world.other_coordinator) == []

    runner = _browser(app, world.coordinator)
    assert "CSV with personal data" in runner.get(f"/training/{session.id}").get_data(as_text=True)
    unmasked = parse(post_reason(runner, f"/training/{session.id}?format=csv&personal=1", REASON))
    assert unmasked.column("Name") == ["홍길동", "김영희"]
    assert unmasked.column("Phone") == ["010-1111-2222", ""]
    export = [e for e in _logs(world.coordinator) if e.action.startswith("export.")]
    assert [(e.action, e.subject_type, e.subject_id, e.purpose) for e in export] == [
        ("export.training_registrations", "training_sessions", session.id, REASON)
    ]


# --- users (admin) -----------------------------------------------------------------------------------------


def test_users_csv_masks_staff_e_mails_by_default(client_en, app):
    admin = make_user(Role.admin)
    make_user(Role.evaluator, email="eval.kim@univ.example", name="김평가")
    login(client_en, admin.email)
    html = client_en.get("/admin/users?role=evaluator").get_data(as_text=True)
    file = get_csv(client_en, "/admin/users?role=evaluator&format=csv")
    assert len(file.rows) == page_total(html) == 1
    row = next(r for r in file.rows if r["E-mail"] == "e***@univ.example")
    assert (row["Name"], row["Role"], row["State"]) == ("김*가", "Evaluator", "Account active")

    unmasked = parse(
        post_reason(client_en, "/admin/users?role=evaluator&format=csv&personal=1", "평가위원 위촉 명단 점검")
    )
    assert "eval.kim@univ.example" in unmasked.column("E-mail")
    [entry] = _logs(admin)
    assert (entry.action, entry.purpose) == ("export.users", "평가위원 위촉 명단 점검")


def test_list_pages_link_to_their_csv_with_every_filter(client_en, app):
    institution = make_institution()
    call = make_call(make_programme(institution=institution))
    make_application(call, make_firm(), status=ApplicationStatus.submitted)
    coordinator = make_user(Role.coordinator, institution=institution)
    notice = make_notice(kind=NoticeKind.cohort, created_by_id=coordinator.id)
    make_delivery(notice, status=DeliveryStatus.failed)
    login(client_en, coordinator.email)

    queue = client_en.get(f"/calls/{call.id}/applications?status=submitted&status=selected&page=1")
    html = queue.get_data(as_text=True)
    assert f'href="/calls/{call.id}/applications?status=submitted&amp;status=selected&amp;format=csv"' in html
    assert "personal=1" not in html  # nothing personal in this list

    html = client_en.get(f"/notices/{notice.id}?status=failed").get_data(as_text=True)
    assert f'href="/notices/{notice.id}?status=failed&amp;format=csv"' in html
    assert f'href="/notices/{notice.id}?status=failed&amp;format=csv&amp;personal=1"' in html
