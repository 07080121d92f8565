"""PIPA: retention dates and the purge, BRN masking of sole proprietors, the access-log review page and
withdrawn consent silencing notices."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from crm.audit.models import AccessLog, AuditEvent
from crm.audit.operations import log_personal_data_access
from crm.auth.models import Role
from crm.extensions import db
from crm.firms.identifiers import is_sole_proprietor_brn, mask_brn
from crm.firms.models import Contact
from crm.notices.audience import recipients_of
from crm.notices.outbox import firm_recipients
from crm.privacy.cli import privacy_cli
from crm.privacy.purge import purge_expired
from crm.privacy.retention import contact_retention_until
from crm.privacy.review import current_month
from crm.training.models import TrainingRegistration
from tests.conftest import login, post_form
from tests.factories import (
    make_brn,
    make_consortium,
    make_contact,
    make_firm,
    make_training_registration,
    make_user,
)

SOLE = "1231012344"  # middle digits 10: 개인사업자


# --- retention and purge -----------------------------------------------------------------------------------


def test_contact_retention_follows_the_privacy_consent(app_ctx):
    contact = make_contact(consent_privacy_at=datetime(2026, 3, 1, 16, 0, tzinfo=UTC))  # 3월 2일 KST
    assert contact.retention_until == date(2029, 3, 2)
    contact.consent_privacy_at = datetime(2027, 5, 10, 3, 0, tzinfo=UTC)
    db.session.flush()
    assert contact.retention_until == date(2030, 5, 10)


def test_a_registration_is_kept_three_years(app_ctx):
    registration = make_training_registration()
    assert registration.retention_until is not None
    assert registration.retention_until.year - date.today().year in (2, 3, 4)


def test_purge_removes_expired_records_once_and_audits_counts(app_ctx):
    old = make_contact(name="만료된담당", retention_until=date(2026, 1, 1))
    kept = make_contact(name="현재담당", retention_until=date(2030, 1, 1))
    registration = make_training_registration(name="만료수강생", retention_until=date(2026, 1, 1))
    fresh = make_training_registration(name="현재수강생", retention_until=date(2030, 1, 1))
    old_id = old.id

    first = purge_expired(date(2026, 6, 1))
    assert (first.contacts_deleted, first.registrations_anonymised) == (1, 1)
    assert db.session.get(Contact, old_id) is None
    assert db.session.get(Contact, kept.id) is not None
    db.session.refresh(registration)
    assert registration.name == "-" and registration.email == f"purged-{registration.id}@invalid"
    assert registration.phone == "" and registration.retention_until is None
    assert db.session.get(TrainingRegistration, fresh.id).name == "현재수강생"
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "privacy.purge")).all()
    assert len(events) == 1
    assert events[0].changes["contacts_deleted"] == 1
    assert events[0].changes["training_registrations_anonymised"] == 1
    assert "만료" not in str(events[0].changes)  # counts only, no personal data

    second = purge_expired(date(2026, 6, 1))
    assert second.total == 0
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "privacy.purge")
        )
        == 1
    )


def test_purge_cli(app):
    with app.app_context():
        make_contact(retention_until=date(2020, 1, 1))
        db.session.flush()
        runner = app.test_cli_runner()
        first = runner.invoke(privacy_cli, ["purge", "--date", "2026-06-01"])
        assert first.exit_code == 0, first.output
        assert "contacts deleted: 1" in first.output
        second = runner.invoke(privacy_cli, ["purge", "--date", "2026-06-01"])
        assert "contacts deleted: 0" in second.output


# --- sole proprietors' BRN -----------------------------------------------------------------------------


def test_sole_proprietor_brn_rule():
    assert is_sole_proprietor_brn("1231012344")
    assert is_sole_proprietor_brn("1237912344")
    assert not is_sole_proprietor_brn("1238112344")
    assert not is_sole_proprietor_brn("1230012344")
    assert mask_brn("1231012344") == "123-10-*****"
    assert mask_brn("1248100998") == "124-81-00998"


@pytest.fixture
def firms(app_ctx):
    consortium = make_consortium()
    sole = make_firm(consortium, name="홍길동상회", brn=make_brn(kind="10"))
    corp = make_firm(consortium, name="(주)법인테스트", brn=make_brn(kind="81"))
    manager = make_user(Role.consortium_manager, consortium=consortium)
    return {"sole": sole, "corp": corp, "manager": manager}


def _brn_views(firm) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AccessLog)
        .where(AccessLog.action == "view_brn", AccessLog.subject_id == firm.id)
    )


def test_list_and_csv_mask_a_sole_proprietors_brn(client_en, firms):
    login(client_en, firms["manager"].email)
    sole, corp = firms["sole"], firms["corp"]
    masked = f"{sole.brn[:3]}-{sole.brn[3:5]}-*****"
    page = client_en.get("/firms").get_data(as_text=True)
    assert masked in page and sole.brn_display not in page
    assert corp.brn_display in page
    csv = client_en.get("/firms?format=csv", buffered=True).get_data(as_text=True)
    assert masked in csv and sole.brn_display not in csv
    assert corp.brn_display in csv
    assert _brn_views(sole) == 0


def test_firm_page_shows_the_full_brn_and_logs_it(client_en, firms):
    login(client_en, firms["manager"].email)
    sole, corp = firms["sole"], firms["corp"]
    response = client_en.get(f"/firms/{sole.id}")
    assert response.status_code == 200
    assert sole.brn_display in response.get_data(as_text=True)
    assert _brn_views(sole) == 1
    entry = db.session.scalars(sa.select(AccessLog).where(AccessLog.action == "view_brn")).one()
    assert entry.actor_id == firms["manager"].id and entry.subject_type == "firms" and entry.purpose
    client_en.get(f"/firms/{corp.id}")
    assert _brn_views(corp) == 0  # a corporation's BRN is not personal data


# --- access-log review ---------------------------------------------------------------------------------


@pytest.fixture
def logged(app_ctx):
    admin = make_user(Role.admin)
    staff = make_user(Role.consortium_manager, email="reader@example.com")
    other = make_user(Role.coordinator, email="someone@example.com")
    contact = make_contact()
    log_personal_data_access("view_contacts", contact.firm, purpose="firm page", actor=staff)
    log_personal_data_access("export.firms", contact, purpose="분기 보고", actor=other)
    db.session.flush()
    return {"admin": admin, "staff": staff, "other": other, "contact": contact}


def test_access_log_page_lists_and_filters(client_en, logged):
    login(client_en, logged["admin"].email)
    page = client_en.get("/admin/access-log").get_data(as_text=True)
    assert "reader@example.com" in page and "someone@example.com" in page
    filtered = client_en.get("/admin/access-log?actor=reader").get_data(as_text=True)
    assert "reader@example.com" in filtered and "someone@example.com" not in filtered
    by_action = client_en.get("/admin/access-log?action=export.firms").get_data(as_text=True)
    assert "someone@example.com" in by_action and "reader@example.com" not in by_action
    month = current_month()
    assert "reader@example.com" in client_en.get(f"/admin/access-log?month={month}").get_data(as_text=True)
    assert "reader@example.com" not in client_en.get("/admin/access-log?month=2001-01").get_data(as_text=True)
    subject = f"/admin/access-log?subject_type=contacts&subject_id={logged['contact'].id}"
    assert "someone@example.com" in client_en.get(subject).get_data(as_text=True)
    csv = client_en.get("/admin/access-log?format=csv&actor=someone", buffered=True)
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert "someone@example.com" in text and "분기 보고" in text and "reader@example.com" not in text


def test_only_admins_see_the_access_log(client_en, logged):
    login(client_en, logged["staff"].email)
    assert client_en.get("/admin/access-log").status_code == 403
    assert client_en.post("/admin/access-log/review", data={"month": "2026-01"}).status_code in (400, 403)


def test_monthly_review_is_recorded(client_en, logged):
    login(client_en, logged["admin"].email)
    month = current_month()
    assert "Not reviewed" in client_en.get("/admin/access-log").get_data(as_text=True)
    response = post_form(client_en, "/admin/access-log/review", {"month": month}, page="/admin/access-log")
    assert response.status_code == 302
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "access_log.review")).one()
    assert event.actor_id == logged["admin"].id
    assert event.changes == {"month": month, "entries": 2}
    assert "Reviewed" in client_en.get("/admin/access-log").get_data(as_text=True)
    bad = post_form(client_en, "/admin/access-log/review", {"month": "2999-01"}, page="/admin/access-log")
    assert bad.status_code == 422
    assert "Choose a month up to the current one" in bad.get_data(as_text=True)


# --- consent ---------------------------------------------------------------------------------------------


def test_withdrawn_consent_stops_notices_but_portal_users_still_hear(app_ctx):
    firm = make_firm()
    user = make_user(Role.firm_user, firm=firm, email="portal@firm.example")
    make_contact(
        firm,
        email="withdrawn@firm.example",
        consent_privacy_at=None,
        consent_marketing_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    status_addresses = {r.email for r in firm_recipients(firm)}
    assert status_addresses == {user.email}
    assert recipients_of(firm, marketing=True) == []
    assert {r.email for r in recipients_of(firm)} == {user.email}  # cohort notices


def test_consenting_contact_still_receives(app_ctx):
    firm = make_firm()
    make_contact(firm, email="ok@firm.example", consent_marketing_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert [r.email for r in firm_recipients(firm)] == ["ok@firm.example"]
    assert [r.email for r in recipients_of(firm, marketing=True)] == ["ok@firm.example"]


def test_retention_rule_without_consent_counts_from_today():
    assert contact_retention_until(None, today=date(2026, 2, 28)) == date(2029, 2, 28)
    assert contact_retention_until(None, today=date(2028, 2, 29)) == date(2031, 2, 28)
