"""The dashboard page, the lists behind its numbers, and who sees what."""

from __future__ import annotations

import re

import pytest

from crm.auth.models import Role
from crm.dashboard.breakdowns import all_breakdowns
from crm.dashboard.quotas import dashboard_scope, quota_report
from crm.dashboard.views import mask_email
from tests.conftest import login
from tests.dashboard.world import build_world
from tests.factories import make_user

ENGAGEMENT_LINK = re.compile(r'href="/engagements/\d+"')
APPLICATION_LINK = re.compile(r'href="/applications/\d+"')


@pytest.fixture
def world(app):
    return build_world()


def _page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def test_page_renders_in_english_with_figures_charts_and_breakdowns(client_en, world):
    login(client_en, world.manager.email)
    page = _page(client_en, "/dashboard")
    assert "Targets vs results" in page
    for name in ("A 솔루션 도입", "B 역량진단", "C 창업 인큐베이팅", "D 재직자 교육", "E GPU 지원"):
        assert name in page
    assert page.count('role="img"') == 6  # the quota chart and one per breakdown
    assert "<progress" in page and "At risk" in page
    assert "By district (시군구)" in page and "울산광역시 남구" in page
    assert "/dashboard/export.xlsx" in page
    assert f"/dashboard/programmes/{world.programmes['A'].id}/counted?stage=applied" in page


def test_page_renders_in_korean_by_default(client, world):
    login(client, world.manager.email)
    assert "A 솔루션 도입" in _page(client, "/dashboard")


@pytest.mark.parametrize("stage", ["applied", "selected", "agreed", "completed", "counted"])
def test_drill_down_lists_match_the_counts(client, world, stage):
    login(client, world.manager.email)
    rows = {row.programme_name[0]: row for row in quota_report(dashboard_scope(world.manager)).rows}
    for key in ("A", "B", "C"):
        row = rows[key]
        expected = row.counted if stage == "counted" else getattr(row.funnel, stage)
        page = _page(client, f"/dashboard/programmes/{row.programme_id}/counted?stage={stage}")
        link = APPLICATION_LINK if stage == "applied" else ENGAGEMENT_LINK
        assert len(link.findall(page)) == expected, (key, stage)


def test_drill_down_lists_the_right_engagements(client, world):
    login(client, world.manager.email)
    page = _page(client, f"/dashboard/programmes/{world.programmes['A'].id}/counted?stage=counted")
    for key in ("e1", "e2", "e3", "e7", "e8"):
        assert f'href="/engagements/{world.engagements[key].id}"' in page
    for key in ("e4", "e5", "e6"):
        assert f'href="/engagements/{world.engagements[key].id}"' not in page


def test_people_and_gpu_drill_downs(client, world):
    login(client, world.manager.email)
    people = _page(client, f"/dashboard/programmes/{world.programmes['D'].id}/counted")
    assert people.count("***@example.com") == 2  # a@ and A@ are one person; b@; c@ and d@ did not attend
    assert "b@example.com" not in people and "a@example.com" not in people
    gpu = _page(client, f"/dashboard/programmes/{world.programmes['E'].id}/counted")
    assert len(ENGAGEMENT_LINK.findall(gpu)) == 2 and "250.5" in gpu and "500.0" in gpu


def test_breakdown_cells_drill_down_to_their_engagements(client, world):
    login(client, world.manager.email)
    scope = dashboard_scope(world.manager)
    checked = 0
    for b in all_breakdowns(scope):
        for row in b.rows:
            page = _page(client, f"/dashboard/breakdowns/{b.dimension.key}?key={row.url_key}")
            assert len(ENGAGEMENT_LINK.findall(page)) == row.count, (b.dimension.key, row.key)
            checked += 1
    assert checked >= 20
    assert client.get("/dashboard/breakdowns/nonsense?key=x").status_code == 404
    assert client.get("/dashboard/breakdowns/sigungu").status_code == 404


def test_unknown_stage_is_404(client, world):
    login(client, world.manager.email)
    assert client.get(f"/dashboard/programmes/{world.programmes['A'].id}/counted?stage=x").status_code == 404


def test_coordinator_sees_its_institution_only(client, world):
    login(client, world.coordinator.email)
    page = _page(client, "/dashboard")
    assert "C 창업 인큐베이팅" in page and "E GPU 지원" in page
    assert "A 솔루션 도입" not in page
    assert client.get(f"/dashboard/programmes/{world.programmes['A'].id}/counted").status_code == 404
    assert client.get(f"/dashboard/programmes/{world.programmes['C'].id}/counted").status_code == 200


def test_another_consortiums_manager_gets_404(client, world):
    login(client, world.other_manager.email)
    assert "A 솔루션 도입" not in _page(client, "/dashboard")
    assert client.get(f"/dashboard/programmes/{world.programmes['A'].id}/counted").status_code == 404


def test_national_viewer_sees_aggregates_without_firm_names(client, world):
    login(client, world.viewer.email)
    page = _page(client, f"/dashboard?consortium={world.consortium.id}")
    assert "A 솔루션 도입" in page
    for name in world.firms:
        assert name not in page
    assert "/dashboard/programmes/" not in page and "/dashboard/breakdowns/" not in page
    assert client.get(f"/dashboard/programmes/{world.programmes['A'].id}/counted").status_code == 403
    assert client.get("/dashboard/breakdowns/sigungu?key=31140").status_code == 403


def test_evaluator_keeps_its_message(client_en, app):
    evaluator = make_user(Role.evaluator)
    login(client_en, evaluator.email)
    assert "The applications assigned to you for evaluation will appear here." in _page(
        client_en, "/dashboard"
    )


def test_admin_sees_every_consortium(client, world):
    admin = make_user(Role.admin)
    login(client, admin.email)
    assert "A 솔루션 도입" in _page(client, "/dashboard")


def test_mask_email():
    assert mask_email("kim.cheolsu@example.com") == "ki***@example.com"
    assert mask_email("broken") == "***"
