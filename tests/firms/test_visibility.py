from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.audit.models import AccessLog, AuditEvent
from crm.auth.models import Role
from crm.extensions import db
from crm.firms.models import Contact
from tests.conftest import login, post_form
from tests.factories import (
    make_consortium,
    make_contact,
    make_firm,
    make_firm_link,
    make_institution,
    make_user,
)


@pytest.fixture
def two_consortia(app):
    ours, theirs = make_consortium(), make_consortium()
    own = make_firm(ours, name="(주)우리기업")
    foreign = make_firm(theirs, name="(주)남의기업")
    return ours, theirs, own, foreign


def test_admin_sees_every_firm(client, two_consortia):
    _, _, own, foreign = two_consortia
    login(client, make_user(Role.admin).email)
    html = client.get("/firms").get_data(as_text=True)
    assert own.name in html and foreign.name in html
    assert client.get(f"/firms/{foreign.id}").status_code == 200


@pytest.mark.parametrize("role", [Role.consortium_manager, Role.coordinator])
def test_staff_see_only_their_consortiums_firms(client, two_consortia, role):
    ours, _, own, foreign = two_consortia
    user = (
        make_user(role, consortium=ours)
        if role is Role.consortium_manager
        else make_user(role, institution=make_institution(ours))
    )
    login(client, user.email)
    html = client.get("/firms").get_data(as_text=True)
    assert own.name in html and foreign.name not in html
    assert client.get(f"/firms/{own.id}").status_code == 200
    assert client.get(f"/firms/{foreign.id}").status_code == 404
    assert client.get(f"/firms/{foreign.id}/edit").status_code == 404


def test_firm_user_is_refused_the_staff_firm_pages(client, two_consortia):
    _, _, own, _ = two_consortia
    login(client, make_user(Role.firm_user, firm=own).email)
    assert client.get("/firms").status_code == 403
    assert client.get(f"/firms/{own.id}").status_code == 403
    assert client.get("/firms/new").status_code == 403


@pytest.mark.parametrize("role", [Role.evaluator, Role.national_viewer])
def test_evaluators_and_national_viewers_are_refused(client, two_consortia, role):
    _, _, own, _ = two_consortia
    login(client, make_user(role).email)
    assert client.get("/firms").status_code == 403
    assert client.get(f"/firms/{own.id}").status_code == 403
    assert client.get(f"/firms/{own.id}/contacts/new").status_code == 403


@pytest.fixture
def institutions(app):
    consortium = make_consortium()
    mine, other = make_institution(consortium), make_institution(consortium)
    firm = make_firm(name="(주)연락처기업")
    make_firm_link(firm, consortium, mine)
    contact = make_contact(firm, name="박연락", email="park@example.com")
    return consortium, mine, other, firm, contact


def _access_logs(firm_id: int) -> list[AccessLog]:
    return db.session.scalars(
        sa.select(AccessLog).where(AccessLog.subject_type == "firms", AccessLog.subject_id == firm_id)
    ).all()


def test_contacts_hidden_from_a_coordinator_of_another_institution(client_en, institutions):
    _, _, other, firm, contact = institutions
    login(client_en, make_user(Role.coordinator, institution=other).email)
    response = client_en.get(f"/firms/{firm.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and firm.name in html
    assert contact.name not in html and contact.email not in html
    assert "Contacts are shown only to the institutions" in html
    assert _access_logs(firm.id) == []
    assert client_en.get(f"/firms/{firm.id}/contacts/{contact.id}/edit").status_code == 404
    assert client_en.get(f"/firms/{firm.id}/contacts/{contact.id}/delete").status_code == 404
    assert client_en.get(f"/firms/{firm.id}/contacts/new").status_code == 403


def test_contacts_shown_to_the_linked_institution_and_logged(client, institutions):
    _, mine, _, firm, contact = institutions
    coordinator = make_user(Role.coordinator, institution=mine)
    login(client, coordinator.email)
    html = client.get(f"/firms/{firm.id}").get_data(as_text=True)
    assert contact.name in html and contact.email in html
    logs = _access_logs(firm.id)
    assert [(log.actor_id, log.action, log.purpose) for log in logs] == [
        (coordinator.id, "view_contacts", "firm page")
    ]


def test_manager_sees_contacts_of_firms_linked_to_the_consortium(client, institutions):
    consortium, _, _, firm, contact = institutions
    login(client, make_user(Role.consortium_manager, consortium=consortium).email)
    assert contact.name in client.get(f"/firms/{firm.id}").get_data(as_text=True)
    assert len(_access_logs(firm.id)) == 1


def test_contact_delete_needs_post_and_confirmation_and_is_audited(client_en, institutions):
    _, mine, _, firm, contact = institutions
    login(client_en, make_user(Role.coordinator, institution=mine).email)
    contact_id, firm_id = contact.id, firm.id
    url = f"/firms/{firm_id}/contacts/{contact_id}/delete"

    confirm_page = client_en.get(url)
    assert confirm_page.status_code == 200 and contact.name in confirm_page.get_data(as_text=True)
    assert db.session.get(Contact, contact.id) is not None

    unconfirmed = post_form(client_en, url, {})
    assert unconfirmed.status_code == 422
    assert "Tick the box" in unconfirmed.get_data(as_text=True)
    assert db.session.get(Contact, contact.id) is not None

    done = post_form(client_en, url, {"confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact_id) is None
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "contact.delete", AuditEvent.object_id == contact_id)
    )
    assert event is not None and event.changes == {"firm_id": firm_id}


def test_add_and_edit_a_contact_with_consents(client, institutions):
    _, mine, _, firm, contact = institutions
    login(client, make_user(Role.coordinator, institution=mine).email)
    response = post_form(
        client,
        f"/firms/{firm.id}/contacts/new",
        {
            "name": "최신규",
            "phone": "010-2222-3333",
            "email": "New@Example.com",
            "is_primary": "y",
            "consent_privacy": "y",
        },
    )
    assert response.status_code == 302
    added = db.session.scalar(sa.select(Contact).where(Contact.name == "최신규"))
    assert added.email == "new@example.com" and added.consent_privacy_at is not None
    assert added.consent_marketing_at is None
    db.session.refresh(contact)
    assert contact.is_primary is False  # one primary contact per firm

    response = post_form(
        client, f"/firms/{firm.id}/contacts/{added.id}/edit", {"name": "최변경", "consent_marketing": "y"}
    )
    assert response.status_code == 302
    db.session.refresh(added)
    assert added.name == "최변경" and added.consent_privacy_at is None and added.consent_marketing_at
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "contact.update", AuditEvent.object_id == added.id)
    )
    assert "name" in event.changes["fields"] and "최변경" not in str(event.changes)


def test_the_firm_page_lists_the_applications_the_coordinator_may_see(client, two_consortia):
    from crm.applications.models import ApplicationStatus
    from tests.factories import make_application, make_call, make_programme

    ours, _, own, _ = two_consortia
    institution, other_institution = make_institution(ours), make_institution(ours)
    own_call = make_call(make_programme(institution=institution), title="우리 기관 공고")
    other_call = make_call(make_programme(institution=other_institution), title="다른 기관 공고")
    draft_call = make_call(make_programme(institution=institution), title="작성 중인 공고")
    mine = make_application(own_call, own, status=ApplicationStatus.submitted)
    make_application(other_call, own, status=ApplicationStatus.submitted)
    make_application(draft_call, own)  # drafts are the firm's own until submitted
    login(client, make_user(Role.coordinator, institution=institution).email)

    html = client.get(f"/firms/{own.id}").get_data(as_text=True)
    panel = html[html.index('id="applications"') :]
    panel = panel[: panel.index("</section>")]
    assert f"/applications/{mine.id}" in panel and "우리 기관 공고" in panel
    assert "다른 기관 공고" not in panel and "작성 중인 공고" not in panel
