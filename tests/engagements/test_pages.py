"""Engagement, milestone and portal pages: what each role sees and can do, and the errors forms show."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.core.time import today_kst
from crm.documents.models import Document
from crm.engagements.models import ChangeStatus, Engagement, EngagementStatus
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner
from crm.programmes.models import Track
from tests.conftest import login, post_form
from tests.factories import (
    make_engagement,
    make_firm,
    make_institution,
    make_milestone,
    make_programme,
    make_programme_year,
    make_user,
)

E = EngagementStatus
TODAY = today_kst()
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEMPLATES = [{"kind": "kickoff", "title": "착수보고", "anchor": "start", "offset_days": 14, "owner": "firm"}]


@pytest.fixture
def world(app_ctx):
    year = make_programme_year(starts_on=TODAY - timedelta(days=200), ends_on=TODAY + timedelta(days=300))
    institution = make_institution(year.consortium)
    programme = make_programme(year, institution, milestone_templates=TEMPLATES, per_firm_cap_krw=None)
    engagement = make_engagement(programme)
    return {
        "programme": programme,
        "engagement": engagement,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "manager": make_user(Role.consortium_manager, consortium=year.consortium),
        "stranger": make_user(Role.coordinator, institution=make_institution(year.consortium)),
        "firm_user": make_user(Role.firm_user, firm=engagement.firm),
        "other_firm_user": make_user(Role.firm_user, firm=make_firm()),
        "supplier": make_firm(is_supplier=True),
    }


def _terms(world, **kw):
    values = {
        "agreed_on": (TODAY - timedelta(days=1)).isoformat(),
        "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=180)).isoformat(),
        "gov_krw": "60,000,000",
        "local_krw": "20,000,000",
        "self_cash_krw": "15,000,000",
        "self_inkind_krw": "5,000,000",
        "supplier_firm_id": str(world["supplier"].id),
        "solution": "비전 검사 AI",
        "coordinator_id": str(world["coordinator"].id),
        "version": str(world["engagement"].version),
        **kw,
    }
    return values


def test_coordinator_sees_the_engagement_and_others_get_404(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/engagements/{engagement.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert engagement.firm.name in html and "Agreement and funding" in html and "Move to: Agreed" in html
    stranger = client_en.__class__(client_en.application)
    login(stranger, world["stranger"].email)
    assert stranger.get(f"/engagements/{engagement.id}").status_code == 404
    firm_browser = client_en.__class__(client_en.application)
    login(firm_browser, world["firm_user"].email)
    assert firm_browser.get(f"/engagements/{engagement.id}").status_code == 403  # staff page


def test_agreement_form_shows_the_sixty_percent_error_and_keeps_input(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    url = f"/engagements/{engagement.id}/agreement"
    refused = post_form(client_en, url, _terms(world, gov_krw="70,000,000", local_krw="10,000,000"))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "at most 60% of the engagement total" in html and "70,000,000" in html
    assert engagement.gov_krw == 0
    saved = post_form(client_en, url, _terms(world))
    assert saved.status_code == 302
    db.session.refresh(engagement)
    assert engagement.gov_krw == 60_000_000 and engagement.coordinator_id == world["coordinator"].id


def test_signing_plans_milestones_shown_on_the_page(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    post_form(client_en, f"/engagements/{engagement.id}/agreement", _terms(world))
    db.session.refresh(engagement)
    response = post_form(
        client_en,
        f"/engagements/{engagement.id}/transitions",
        {"to": "agreed", "version": str(engagement.version)},
        page=f"/engagements/{engagement.id}",
    )
    assert response.status_code == 302
    html = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert "착수보고" in html and "Move to: In progress" in html
    kinds = set(db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id)))
    assert {"kickoff", "change_deadline", "settlement"} <= kinds


def test_illegal_transition_posted_answers_409_and_changes_nothing(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    response = post_form(
        client_en,
        f"/engagements/{engagement.id}/transitions",
        {"to": "closed"},
        page=f"/engagements/{engagement.id}",
    )
    assert response.status_code == 409
    db.session.refresh(engagement)
    assert engagement.status is E.pending_agreement


def test_termination_needs_confirmation(client_en, world):
    engagement = world["engagement"]
    engagement.status = E.in_progress
    db.session.flush()
    login(client_en, world["coordinator"].email)
    url = f"/engagements/{engagement.id}/terminate"
    refused = post_form(client_en, url, {"reason": "중도포기"})
    assert refused.status_code == 422 and "Tick to confirm" in refused.get_data(as_text=True)
    done = post_form(client_en, url, {"reason": "중도포기", "confirm": "y"})
    assert done.status_code == 302
    db.session.refresh(engagement)
    assert engagement.status is E.terminated


def test_change_requested_by_coordinator_and_approved_by_manager(client_en, world):
    engagement = world["engagement"]
    engagement.status = E.in_progress
    engagement.starts_on, engagement.ends_on = TODAY - timedelta(days=10), TODAY + timedelta(days=120)
    engagement.supplier_firm_id, engagement.solution = world["supplier"].id, "비전 검사 AI"
    db.session.flush()
    login(client_en, world["coordinator"].email)
    new_end = TODAY + timedelta(days=150)
    form = {
        "starts_on": engagement.starts_on.isoformat(),
        "ends_on": new_end.isoformat(),
        "gov_krw": "0",
        "local_krw": "0",
        "self_cash_krw": "0",
        "self_inkind_krw": "0",
        "supplier_firm_id": str(world["supplier"].id),
        "solution": "비전 검사 AI",
    }
    refused = post_form(client_en, f"/engagements/{engagement.id}/changes/new", form)
    assert refused.status_code == 422 and "Write why the agreement changes" in refused.get_data(as_text=True)
    filed = post_form(client_en, f"/engagements/{engagement.id}/changes/new", {**form, "reason": "일정 지연"})
    assert filed.status_code == 302
    change = engagement.changes[-1]
    # the coordinator cannot decide
    assert post_form(client_en, f"/agreement-changes/{change.id}", {"decision": "approve"}).status_code == 403
    manager = client_en.__class__(client_en.application)
    login(manager, world["manager"].email)
    decided = post_form(manager, f"/agreement-changes/{change.id}", {"decision": "approve"})
    assert decided.status_code == 302
    db.session.refresh(change)
    db.session.refresh(engagement)
    assert change.status is ChangeStatus.approved and engagement.ends_on == new_end


def test_firm_completes_its_milestone_with_evidence_in_the_portal(client_en, world):
    engagement = world["engagement"]
    engagement.status = E.in_progress
    firm_milestone = make_milestone(engagement, owner=MilestoneOwner.firm, due_on=TODAY + timedelta(days=5))
    staff_milestone = make_milestone(engagement, kind="interim", owner=MilestoneOwner.staff, due_on=TODAY)
    login(client_en, world["firm_user"].email)
    portal = client_en.get(f"/portal/engagements/{engagement.id}").get_data(as_text=True)
    assert "착수보고" in portal and "D-5" in portal
    assert client_en.get(f"/milestones/{staff_milestone.id}/complete").status_code == 403
    missing = post_form(client_en, f"/milestones/{firm_milestone.id}/complete", {"note": "제출"})
    assert missing.status_code == 422 and "Attach the evidence" in missing.get_data(as_text=True)
    done = post_form(
        client_en,
        f"/milestones/{firm_milestone.id}/complete",
        {"evidence": (io.BytesIO(PDF), "착수보고서.pdf"), "note": "제출"},
        content_type="multipart/form-data",
    )
    assert done.status_code == 302
    db.session.refresh(firm_milestone)
    assert firm_milestone.done_at is not None
    document = db.session.get(Document, firm_milestone.evidence_document_id)
    assert document.engagement_id == engagement.id and document.filename == "착수보고서.pdf"
    assert client_en.get(f"/documents/{document.id}").status_code == 200


def test_other_firm_gets_404_in_the_portal(client_en, world):
    engagement = world["engagement"]
    milestone = make_milestone(engagement)
    login(client_en, world["other_firm_user"].email)
    assert client_en.get(f"/portal/engagements/{engagement.id}").status_code == 404
    assert client_en.get(f"/milestones/{milestone.id}/complete").status_code == 404


def test_waiving_needs_a_reason(client_en, world):
    milestone = make_milestone(world["engagement"])
    login(client_en, world["coordinator"].email)
    refused = post_form(client_en, f"/milestones/{milestone.id}/waive", {"reason": ""})
    assert refused.status_code == 422 and "Write why this milestone is waived" in refused.get_data(
        as_text=True
    )
    assert (
        post_form(client_en, f"/milestones/{milestone.id}/waive", {"reason": "해당 없음"}).status_code == 302
    )
    db.session.refresh(milestone)
    assert milestone.waived_at is not None and milestone.waive_reason == "해당 없음"


def test_milestone_list_filters_overdue_in_kst(client_en, world):
    engagement = world["engagement"]
    overdue = make_milestone(engagement, title="기한 지난 보고", due_on=TODAY - timedelta(days=1))
    make_milestone(engagement, title="다가오는 보고", due_on=TODAY + timedelta(days=3))
    login(client_en, world["coordinator"].email)
    html = client_en.get("/milestones?status=overdue").get_data(as_text=True)
    assert overdue.title in html and "다가오는 보고" not in html
    stranger = client_en.__class__(client_en.application)
    login(stranger, world["stranger"].email)
    assert overdue.title not in stranger.get("/milestones").get_data(as_text=True)


def test_direct_creation_page(client_en, world):
    year = world["programme"].programme_year
    diagnosis = make_programme(year, world["programme"].institution, track=Track.diagnosis)
    firm = make_firm(consortium=year.consortium)
    login(client_en, world["coordinator"].email)
    assert (
        client_en.get(f"/programmes/{world['programme'].id}/engagements/new").status_code == 403
    )  # adoption
    unknown = post_form(client_en, f"/programmes/{diagnosis.id}/engagements/new", {"brn": "123-45-67891"})
    assert unknown.status_code == 422
    created = post_form(client_en, f"/programmes/{diagnosis.id}/engagements/new", {"brn": firm.brn})
    assert created.status_code == 302
    engagement = db.session.scalar(sa.select(Engagement).where(Engagement.programme_id == diagnosis.id))
    assert engagement is not None and engagement.firm_id == firm.id


def test_engagement_list_filters_by_status(client_en, world):
    make_engagement(world["programme"], status=E.closed, firm=make_firm(name="(주)종료기업"))
    login(client_en, world["coordinator"].email)
    html = client_en.get("/engagements?status=closed").get_data(as_text=True)
    assert "(주)종료기업" in html and world["engagement"].firm.name not in html


def test_an_engagement_over_the_sixty_percent_rule_is_flagged_on_its_page(client_en, world):
    engagement = make_engagement(world["programme"], gov_krw=70_000_000, local_krw=30_000_000)
    login(client_en, world["coordinator"].email)
    html = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert "70.0%" in html and "over 60%" in html
