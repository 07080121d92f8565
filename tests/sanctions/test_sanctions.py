"""Imposing, editing and lifting sanctions; who may; and which bans are in force on a day."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.extensions import db
from crm.sanctions import operations
from crm.sanctions.models import AppealStatus, Sanction, SanctionKind
from tests.conftest import login, post_form
from tests.factories import (
    make_consortium,
    make_engagement,
    make_firm,
    make_firm_link,
    make_institution,
    make_sanction,
    make_user,
)


@pytest.fixture
def world(app):
    consortium = make_consortium()
    firm = make_firm(consortium, name="(주)제재테스트")
    return {
        "consortium": consortium,
        "firm": firm,
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
    }


def _form(**changes: str) -> dict[str, str]:
    values = {
        "kind": "participation_ban",
        "starts_on": "2026-03-01",
        "ends_on": "2029-02-28",
        "basis": "협약 위반 (제12조): 사업비 목적 외 사용",
        "amount_krw": "",
        "appeal_status": "none",
    }
    values.update(changes)
    return values


def _sanctions(firm_id: int) -> list[Sanction]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(Sanction).where(Sanction.firm_id == firm_id).order_by(Sanction.id))
    )


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_manager_imposes_a_ban_and_it_is_audited(client, world):
    firm = world["firm"]
    login(client, world["manager"].email)
    assert client.get(f"/firms/{firm.id}/sanctions/new").status_code == 200
    response = post_form(client, f"/firms/{firm.id}/sanctions/new", _form())
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"] == f"/firms/{firm.id}#sanctions"
    [sanction] = _sanctions(firm.id)
    assert sanction.kind is SanctionKind.participation_ban
    assert (sanction.starts_on, sanction.ends_on) == (date(2026, 3, 1), date(2029, 2, 28))
    assert sanction.imposed_by_id == world["manager"].id and sanction.appeal_status is AppealStatus.none
    [event] = _events("sanction.impose")
    assert event.object_id == sanction.id and event.changes["kind"] == "participation_ban"
    assert event.changes["basis"].startswith("협약 위반")


def test_clawback_needs_an_amount_and_errors_keep_the_input(client_en, world):
    firm = world["firm"]
    login(client_en, world["manager"].email)
    typed = _form(kind="clawback", basis="", ends_on="2025-01-01", amount_krw="")
    response = post_form(client_en, f"/firms/{firm.id}/sanctions/new", typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the basis" in page
    assert "The end date cannot be before the start date." in page
    assert "Enter the amount to be recovered" in page
    # what was typed is still there
    assert 'value="2026-03-01"' in page and 'value="2025-01-01"' in page
    assert '<option selected value="clawback">' in page
    assert _sanctions(firm.id) == []

    negative = post_form(
        client_en, f"/firms/{firm.id}/sanctions/new", _form(kind="clawback", amount_krw="-5")
    )
    assert negative.status_code == 422
    assert "An amount cannot be negative." in negative.get_data(as_text=True)
    assert 'value="-5"' in negative.get_data(as_text=True)

    ok = post_form(
        client_en, f"/firms/{firm.id}/sanctions/new", _form(kind="clawback", amount_krw="12,500,000")
    )
    assert ok.status_code == 302
    assert _sanctions(firm.id)[0].amount_krw == 12_500_000


def test_missing_start_and_unknown_kind_are_named(client_en, world):
    login(client_en, world["manager"].email)
    response = post_form(
        client_en, f"/firms/{world['firm'].id}/sanctions/new", _form(starts_on="", kind="fine")
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the date the sanction starts." in page and "Not a valid choice" in page


def test_coordinator_is_refused_but_reads_sanctions_on_the_firm_page(client_en, world):
    firm = world["firm"]
    sanction = make_sanction(firm, basis="경고: 보고서 지연 제출", kind=SanctionKind.warning)
    login(client_en, world["coordinator"].email)
    assert client_en.get(f"/firms/{firm.id}/sanctions/new").status_code == 403
    assert (
        post_form(client_en, f"/firms/{firm.id}/sanctions/new", _form(), page="/account").status_code == 403
    )
    assert client_en.get(f"/sanctions/{sanction.id}/edit").status_code == 403
    assert client_en.get(f"/sanctions/{sanction.id}/lift").status_code == 403
    page = client_en.get(f"/firms/{firm.id}").get_data(as_text=True)
    assert 'id="sanctions"' in page and "경고: 보고서 지연 제출" in page
    assert f"/firms/{firm.id}/sanctions/new" not in page and f"/sanctions/{sanction.id}/edit" not in page


def test_manager_of_another_consortium_gets_404(client, world):
    sanction = make_sanction(world["firm"])
    login(client, make_user(Role.consortium_manager).email)
    assert client.get(f"/firms/{world['firm'].id}/sanctions/new").status_code == 404
    assert (
        post_form(client, f"/firms/{world['firm'].id}/sanctions/new", _form(), page="/account").status_code
        == 404
    )
    assert client.get(f"/sanctions/{sanction.id}/edit").status_code == 404
    assert client.get(f"/sanctions/{sanction.id}/lift").status_code == 404
    assert (
        post_form(client, f"/sanctions/{sanction.id}/lift", {"reason": "x"}, page="/account").status_code
        == 404
    )
    assert _sanctions(world["firm"].id)[0].lifted_at is None


def test_a_sanction_imposed_by_another_consortium_is_read_only(client, world):
    """Both consortia see the firm; the one that imposed the sanction answers for it."""
    other = make_consortium()
    make_firm_link(world["firm"], other)
    theirs = make_sanction(
        world["firm"], imposed_by_id=make_user(Role.consortium_manager, consortium=other).id
    )
    ours = make_sanction(world["firm"], imposed_by_id=world["manager"].id)
    login(client, world["manager"].email)
    assert client.get(f"/sanctions/{theirs.id}/edit").status_code == 403
    assert client.get(f"/sanctions/{ours.id}/edit").status_code == 200
    admin = client.application.test_client()
    login(admin, make_user(Role.admin).email)
    assert admin.get(f"/sanctions/{theirs.id}/edit").status_code == 200


def test_lift_asks_first_then_lifts_and_audits(client_en, world):
    sanction = make_sanction(world["firm"])
    login(client_en, world["manager"].email)
    url = f"/sanctions/{sanction.id}/lift"
    confirm = client_en.get(url)
    assert confirm.status_code == 200
    assert "Lift this sanction" in confirm.get_data(as_text=True)
    assert _sanctions(world["firm"].id)[0].lifted_at is None  # asking changes nothing

    no_reason = post_form(client_en, url, {"reason": "  "})
    assert no_reason.status_code == 422
    assert "Enter why the sanction is lifted." in no_reason.get_data(as_text=True)
    assert _sanctions(world["firm"].id)[0].lifted_at is None

    done = post_form(client_en, url, {"reason": "행정심판 인용"})
    assert done.status_code == 302
    [lifted] = _sanctions(world["firm"].id)
    assert lifted.lifted_at is not None
    [event] = _events("sanction.lift")
    assert event.object_id == sanction.id and event.changes["reason"] == "행정심판 인용"
    assert event.actor_id == world["manager"].id

    again = post_form(client_en, url, {"reason": "again"})
    assert again.status_code == 422
    assert "already lifted" in again.get_data(as_text=True)
    assert len(_events("sanction.lift")) == 1


def test_edit_records_the_appeal_and_audits_only_changes(client_en, world):
    sanction = make_sanction(world["firm"], imposed_by_id=world["manager"].id)
    login(client_en, world["manager"].email)
    url = f"/sanctions/{sanction.id}/edit"
    page = client_en.get(url).get_data(as_text=True)
    assert "협약 위반에 따른 참여제한" in page and 'value="2028-12-31"' in page
    data = {"basis": sanction.basis, "ends_on": "2028-12-31", "amount_krw": "", "appeal_status": "pending"}
    assert post_form(client_en, url, data).status_code == 302
    [event] = _events("sanction.update")
    assert event.changes == {"appeal_status": ["none", "pending"]}
    bad = post_form(client_en, url, {**data, "ends_on": "2025-12-31"})
    assert bad.status_code == 422
    assert "The end date cannot be before the start date." in bad.get_data(as_text=True)
    assert _sanctions(world["firm"].id)[0].ends_on == date(2028, 12, 31)


def test_firm_page_shows_active_badge_and_links_for_managers(client_en, world):
    firm = world["firm"]
    make_sanction(firm, starts_on=date(2020, 1, 1), ends_on=None, basis="무기한 참여제한")
    make_sanction(firm, starts_on=date(2010, 1, 1), ends_on=date(2011, 1, 1), basis="지난 제재")
    login(client_en, world["manager"].email)
    page = client_en.get(f"/firms/{firm.id}").get_data(as_text=True)
    section = page[page.index('id="sanctions"') :]
    assert section.count(">In force</span>") == 1
    assert "무기한 참여제한" in section and "지난 제재" in section and "no end date" in section
    assert f"/firms/{firm.id}/sanctions/new" in section


# --- operations -------------------------------------------------------------------------------------------


def test_active_sanctions_respects_dates_kind_appeal_and_lifting(app_ctx):
    firm = make_firm()
    ban = make_sanction(firm, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    make_sanction(firm, kind=SanctionKind.warning, starts_on=date(2026, 1, 1), ends_on=None)
    make_sanction(firm, kind=SanctionKind.clawback, amount_krw=1, starts_on=date(2026, 1, 1), ends_on=None)
    make_sanction(make_firm(), starts_on=date(2026, 1, 1), ends_on=None)  # another firm's

    assert operations.active_sanctions(firm, date(2025, 12, 31)) == []
    assert operations.active_sanctions(firm, date(2026, 1, 1)) == [ban]  # first day counts
    assert operations.active_sanctions(firm, date(2026, 12, 31)) == [ban]  # last day counts
    assert operations.active_sanctions(firm, date(2027, 1, 1)) == []

    open_ended = make_sanction(firm, starts_on=date(2026, 6, 1), ends_on=None)
    assert operations.active_sanctions(firm, date(2030, 1, 1)) == [open_ended]


def test_appeal_overturned_and_lifted_bans_no_longer_count(app_ctx):
    firm = make_firm()
    manager = make_user(Role.consortium_manager)
    make_firm_link(firm, manager.consortium)
    overturned = make_sanction(firm, starts_on=date(2026, 1, 1), ends_on=None, imposed_by_id=manager.id)
    lifted = make_sanction(firm, starts_on=date(2026, 2, 1), ends_on=None, imposed_by_id=manager.id)
    day = date(2026, 3, 1)
    assert operations.active_sanctions(firm, day) == [overturned, lifted]

    operations.update_sanction(
        overturned,
        operations.SanctionUpdate(
            basis=overturned.basis, ends_on=None, appeal_status=AppealStatus.overturned
        ),
        manager,
    )
    assert operations.active_sanctions(firm, day) == [lifted]
    operations.lift_sanction(lifted, "환수금 완납", manager)
    assert operations.active_sanctions(firm, day) == []
    assert {e.action for e in db.session.scalars(sa.select(AuditEvent))} >= {
        "sanction.update",
        "sanction.lift",
    }


def test_operations_refuse_other_roles_and_bad_values(app_ctx):
    consortium = make_consortium()
    firm = make_firm(consortium)
    coordinator = make_user(Role.coordinator, institution=make_institution(consortium))
    data = operations.SanctionData(kind="warning", basis="경고", starts_on=date(2026, 1, 1))
    with pytest.raises(NotPermitted):
        operations.impose_sanction(firm, data, coordinator)
    with pytest.raises(NotPermitted):
        operations.impose_sanction(firm, data, make_user(Role.consortium_manager))  # firm not visible
    manager = make_user(Role.consortium_manager, consortium=consortium)
    with pytest.raises(ValidationFailed) as refused:
        operations.impose_sanction(
            firm,
            operations.SanctionData(kind="clawback", basis=" ", starts_on=None, amount_krw=None),
            manager,
        )
    assert set(refused.value.fields) == {"basis", "starts_on", "amount_krw"}
    with pytest.raises(ValidationFailed) as wrong_engagement:
        operations.impose_sanction(
            firm, operations.SanctionData(**{**data.__dict__, "engagement_id": make_engagement().id}), manager
        )
    assert set(wrong_engagement.value.fields) == {"engagement_id"}
    engagement = make_engagement(firm=firm)
    sanction = operations.impose_sanction(
        firm, operations.SanctionData(**{**data.__dict__, "engagement_id": engagement.id}), manager
    )
    assert sanction.engagement_id == engagement.id and sanction.id is not None
    operations.lift_sanction(sanction, "사유", manager)
    with pytest.raises(RuleViolation) as twice:
        operations.lift_sanction(sanction, "사유", manager)
    assert twice.value.code == "already_lifted"
