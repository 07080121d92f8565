"""GPU pages in English: granting, recording and deleting usage, the engagement panels and the programme's
quota page; who may open them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import render_template
from flask_login import login_user

from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.programmes.models import Track
from tests.conftest import login, post_form
from tests.factories import (
    make_engagement,
    make_gpu_allocation,
    make_gpu_usage,
    make_institution,
    make_programme,
    make_user,
)
from tests.infrastructure.helpers import engagement_in, make_world


def _allocations() -> list[GpuAllocation]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(GpuAllocation)))


def test_coordinator_grants_hours_and_the_panel_shows_them(client_en):
    world = make_world(target=1000)
    login(client_en, world.coordinator.email)
    panel = client_en.get(f"/engagements/{world.engagement.id}").get_data(as_text=True)
    assert 'id="gpu"' in panel and "No GPU hours were granted to this engagement yet." in panel
    assert f"/engagements/{world.engagement.id}/gpu" in panel

    form_page = client_en.get(f"/engagements/{world.engagement.id}/gpu").get_data(as_text=True)
    assert f'value="{world.today.isoformat()}"' in form_page  # granted today by default
    response = post_form(
        client_en,
        f"/engagements/{world.engagement.id}/gpu",
        {
            "hours_granted": "400",
            "granted_on": world.today.isoformat(),
            "resource": "A100 80GB × 2",
            "note": "",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"] == f"/engagements/{world.engagement.id}#gpu"
    [allocation] = _allocations()
    assert (allocation.hours_granted, allocation.resource) == (400, "A100 80GB × 2")

    make_gpu_usage(allocation, hours=100, used_on=world.today, purpose="비전 모델 학습")
    panel = client_en.get(f"/engagements/{world.engagement.id}").get_data(as_text=True)
    assert '<progress max="400.0" value="100.0"' in panel
    assert "<dt>Remaining</dt><dd>300.0</dd>" in panel and "비전 모델 학습" in panel
    assert "Record usage" in panel and "Change the grant" in panel


def test_grant_form_errors_name_the_rule(client_en):
    world = make_world(target=500)
    make_gpu_allocation(engagement_in(world), hours_granted=450)
    login(client_en, world.manager.email)
    url = f"/engagements/{world.engagement.id}/gpu"
    over = post_form(client_en, url, {"hours_granted": "60", "granted_on": world.today.isoformat()})
    assert over.status_code == 422
    assert "The programme has 500 GPU hours in all and 50.0 are left to grant" in over.get_data(as_text=True)
    bad = post_form(
        client_en, url, {"hours_granted": "abc", "granted_on": (world.today + timedelta(days=2)).isoformat()}
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "Not a valid decimal value" in page and "The grant date cannot be in the future." in page
    pending = engagement_in(world, status=EngagementStatus.pending_agreement)
    refused = post_form(
        client_en,
        f"/engagements/{pending.id}/gpu",
        {"hours_granted": "10", "granted_on": world.today.isoformat()},
    )
    assert refused.status_code == 422
    assert "only while the engagement is agreed or in progress; this one is Awaiting agreement" in (
        refused.get_data(as_text=True)
    )
    assert len(_allocations()) == 1


def test_recording_and_deleting_usage(client_en):
    world = make_world()
    login(client_en, world.coordinator.email)
    no_grant = client_en.get(f"/engagements/{world.engagement.id}/gpu/usage/new")
    assert (
        no_grant.status_code == 302
        and no_grant.headers["Location"] == f"/engagements/{world.engagement.id}/gpu"
    )
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=50, granted_on=world.today - timedelta(days=7)
    )
    url = f"/engagements/{world.engagement.id}/gpu/usage/new"
    assert "0.0 of 50.0 hours used; 50.0 left." in client_en.get(url).get_data(as_text=True)
    too_early = post_form(
        client_en,
        url,
        {"used_on": (world.today - timedelta(days=8)).isoformat(), "hours": "5", "purpose": ""},
    )
    assert too_early.status_code == 422 and "usage cannot be earlier" in too_early.get_data(as_text=True)
    too_much = post_form(client_en, url, {"used_on": world.today.isoformat(), "hours": "50.5", "purpose": ""})
    assert too_much.status_code == 422
    assert "Only 50.0 of the 50.0 hours granted are left." in too_much.get_data(as_text=True)
    zero = post_form(client_en, url, {"used_on": world.today.isoformat(), "hours": "0", "purpose": ""})
    assert zero.status_code == 422 and "The hours must be more than 0." in zero.get_data(as_text=True)
    ok = post_form(
        client_en, url, {"used_on": world.today.isoformat(), "hours": "12.5", "purpose": "추론 테스트"}
    )
    assert ok.status_code == 302
    db.session.expire_all()
    [usage] = db.session.scalars(sa.select(GpuUsage).where(GpuUsage.allocation_id == allocation.id)).all()
    assert (usage.hours, usage.purpose) == (12.5, "추론 테스트")

    usage_id = usage.id
    delete_url = f"/gpu-usages/{usage_id}/delete"
    assert "Delete the entry of 12.5 hours used on" in client_en.get(delete_url).get_data(as_text=True)
    unconfirmed = post_form(client_en, delete_url, {})
    assert unconfirmed.status_code == 422 and "Tick the box to confirm the deletion." in unconfirmed.get_data(
        as_text=True
    )
    assert post_form(client_en, delete_url, {"confirm": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(GpuUsage, usage_id) is None


def test_programme_quota_page(client_en, app, monkeypatch):
    world = make_world(target=1000)
    first = make_gpu_allocation(world.engagement, hours_granted=600, resource="H100 × 1")
    make_gpu_usage(first, hours=150)
    engagement_in(world, name="(주)미배정기업")
    login(client_en, world.manager.email)
    page = client_en.get(f"/programmes/{world.programme.id}/gpu").get_data(as_text=True)
    assert "600.0 of 1,000 hours (60%)" in page
    assert "<dt>Left to grant</dt><dd>400.0</dd>" in page
    assert '150.0 <span class="muted">(25% of the hours granted)' in page
    assert "(주)GPU활용" in page and "H100 × 1" in page and "450.0" in page
    assert "(주)미배정기업" in page and "No GPU hours granted" in page
    assert page.index("(주)GPU활용") < page.index("(주)미배정기업")  # granted ones first
    assert f'href="/engagements/{world.engagement.id}#gpu"' in page

    make_gpu_allocation(engagement_in(world), hours_granted=400)
    assert "Fully granted" in client_en.get(f"/programmes/{world.programme.id}/gpu").get_data(as_text=True)

    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    second = client_en.get(f"/programmes/{world.programme.id}/gpu?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "(주)GPU활용" not in second

    programme_page = client_en.get(f"/programmes/{world.programme.id}").get_data(as_text=True)
    assert f'href="/programmes/{world.programme.id}/gpu"' in programme_page


def test_portal_panel_shows_the_firms_own_hours_read_only(app):
    world = make_world()
    allocation = make_gpu_allocation(
        world.engagement, hours_granted=200, granted_on=world.today - timedelta(days=9)
    )
    make_gpu_usage(allocation, hours=20, used_on=world.today - timedelta(days=2), purpose="LLM 파인튜닝")
    own = make_user(Role.firm_user, firm=world.engagement.firm)
    stranger = make_user(Role.firm_user)
    db.session.expire_all()  # the numbers as the database gives them back
    with app.test_request_context():
        login_user(own)
        html = render_template("infrastructure/_portal_engagement_panel.html", engagement=world.engagement)
    assert '<progress max="200.0" value="20.0"' in html and "<dd>180.0</dd>" in html
    assert "LLM 파인튜닝" in html and "/gpu-usages/" not in html and "/gpu/usage/new" not in html
    with app.test_request_context():
        login_user(stranger)
        assert (
            render_template(
                "infrastructure/_portal_engagement_panel.html", engagement=world.engagement
            ).strip()
            == ""
        )
    adoption = make_engagement(make_programme(track=Track.adoption), world.engagement.firm)
    with app.test_request_context():
        login_user(own)
        assert (
            render_template("infrastructure/_portal_engagement_panel.html", engagement=adoption).strip() == ""
        )


# --- who may ------------------------------------------------------------------------------------------


def _urls(world, usage_id: int) -> list[str]:
    return [
        f"/engagements/{world.engagement.id}/gpu",
        f"/engagements/{world.engagement.id}/gpu/usage/new",
        f"/gpu-usages/{usage_id}/delete",
    ]


def test_another_institutions_coordinator_reads_the_quota_but_not_the_engagement(client_en):
    world = make_world()
    usage = make_gpu_usage(
        make_gpu_allocation(world.engagement, granted_on=world.today - timedelta(days=3)), used_on=world.today
    )
    login(client_en, world.other_coordinator.email)
    for url in _urls(world, usage.id):
        assert client_en.get(url).status_code == 404, url
    assert (
        post_form(client_en, f"/gpu-usages/{usage.id}/delete", {"confirm": "y"}, page="/account").status_code
        == 404
    )
    page = client_en.get(f"/programmes/{world.programme.id}/gpu")
    assert page.status_code == 200
    assert "(주)GPU활용" in page.get_data(as_text=True)
    assert f"/engagements/{world.engagement.id}" not in page.get_data(as_text=True)


@pytest.mark.parametrize("who", ["coordinator", "manager"])
def test_staff_of_another_consortium_get_404(client, who):
    world = make_world()
    usage = make_gpu_usage(
        make_gpu_allocation(world.engagement, granted_on=world.today - timedelta(days=3)), used_on=world.today
    )
    outsider = (
        make_user(Role.coordinator, institution=make_institution())
        if who == "coordinator"
        else make_user(Role.consortium_manager)
    )
    login(client, outsider.email)
    for url in [*_urls(world, usage.id), f"/programmes/{world.programme.id}/gpu"]:
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("role", [Role.national_viewer, Role.evaluator, Role.firm_user])
def test_other_roles_are_refused(client, role):
    world = make_world()
    usage = make_gpu_usage(
        make_gpu_allocation(world.engagement, granted_on=world.today - timedelta(days=3)), used_on=world.today
    )
    login(
        client, make_user(role, **({"firm": world.engagement.firm} if role is Role.firm_user else {})).email
    )
    for url in [*_urls(world, usage.id), f"/programmes/{world.programme.id}/gpu"]:
        assert client.get(url).status_code == 403, url


def test_other_tracks_have_no_gpu_pages(client):
    world = make_world()
    adoption = make_programme(world.programme.programme_year, world.institution, track=Track.adoption)
    engagement = make_engagement(adoption, status=EngagementStatus.in_progress)
    login(client, world.manager.email)
    assert client.get(f"/engagements/{engagement.id}/gpu").status_code == 404
    assert client.get(f"/engagements/{engagement.id}/gpu/usage/new").status_code == 404
    assert client.get(f"/programmes/{adoption.id}/gpu").status_code == 404
    assert 'id="gpu"' not in client.get(f"/engagements/{engagement.id}").get_data(as_text=True)
