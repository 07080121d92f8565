"""The training pages in English: the programme's sessions and quota, a session, and the forms."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.audit.models import AccessLog
from crm.auth.models import Role
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.programmes.models import Track
from crm.training.models import TrainingRegistration, TrainingSession
from tests.conftest import login, post_form
from tests.factories import make_engagement, make_firm, make_programme, make_training_registration, make_user
from tests.training.helpers import make_world, session_in


def _session_form(world, **changes: str) -> dict[str, str]:
    values = {
        "course": "재직자 생성형 AI 실무",
        "held_on": (world.today + timedelta(days=14)).isoformat(),
        "starts_at": "14:00",
        "hours": "3.5",
        "place": "울산대학교 산학협력관 301호",
        "capacity": "25",
    }
    values.update(changes)
    return values


def _sessions(programme_id: int) -> list[TrainingSession]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(TrainingSession).where(TrainingSession.programme_id == programme_id))
    )


def test_sessions_page_shows_the_quota_newest_first_and_paginates(client_en, app, monkeypatch):
    world = make_world(target=2)
    old = session_in(world, -30, course="오래된 과정")
    new = session_in(world, -2, course="최근 과정")
    make_training_registration(old, email="a@example.com", attended=True)
    make_training_registration(new, email="A@example.com", attended=True)
    make_training_registration(new, email="b@example.com", attended=False)
    login(client_en, world.coordinator.email)
    page = client_en.get(f"/programmes/{world.programme.id}/training").get_data(as_text=True)
    assert "1 of 2 people (50%)" in page and "Quota reached" not in page
    assert "<progress" in page
    assert '66% <span class="muted">(2 of 3 registrations whose attendance was taken)' in page
    assert page.index("최근 과정") < page.index("오래된 과정")
    assert "New session" in page

    make_training_registration(new, email="c@example.com", attended=True)
    page = client_en.get(f"/programmes/{world.programme.id}/training").get_data(as_text=True)
    assert "2 of 2 people (100%)" in page and "Quota reached" in page

    monkeypatch.setitem(app.config, "PAGE_SIZE", 1)
    first = client_en.get(f"/programmes/{world.programme.id}/training").get_data(as_text=True)
    second = client_en.get(f"/programmes/{world.programme.id}/training?page=2").get_data(as_text=True)
    assert "최근 과정" in first and "오래된 과정" not in first
    assert "오래된 과정" in second and "Page 2 of 2" in second


def test_manager_adds_a_session(client_en):
    world = make_world()
    login(client_en, world.manager.email)
    assert client_en.get(f"/programmes/{world.programme.id}/training/new").status_code == 200
    response = post_form(client_en, f"/programmes/{world.programme.id}/training/new", _session_form(world))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    [session] = _sessions(world.programme.id)
    assert response.headers["Location"] == f"/training/{session.id}"
    assert (session.starts_at.hour, session.capacity, str(session.hours)) == (14, 25, "3.5")


def test_session_form_names_every_problem_and_keeps_the_input(client_en):
    world = make_world()
    login(client_en, world.manager.email)
    outside = world.programme.programme_year.ends_on + timedelta(days=3)
    typed = _session_form(world, course="", held_on=outside.isoformat(), hours="30", capacity="0", place="")
    response = post_form(client_en, f"/programmes/{world.programme.id}/training/new", typed)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter the course name." in page
    assert "The session must take place within the programme year" in page
    assert "Enter the hours as a number above 0 and at most 24" in page
    assert "The capacity must be between 1 and 10,000 people." in page
    assert "Enter the place" in page
    assert f'value="{outside.isoformat()}"' in page and 'value="30"' in page
    bad_time = post_form(
        client_en, f"/programmes/{world.programme.id}/training/new", _session_form(world, starts_at="25:99")
    )
    assert bad_time.status_code == 422 and "Not a valid time value" in bad_time.get_data(as_text=True)
    assert _sessions(world.programme.id) == []


def test_lowering_the_capacity_below_the_registrations_is_refused(client_en):
    world = make_world()
    session = session_in(world, 10, capacity=3)
    make_training_registration(session)
    make_training_registration(session)
    login(client_en, world.coordinator.email)
    response = post_form(client_en, f"/training/{session.id}/edit", _session_form(world, capacity="1"))
    assert response.status_code == 422
    assert "2 people are already registered; the capacity cannot be lower than that." in response.get_data(
        as_text=True
    )
    ok = post_form(client_en, f"/training/{session.id}/edit", _session_form(world, capacity="2"))
    assert ok.status_code == 302
    assert _sessions(world.programme.id)[0].capacity == 2


def test_deleting_a_session_asks_for_confirmation_and_is_refused_after_attendance(client_en):
    world = make_world()
    session = session_in(world, 10)
    make_training_registration(session)
    login(client_en, world.manager.email)
    page = client_en.get(f"/training/{session.id}/delete").get_data(as_text=True)
    assert "Delete this session and its 1 registrations?" in page
    unconfirmed = post_form(client_en, f"/training/{session.id}/delete", {})
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm the deletion." in unconfirmed.get_data(as_text=True)
    assert len(_sessions(world.programme.id)) == 1

    taken = session_in(world, -1)
    make_training_registration(taken, attended=True)
    refused = post_form(
        client_en, f"/training/{taken.id}/delete", {"confirm": "y"}, page=f"/training/{session.id}/delete"
    )
    assert refused.status_code == 422
    assert "cannot be deleted" in refused.get_data(as_text=True)

    done = post_form(client_en, f"/training/{session.id}/delete", {"confirm": "y"})
    assert (
        done.status_code == 302 and done.headers["Location"] == f"/programmes/{world.programme.id}/training"
    )
    assert [s.id for s in _sessions(world.programme.id)] == [taken.id]


def test_registering_people_with_firm_and_engagement(client_en):
    world = make_world()
    session = session_in(world, 10, capacity=2)
    firm = make_firm(world.consortium, name="(주)교육테스트")
    engagement = make_engagement(world.programme, firm, status=EngagementStatus.in_progress)
    login(client_en, world.coordinator.email)
    form_page = client_en.get(f"/training/{session.id}/registrations/new").get_data(as_text=True)
    assert "(주)교육테스트" in form_page  # the engagement choice
    data = {"name": "김교육", "email": "Kim@Example.com", "phone": "010-1111-2222", "brn": firm.brn_display}
    response = post_form(
        client_en, f"/training/{session.id}/registrations/new", {**data, "engagement_id": str(engagement.id)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"] == f"/training/{session.id}#registrations"
    registration = db.session.scalar(sa.select(TrainingRegistration))
    assert (registration.email, registration.firm_id, registration.engagement_id) == (
        "kim@example.com",
        firm.id,
        engagement.id,
    )

    duplicate = post_form(
        client_en, f"/training/{session.id}/registrations/new", {**data, "engagement_id": ""}
    )
    assert duplicate.status_code == 422
    page = duplicate.get_data(as_text=True)
    assert "kim@example.com is already registered for this session (as 김교육)." in page
    assert f"#registration-{registration.id}" in page

    bad_brn = post_form(
        client_en,
        f"/training/{session.id}/registrations/new",
        {"name": "이교육", "email": "lee@example.com", "brn": "124-81-00999"},
    )
    assert bad_brn.status_code == 422
    assert "the check digit does not match" in bad_brn.get_data(as_text=True)

    unknown = post_form(
        client_en,
        f"/training/{session.id}/registrations/new",
        {"name": "이교육", "email": "lee@example.com", "brn": make_firm().brn},
    )
    assert unknown.status_code == 422
    assert "No firm with this business registration number is registered with your consortium" in (
        unknown.get_data(as_text=True)
    )

    assert (
        post_form(
            client_en,
            f"/training/{session.id}/registrations/new",
            {"name": "이교육", "email": "lee@example.com"},
        ).status_code
        == 302
    )
    full = post_form(
        client_en,
        f"/training/{session.id}/registrations/new",
        {"name": "박교육", "email": "park@example.com"},
    )
    assert full.status_code == 422
    assert "This session is full: all 2 seats are taken." in full.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(TrainingRegistration.id))) == 2


def test_session_page_seats_left_attendance_and_access_log(client_en):
    world = make_world()
    session = session_in(world, 0, capacity=3)
    came = make_training_registration(session, name="홍길동", email="hong@example.com")
    absent = make_training_registration(session, name="임꺽정", email="lim@example.com")
    login(client_en, world.coordinator.email)
    page = client_en.get(f"/training/{session.id}").get_data(as_text=True)
    assert "<dt>Seats left</dt>\n    <dd>1</dd>" in page
    assert "hong@example.com" in page and "Save attendance" in page
    logged = db.session.scalars(
        sa.select(AccessLog).where(AccessLog.action == "view_training_registrations")
    ).all()
    assert [(entry.subject_id, entry.actor_id) for entry in logged] == [(session.id, world.coordinator.id)]

    response = post_form(
        client_en,
        f"/training/{session.id}/attendance",
        {"shown": [str(came.id), str(absent.id)], "attended": [str(came.id)]},
        page=f"/training/{session.id}",
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (came.attended, absent.attended) == (True, False)
    page = client_en.get(f"/training/{session.id}").get_data(as_text=True)
    assert 'badge-ok">Attended' in page and 'badge-danger">Absent' in page


def test_attendance_before_the_day_is_refused_with_a_message(client_en):
    world = make_world()
    session = session_in(world, 3)
    registration = make_training_registration(session)
    login(client_en, world.manager.email)
    page = client_en.get(f"/training/{session.id}").get_data(as_text=True)
    assert "Save attendance" not in page and "Attendance can be taken from the day of the session" in page
    response = post_form(
        client_en,
        f"/training/{session.id}/attendance",
        {"shown": str(registration.id), "attended": str(registration.id)},
        page=f"/training/{session.id}",
    )
    assert response.status_code == 422
    assert "Attendance can be taken from the day of the session" in response.get_data(as_text=True)
    db.session.expire_all()
    assert registration.attended is None


def test_removing_a_registration_asks_for_confirmation(client_en):
    world = make_world()
    session = session_in(world, -1)
    stays = make_training_registration(session, name="출석자", attended=True)
    goes = make_training_registration(session, name="취소자", attended=False)
    login(client_en, world.manager.email)
    assert "Untick the attendance first" in client_en.get(
        f"/training-registrations/{stays.id}/delete"
    ).get_data(as_text=True)
    refused = post_form(
        client_en,
        f"/training-registrations/{stays.id}/delete",
        {"confirm": "y"},
        page=f"/training/{session.id}",
    )
    assert refused.status_code == 422 and "Untick the attendance first" in refused.get_data(as_text=True)
    assert post_form(client_en, f"/training-registrations/{goes.id}/delete", {}).status_code == 422
    done = post_form(client_en, f"/training-registrations/{goes.id}/delete", {"confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert [r.id for r in db.session.scalars(sa.select(TrainingRegistration))] == [stays.id]


def test_programme_page_links_and_engagement_panel(client_en, app):
    world = make_world()
    login(client_en, world.manager.email)
    page = client_en.get(f"/programmes/{world.programme.id}").get_data(as_text=True)
    assert f'href="/programmes/{world.programme.id}/training"' in page
    adoption = make_programme(world.programme.programme_year, world.institution, track=Track.adoption)
    page = client_en.get(f"/programmes/{adoption.id}").get_data(as_text=True)
    assert "/training" not in page

    firm = make_firm(world.consortium)
    engagement = make_engagement(world.programme, firm, status=EngagementStatus.in_progress)
    session = session_in(world, -3, course="재직자 AI 실무")
    make_training_registration(session, name="김직원", firm=firm, attended=True)
    make_training_registration(session, name="다른회사직원", firm=make_firm(world.consortium), attended=True)
    panel = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert 'id="training"' in panel and "김직원" in panel and "다른회사직원" not in panel
    assert "1 trained, 1 attendances" in panel
    other = make_engagement(adoption, firm)
    assert 'id="training"' not in client_en.get(f"/engagements/{other.id}").get_data(as_text=True)

    viewer = app.test_client()
    viewer.set_cookie("lang", "en")
    login(viewer, make_user(Role.national_viewer).email)
    page = viewer.get(f"/programmes/{world.programme.id}").get_data(as_text=True)
    assert "AI 교육" in page and "/training" not in page
