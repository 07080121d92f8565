from __future__ import annotations

import sqlalchemy as sa

from crm.audit.models import AccessLog, AuditEvent
from crm.auth.models import Role, User
from crm.extensions import db
from crm.firms.models import Contact
from crm.portal.models import ClaimStatus, FirmClaim
from tests.conftest import login, post_form
from tests.factories import (
    make_consortium,
    make_contact,
    make_firm,
    make_firm_claim,
    make_firm_link,
    make_institution,
    make_user,
)
from tests.portal.helpers import mails_to, unique_email


def _claimant(**kw) -> User:
    return make_user(Role.firm_user, firm=None, email=unique_email("claimant"), name="이신청", **kw)


def _related_claim(**claim_kw):
    """A pending claim on a firm related to a consortium, and a coordinator of that consortium."""
    consortium = make_consortium()
    institution = make_institution(consortium)
    firm = make_firm(name="관련기업(주)")
    make_firm_link(firm, consortium, institution)
    coordinator = make_user(Role.coordinator, institution=institution)
    claim = make_firm_claim(user=_claimant(), firm=firm, **claim_kw)
    return claim, coordinator


def _fresh(claim: FirmClaim) -> FirmClaim:
    db.session.expire_all()
    return db.session.get(FirmClaim, claim.id)


def test_a_coordinator_of_a_related_consortium_approves_a_claim(client_en, app):
    claim, coordinator = _related_claim()
    make_contact(claim.firm, is_primary=True)
    login(client_en, coordinator.email)
    page = client_en.get(f"/portal/claims/{claim.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "이신청" in html and claim.user.email in html and "관련기업(주)" in html
    assert db.session.scalar(
        sa.select(AccessLog.id).where(
            AccessLog.subject_type == "firm_claims", AccessLog.subject_id == claim.id
        )
    )

    response = post_form(client_en, f"/portal/claims/{claim.id}", {"decision": "approve"})
    assert response.status_code == 302 and response.headers["Location"] == "/portal/claims"

    claim = _fresh(claim)
    assert claim.status is ClaimStatus.approved
    assert claim.decided_by_id == coordinator.id and claim.decided_at is not None
    assert claim.user.firm_id == claim.firm_id
    added = db.session.scalars(
        sa.select(Contact).where(Contact.firm_id == claim.firm_id, Contact.email == claim.user.email)
    ).one()
    assert added.name == "이신청" and not added.is_primary  # the firm already had a primary contact
    assert added.consent_privacy_at == claim.created_at
    actions = set(
        db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_id == coordinator.id))
    )
    assert {"firm_claim.approve", "user.update", "contact.create"} <= actions
    (mail,) = mails_to(app, claim.user.email)
    assert "관련기업(주)" in str(mail["Subject"])


def test_the_claimant_becomes_primary_contact_of_a_firm_without_contacts(client, app):
    claim, coordinator = _related_claim()
    assert claim.firm.contacts == []
    login(client, coordinator.email)
    post_form(client, f"/portal/claims/{claim.id}", {"decision": "approve"})
    claim = _fresh(claim)
    (contact,) = claim.firm.contacts
    assert contact.is_primary and contact.email == claim.user.email


def test_after_approval_the_claimant_reaches_the_firm_pages(client, app):
    claim, coordinator = _related_claim()
    staff = app.test_client()
    login(staff, coordinator.email)
    login(client, claim.user.email)
    assert client.get("/portal/firm").status_code == 302
    post_form(staff, f"/portal/claims/{claim.id}", {"decision": "approve"})
    assert client.get("/portal/firm").status_code == 200


def test_staff_of_an_unrelated_consortium_get_404(client):
    claim, _ = _related_claim()
    outsider = make_user(Role.consortium_manager, consortium=make_consortium())
    login(client, outsider.email)
    assert client.get(f"/portal/claims/{claim.id}").status_code == 404
    assert (
        post_form(
            client, f"/portal/claims/{claim.id}", {"decision": "approve"}, page="/portal/claims"
        ).status_code
        == 404
    )
    assert _fresh(claim).status is ClaimStatus.pending
    listing = client.get("/portal/claims").get_data(as_text=True)
    assert f"/portal/claims/{claim.id}" not in listing


def test_a_firm_without_links_is_decided_by_admins_only(client_en):
    firm = make_firm()  # no consortium: no link at all
    claim = make_firm_claim(user=_claimant(), firm=firm)
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    page = client_en.get(f"/portal/claims/{claim.id}").get_data(as_text=True)
    assert "only an administrator can decide" in page
    assert f"/portal/claims/{claim.id}" in client_en.get("/portal/claims").get_data(as_text=True)


def test_a_refusal_needs_a_reason(client_en, app):
    claim, coordinator = _related_claim()
    login(client_en, coordinator.email)
    response = post_form(client_en, f"/portal/claims/{claim.id}", {"decision": "refuse", "reason": "  "})
    assert response.status_code == 422
    assert "Give the reason for the refusal" in response.get_data(as_text=True)
    assert _fresh(claim).status is ClaimStatus.pending

    response = post_form(
        client_en, f"/portal/claims/{claim.id}", {"decision": "refuse", "reason": "재직 확인이 되지 않음"}
    )
    assert response.status_code == 302
    claim = _fresh(claim)
    assert claim.status is ClaimStatus.refused and claim.decision_reason == "재직 확인이 되지 않음"
    assert claim.user.firm_id is None
    assert db.session.scalar(sa.select(Contact.id).where(Contact.email == claim.user.email)) is None
    (mail,) = mails_to(app, claim.user.email)
    assert "재직 확인이 되지 않음" in mail.get_content()


def test_a_decided_claim_cannot_be_decided_again(client_en):
    claim, coordinator = _related_claim(status=ClaimStatus.refused, decision_reason="이미 거절")
    login(client_en, coordinator.email)
    response = post_form(client_en, f"/portal/claims/{claim.id}", {"decision": "approve"})
    assert response.status_code == 422
    assert "already decided" in response.get_data(as_text=True)
    claim = _fresh(claim)
    assert claim.status is ClaimStatus.refused and claim.user.firm_id is None
    assert (
        db.session.scalar(sa.select(AuditEvent.id).where(AuditEvent.action == "firm_claim.approve")) is None
    )


def test_the_list_shows_pending_claims_and_filters_by_status(client):
    pending, coordinator = _related_claim()
    approved = make_firm_claim(user=_claimant(), firm=pending.firm, status=ClaimStatus.approved)
    login(client, coordinator.email)
    default = client.get("/portal/claims").get_data(as_text=True)
    assert f"/portal/claims/{pending.id}" in default and f"/portal/claims/{approved.id}" not in default
    chosen = client.get("/portal/claims?status=approved").get_data(as_text=True)
    assert f"/portal/claims/{approved.id}" in chosen and f"/portal/claims/{pending.id}" not in chosen
    every = client.get("/portal/claims?status=all").get_data(as_text=True)
    assert f"/portal/claims/{approved.id}" in every and f"/portal/claims/{pending.id}" in every


def test_the_list_paginates(client, app):
    claim, coordinator = _related_claim()
    for _ in range(app.config["PAGE_SIZE"]):
        make_firm_claim(user=_claimant(), firm=claim.firm)
    login(client, coordinator.email)
    first = client.get("/portal/claims").get_data(as_text=True)
    assert "page=2" in first
    assert client.get("/portal/claims?page=2").status_code == 200
