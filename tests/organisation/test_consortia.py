"""Consortia and institutions: screens, rules and who may use them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from crm.organisation import operations
from crm.organisation.models import Consortium, Institution, InstitutionRole
from tests.conftest import login, post_form
from tests.factories import make_consortium, make_institution, make_programme_year, make_user


def test_admin_creates_a_consortium_and_it_is_audited(client_en):
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    response = post_form(
        client_en, "/admin/consortia/new", {"name": "울산 AI 사업단", "sido_code": "31", "is_active": "y"}
    )
    assert response.status_code == 302
    consortium = db.session.scalar(sa.select(Consortium).where(Consortium.name == "울산 AI 사업단"))
    assert consortium.sido_code == "31" and consortium.is_active
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "consortium.create"))
    assert event.object_id == consortium.id and event.actor_id == admin.id
    assert "울산 AI 사업단" in client_en.get("/admin/consortia").get_data(as_text=True)


def test_consortium_name_must_be_unique(client_en):
    make_consortium(name="울산 AI 사업단")
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    response = post_form(client_en, "/admin/consortia/new", {"name": "울산 AI 사업단", "sido_code": "31"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "A consortium with this name already exists." in html
    assert 'value="울산 AI 사업단"' in html


def test_region_must_be_one_of_the_17_sido(client_en):
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    response = post_form(client_en, "/admin/consortia/new", {"name": "어딘가 사업단", "sido_code": "99"})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(Consortium).where(Consortium.name == "어딘가 사업단")) is None


def test_admin_edits_a_consortium_with_an_audited_diff(client_en):
    consortium = make_consortium(name="경남 AI 사업단", sido_code="48")
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    url = f"/admin/consortia/{consortium.id}/edit"
    response = post_form(client_en, url, {"name": "경남 AI 사업단", "sido_code": "48"})  # unchecked: inactive
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Consortium, consortium.id).is_active is False
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "consortium.update"))
    assert event.changes == {"is_active": [True, False]}


def test_consortium_page_lists_institutions_years_and_staff_counts(client_en):
    consortium = make_consortium()
    make_institution(consortium, name="울산테크노파크", role=InstitutionRole.lead)
    coordinator_home = make_institution(consortium, name="울산정보산업진흥원")
    make_programme_year(consortium, ordinal=1)
    manager = make_user(Role.consortium_manager, consortium=consortium)
    make_user(Role.consortium_manager, consortium=consortium)
    for _ in range(3):
        make_user(Role.coordinator, institution=coordinator_home)
    login(client_en, manager.email)
    html = client_en.get(f"/admin/consortia/{consortium.id}").get_data(as_text=True)
    assert "울산테크노파크" in html and "울산정보산업진흥원" in html
    assert "Year 1" in html
    assert "<dt>Consortium managers</dt><dd>2</dd>" in html
    assert "<dt>Coordinators</dt><dd>3</dd>" in html


def test_manager_sees_only_its_own_consortium(client_en):
    own = make_consortium(name="울산 AI 사업단")
    other = make_consortium(name="부산 AI 사업단")
    manager = make_user(Role.consortium_manager, consortium=own)
    login(client_en, manager.email)
    listing = client_en.get("/admin/consortia").get_data(as_text=True)
    assert "울산 AI 사업단" in listing and "부산 AI 사업단" not in listing
    assert client_en.get(f"/admin/consortia/{own.id}").status_code == 200
    assert client_en.get(f"/admin/consortia/{other.id}").status_code == 404
    assert client_en.get(f"/admin/consortia/{other.id}/institutions/new").status_code == 404
    assert client_en.get("/admin/consortia/new").status_code == 403
    assert client_en.get(f"/admin/consortia/{own.id}/edit").status_code == 403


def test_coordinator_may_not_use_the_consortium_screens(client_en):
    coordinator = make_user(Role.coordinator)
    login(client_en, coordinator.email)
    assert client_en.get("/admin/consortia").status_code == 403
    assert client_en.get(f"/admin/consortia/{coordinator.consortium_id}").status_code == 403


def test_manager_adds_and_edits_its_institutions(client_en):
    consortium = make_consortium()
    manager = make_user(Role.consortium_manager, consortium=consortium)
    login(client_en, manager.email)
    response = post_form(
        client_en,
        f"/admin/consortia/{consortium.id}/institutions/new",
        {"name": "UNIST", "role": "performing"},
    )
    assert response.status_code == 302
    institution = db.session.scalar(sa.select(Institution).where(Institution.name == "UNIST"))
    assert institution.consortium_id == consortium.id
    response = post_form(
        client_en,
        f"/admin/consortia/{consortium.id}/institutions/{institution.id}/edit",
        {"name": "울산과학기술원", "role": "support"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Institution, institution.id).role is InstitutionRole.support
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.object_type == "institutions")
    ).all()
    assert actions == ["institution.create", "institution.update"]


def test_institution_of_another_consortium_is_not_found_through_mine(client_en):
    consortium = make_consortium()
    stranger = make_institution()
    manager = make_user(Role.consortium_manager, consortium=consortium)
    login(client_en, manager.email)
    url = f"/admin/consortia/{consortium.id}/institutions/{stranger.id}/edit"
    assert client_en.get(url).status_code == 404


def test_institution_names_are_unique_within_a_consortium(client_en):
    consortium = make_consortium()
    make_institution(consortium, name="UNIST")
    make_institution(name="UNIST")  # another consortium may use the same name
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/admin/consortia/{consortium.id}/institutions/new",
        {"name": "unist", "role": "performing"},
    )
    assert response.status_code == 422
    assert "This consortium already has an institution with this name." in response.get_data(as_text=True)


def test_a_consortium_has_at_most_one_lead_institution(client_en):
    consortium = make_consortium()
    make_institution(consortium, name="울산테크노파크", role=InstitutionRole.lead)
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    response = post_form(
        client_en,
        f"/admin/consortia/{consortium.id}/institutions/new",
        {"name": "울산정보산업진흥원", "role": "lead"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "울산테크노파크 is already the lead institution; a consortium has only one." in html
    assert 'value="울산정보산업진흥원"' in html


def test_the_lead_may_be_edited_without_tripping_the_one_lead_rule(app_ctx):
    admin = make_user(Role.admin)
    lead = make_institution(name="울산테크노파크", role=InstitutionRole.lead)
    data = operations.InstitutionData(name="울산테크노파크(주관)", role=InstitutionRole.lead)
    assert operations.update_institution(lead, data, admin).name == "울산테크노파크(주관)"


def test_only_admins_create_consortia_at_operation_level(app_ctx):
    manager = make_user(Role.consortium_manager)
    with pytest.raises(operations.NotPermitted):
        operations.create_consortium(operations.ConsortiumData(name="새 사업단", sido_code="11"), manager)


def test_managers_cannot_add_institutions_elsewhere_at_operation_level(app_ctx):
    manager = make_user(Role.consortium_manager)
    data = operations.InstitutionData(name="어딘가", role=InstitutionRole.performing)
    with pytest.raises(operations.NotPermitted):
        operations.add_institution(make_consortium(), data, manager)
    with pytest.raises(ValidationFailed):
        operations.add_institution(
            manager.consortium, operations.InstitutionData("", InstitutionRole.support), manager
        )
