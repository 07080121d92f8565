"""Who may see and change programme years, programmes and calls."""

from __future__ import annotations

import pytest

from crm.auth.models import Role
from tests.conftest import login
from tests.factories import make_call, make_institution, make_programme, make_programme_year, make_user


@pytest.fixture
def world(app_ctx):
    """A consortium with one programme and call, and a second consortium with its own."""
    year = make_programme_year()
    programme = make_programme(year)
    call = make_call(programme)
    other_year = make_programme_year()
    other_programme = make_programme(other_year)
    other_call = make_call(other_programme)
    return {
        "consortium": year.consortium,
        "year": year,
        "programme": programme,
        "call": call,
        "other_year": other_year,
        "other_programme": other_programme,
        "other_call": other_call,
    }


def _read_urls(year, programme, call) -> list[str]:
    return [f"/programmes/{programme.id}", f"/calls/{call.id}"]


def _edit_urls(year, programme, call) -> list[str]:
    return [
        f"/programmes/years/{year.id}/edit",
        f"/programmes/years/{year.id}/programmes/new",
        f"/programmes/{programme.id}/edit",
        f"/programmes/{programme.id}/calls/new",
        f"/calls/{call.id}/edit",
    ]


def _own(world):
    return world["year"], world["programme"], world["call"]


def _other(world):
    return world["other_year"], world["other_programme"], world["other_call"]


def test_admin_sees_and_edits_everything(client_en, world):
    admin = make_user(Role.admin)
    login(client_en, admin.email)
    for urls in (_read_urls(*_own(world)), _edit_urls(*_own(world)), _edit_urls(*_other(world))):
        for url in urls:
            assert client_en.get(url).status_code == 200, url
    page = client_en.get("/programmes").get_data(as_text=True)
    assert world["programme"].name in page and world["other_programme"].name in page
    assert client_en.get("/programmes/years/new").status_code == 200


def test_manager_works_in_its_own_consortium_only(client_en, world):
    manager = make_user(Role.consortium_manager, consortium=world["consortium"])
    login(client_en, manager.email)
    for url in _read_urls(*_own(world)) + _edit_urls(*_own(world)):
        assert client_en.get(url).status_code == 200, url
    for url in _read_urls(*_other(world)) + _edit_urls(*_other(world)):
        assert client_en.get(url).status_code == 404, url
    page = client_en.get("/programmes").get_data(as_text=True)
    assert world["programme"].name in page and world["other_programme"].name not in page
    # A manager cannot slip another consortium in through the filter either.
    filtered = client_en.get(f"/programmes?consortium={world['other_year'].consortium_id}")
    assert world["other_programme"].name not in filtered.get_data(as_text=True)


def test_coordinator_reads_its_consortium_but_cannot_edit(client_en, world):
    coordinator = make_user(Role.coordinator, institution=make_institution(world["consortium"]))
    login(client_en, coordinator.email)
    assert client_en.get("/programmes").status_code == 200
    for url in _read_urls(*_own(world)):
        assert client_en.get(url).status_code == 200, url
    for url in _read_urls(*_other(world)):
        assert client_en.get(url).status_code == 404, url
    for url in [*_edit_urls(*_own(world)), "/programmes/years/new"]:
        assert client_en.get(url).status_code == 403, url
    page = client_en.get(f"/programmes/{world['programme'].id}").get_data(as_text=True)
    assert f"/programmes/{world['programme'].id}/edit" not in page


def test_coordinator_cannot_post_to_edit_routes(client_en, world):
    coordinator = make_user(Role.coordinator, institution=make_institution(world["consortium"]))
    login(client_en, coordinator.email)
    from tests.conftest import csrf_token

    token = csrf_token(client_en, "/programmes")
    response = client_en.post(
        f"/programmes/{world['programme'].id}/edit", data={"csrf_token": token, "name": "x"}
    )
    assert response.status_code == 403


def test_national_viewer_reads_every_consortium_without_editing(client_en, world):
    viewer = make_user(Role.national_viewer)
    login(client_en, viewer.email)
    for url in _read_urls(*_own(world)) + _read_urls(*_other(world)):
        assert client_en.get(url).status_code == 200, url
    for url in _edit_urls(*_own(world)):
        assert client_en.get(url).status_code == 403, url


@pytest.mark.parametrize("role", [Role.evaluator, Role.firm_user])
def test_evaluators_and_firm_users_are_refused_everywhere(client_en, world, role):
    user = make_user(role)
    login(client_en, user.email)
    urls = [
        "/programmes",
        "/programmes/years/new",
        *_read_urls(*_own(world)),
        *_edit_urls(*_own(world)),
        "/admin/consortia",
        "/admin/consortia/new",
        f"/admin/consortia/{world['consortium'].id}",
        f"/admin/consortia/{world['consortium'].id}/edit",
        f"/admin/consortia/{world['consortium'].id}/institutions/new",
    ]
    for url in urls:
        assert client_en.get(url).status_code == 403, url


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    response = client.get(f"/programmes/{world['programme'].id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
