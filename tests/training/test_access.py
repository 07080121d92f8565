"""Who reaches the training pages: staff who run the programme change it, other staff of the consortium
read it without the people's contact details, everyone else gets 404 (or 403 by role)."""

from __future__ import annotations

import pytest

from crm.auth.models import Role
from crm.programmes.models import Track
from tests.conftest import login, post_form
from tests.factories import make_institution, make_programme, make_training_registration, make_user
from tests.training.helpers import make_world, session_in


@pytest.fixture
def world(app):
    world = make_world()
    world.session = session_in(world, -1)
    world.registration = make_training_registration(
        world.session, name="홍길동", email="hong@example.com", phone="010-9999-8888"
    )
    return world


def _read_urls(world) -> list[str]:
    return [f"/programmes/{world.programme.id}/training", f"/training/{world.session.id}"]


def _write_urls(world) -> list[str]:
    return [
        f"/programmes/{world.programme.id}/training/new",
        f"/training/{world.session.id}/edit",
        f"/training/{world.session.id}/delete",
        f"/training/{world.session.id}/registrations/new",
        f"/training-registrations/{world.registration.id}/delete",
    ]


@pytest.mark.parametrize("who", ["admin", "manager", "coordinator"])
def test_staff_who_run_the_programme_open_every_page(client, world, who):
    user = {"admin": make_user(Role.admin), "manager": world.manager, "coordinator": world.coordinator}[who]
    login(client, user.email)
    for url in _read_urls(world) + _write_urls(world):
        assert client.get(url).status_code == 200, url


def test_another_institutions_coordinator_reads_masked_and_may_not_change(client, world):
    login(client, world.other_coordinator.email)
    for url in _read_urls(world):
        assert client.get(url).status_code == 200, url
    page = client.get(f"/training/{world.session.id}").get_data(as_text=True)
    assert "홍**" in page and "홍길동" not in page
    assert "hong@example.com" not in page and "010-9999-8888" not in page
    assert "/registrations/new" not in page and "/attendance" not in page
    for url in _write_urls(world):
        assert client.get(url).status_code == 403, url
    response = post_form(
        client,
        f"/training/{world.session.id}/attendance",
        {"shown": str(world.registration.id), "attended": str(world.registration.id)},
        page="/account",
    )
    assert response.status_code == 403
    assert world.registration.attended is None


@pytest.mark.parametrize("who", ["coordinator", "manager"])
def test_staff_of_another_consortium_get_404(client, world, who):
    outsider = (
        make_user(Role.coordinator, institution=make_institution())
        if who == "coordinator"
        else make_user(Role.consortium_manager)
    )
    login(client, outsider.email)
    for url in _read_urls(world) + _write_urls(world):
        assert client.get(url).status_code == 404, url
    response = post_form(client, f"/training/{world.session.id}/attendance", {"shown": "1"}, page="/account")
    assert response.status_code == 404


@pytest.mark.parametrize("role", [Role.national_viewer, Role.evaluator, Role.firm_user])
def test_other_roles_are_refused(client, world, role):
    login(client, make_user(role).email)
    for url in _read_urls(world) + _write_urls(world):
        assert client.get(url).status_code == 403, url


def test_programmes_of_other_tracks_have_no_training_pages(client, world):
    adoption = make_programme(world.programme.programme_year, world.institution, track=Track.adoption)
    login(client, world.manager.email)
    assert client.get(f"/programmes/{adoption.id}/training").status_code == 404
    assert client.get(f"/programmes/{adoption.id}/training/new").status_code == 404
