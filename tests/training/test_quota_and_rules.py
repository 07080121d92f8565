"""The people-count quota and the rules of sessions, registrations and attendance, at the operation level."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import Conflict, NotPermitted, RuleViolation, ValidationFailed
from crm.extensions import db
from crm.programmes.models import TargetUnit, Track
from crm.training import operations
from crm.training.models import TrainingRegistration, TrainingSession
from crm.training.operations import QuotaProgress, RegistrationData, SessionData
from tests.factories import (
    make_consortium,
    make_engagement,
    make_firm,
    make_programme,
    make_training_registration,
    make_user,
)
from tests.training.helpers import make_world, session_in

pytestmark = pytest.mark.usefixtures("english")


def _session_data(world, **changes) -> SessionData:
    values = {
        "course": "CEO를 위한 AI 전략",
        "held_on": world.today + timedelta(days=10),
        "hours": Decimal("3.5"),
        "place": "울산대학교 산학협력관 301호",
        "capacity": 20,
    }
    values.update(changes)
    return SessionData(**values)


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


# --- quota --------------------------------------------------------------------------------------------


def test_quota_counts_distinct_people_who_attended_by_lower_cased_email(app):
    world = make_world(target=3)
    first, second = session_in(world, -20), session_in(world, -5)
    make_training_registration(first, email="Kim@Example.com", attended=True)
    make_training_registration(second, email="kim@example.com", attended=True)  # the same person again
    make_training_registration(first, email="lee@example.com", attended=True)
    make_training_registration(second, email="park@example.com", attended=False)
    make_training_registration(second, email="choi@example.com")  # attendance not taken yet
    # Another programme's attendance does not count here.
    make_training_registration(session_in(make_world()), email="other@example.com", attended=True)

    quota = operations.training_quota(world.programme)
    assert quota == QuotaProgress(target=3, counted=2, registered=4, percent=66, reached=False)

    make_training_registration(second, email="jung@example.com", attended=True)
    assert operations.training_quota(world.programme) == QuotaProgress(
        target=3, counted=3, registered=5, percent=100, reached=True
    )


def test_quota_beyond_the_target_stays_reached_and_shows_over_100_percent(app):
    world = make_world(target=2)
    session = session_in(world, -1)
    for n in range(5):
        make_training_registration(session, email=f"p{n}@example.com", attended=True)
    quota = operations.training_quota(world.programme)
    assert (quota.counted, quota.percent, quota.reached) == (5, 250, True)


def test_quota_without_a_people_target_has_no_percentage(app):
    world = make_world()
    world.programme.unit = TargetUnit.firms
    make_training_registration(session_in(world, -1), attended=True)
    quota = operations.training_quota(world.programme)
    assert quota == QuotaProgress(target=None, counted=1, registered=1, percent=None, reached=False)


def test_attendance_summary_counts_only_registrations_whose_attendance_was_taken(app):
    world = make_world()
    session = session_in(world, -1)
    for attended in (True, True, True, False, None):
        make_training_registration(session, attended=attended)
    summary = operations.attendance_summary(world.programme)
    assert (summary.marked, summary.attended, summary.rate) == (4, 3, 75)
    assert operations.attendance_summary(make_world().programme).rate is None


# --- sessions -----------------------------------------------------------------------------------------


def test_create_session_validates_every_field(app):
    world = make_world()
    outside = world.programme.programme_year.ends_on + timedelta(days=1)
    with pytest.raises(ValidationFailed) as caught:
        operations.create_session(
            world.programme,
            _session_data(world, course=" ", held_on=outside, hours=Decimal("1.25"), place="", capacity=0),
            world.manager,
        )
    assert set(caught.value.fields) == {"course", "held_on", "hours", "place", "capacity"}
    assert "within the programme year" in str(caught.value.fields["held_on"][0])
    for hours in (Decimal("0"), Decimal("24.5"), None):
        with pytest.raises(ValidationFailed) as caught:
            operations.create_session(world.programme, _session_data(world, hours=hours), world.manager)
        assert set(caught.value.fields) == {"hours"}
    with pytest.raises(ValidationFailed) as caught:
        operations.create_session(world.programme, _session_data(world, held_on=None), world.manager)
    assert set(caught.value.fields) == {"held_on"}
    assert db.session.scalar(sa.select(sa.func.count(TrainingSession.id))) == 0


def test_create_session_writes_and_audits(app):
    world = make_world()
    session = operations.create_session(world.programme, _session_data(world), world.coordinator)
    assert (session.course, session.capacity, session.hours) == ("CEO를 위한 AI 전략", 20, Decimal("3.5"))
    assert session.created_by_id == world.coordinator.id
    [event] = _events("training.session.create")
    assert event.object_id == session.id and event.changes["hours"] == "3.5"


def test_sessions_belong_to_training_programmes_only(app):
    world = make_world()
    adoption = make_programme(world.programme.programme_year, world.institution, track=Track.adoption)
    with pytest.raises(RuleViolation) as caught:
        operations.create_session(adoption, _session_data(world), world.manager)
    assert caught.value.code == "not_training"


def test_capacity_cannot_go_below_the_registrations(app):
    world = make_world()
    session = session_in(world, 5, capacity=5)
    for _ in range(3):
        make_training_registration(session)
    with pytest.raises(ValidationFailed) as caught:
        operations.update_session(session, _session_data(world, capacity=2), world.manager)
    assert "3 people are already registered" in str(caught.value.fields["capacity"][0])
    operations.update_session(session, _session_data(world, capacity=3), world.manager)
    assert session.capacity == 3
    [event] = _events("training.session.update")
    assert event.changes["capacity"] == [5, 3]


def test_a_session_with_attendance_cannot_move_to_the_future_or_be_deleted(app):
    world = make_world()
    session = session_in(world, -2)
    make_training_registration(session, attended=False)
    with pytest.raises(ValidationFailed) as caught:
        operations.update_session(
            session, _session_data(world, held_on=world.today + timedelta(days=1)), world.manager
        )
    assert set(caught.value.fields) == {"held_on"}
    with pytest.raises(RuleViolation) as refused:
        operations.delete_session(session, world.manager)
    assert refused.value.code == "attendance_taken"
    assert db.session.get(TrainingSession, session.id) is not None


def test_deleting_a_session_removes_its_registrations_and_is_audited(app):
    world = make_world()
    session = session_in(world, 3)
    make_training_registration(session, email="a@example.com")
    session_id = session.id
    operations.delete_session(session, world.manager)
    assert db.session.get(TrainingSession, session_id) is None
    assert db.session.scalar(sa.select(sa.func.count(TrainingRegistration.id))) == 0
    [event] = _events("training.session.delete")
    assert event.object_id == session_id and event.changes["registrations"] == ["a@example.com"]


def test_only_staff_who_run_the_programme_may_change_it(app):
    world = make_world()
    for outsider in (
        world.other_coordinator,
        make_user(Role.consortium_manager),
        make_user(Role.national_viewer),
    ):
        assert not operations.may_run(world.programme, outsider)
        with pytest.raises(NotPermitted):
            operations.create_session(world.programme, _session_data(world), outsider)
    assert operations.may_run(world.programme, make_user(Role.admin))
    assert operations.may_read(world.programme, world.other_coordinator)
    assert not operations.may_read(world.programme, make_user(Role.national_viewer))
    assert not operations.may_read(world.programme, make_user(Role.coordinator))  # another consortium


# --- registrations ------------------------------------------------------------------------------------


def test_register_normalises_the_email_and_finds_the_firm_by_brn(app):
    world = make_world()
    session = session_in(world, 7)
    firm = make_firm(world.consortium)
    engagement = make_engagement(world.programme, firm)
    brn = f"{firm.brn[:3]}-{firm.brn[3:5]}-{firm.brn[5:]}"
    registration = operations.register(
        session,
        RegistrationData(
            name=" 김교육 ",
            email=" Kim.Edu@Example.COM ",
            phone="010-2222-3333",
            brn=brn,
            engagement_id=engagement.id,
        ),
        world.coordinator,
    )
    assert (registration.name, registration.email) == ("김교육", "kim.edu@example.com")
    assert (registration.firm_id, registration.engagement_id) == (firm.id, engagement.id)
    assert registration.attended is None and registration.registered_by_id == world.coordinator.id
    [event] = _events("training.registration.create")
    assert event.changes["email"] == "kim.edu@example.com"


def test_naming_only_the_engagement_names_its_firm(app):
    world = make_world()
    engagement = make_engagement(world.programme, make_firm(world.consortium))
    registration = operations.register(
        session_in(world, 7),
        RegistrationData(name="박수강", email="park@example.com", engagement_id=engagement.id),
        world.manager,
    )
    assert registration.firm_id == engagement.firm_id


def test_registration_problems_are_named_per_field(app):
    world = make_world()
    session = session_in(world, 7)
    hidden_firm = make_firm(make_consortium())  # registered, but with another consortium only
    mine = make_firm(world.consortium)
    other_engagement = make_engagement(world.programme, make_firm(world.consortium))
    cases = [
        (RegistrationData(name="", email="not-an-address", phone="abc"), {"name", "email", "phone"}),
        (RegistrationData(name="A", email="a@example.com", brn="124-81-00999"), {"brn"}),  # check digit
        (RegistrationData(name="A", email="a@example.com", brn=hidden_firm.brn), {"brn"}),
        (
            RegistrationData(
                name="A", email="a@example.com", brn=mine.brn, engagement_id=other_engagement.id
            ),
            {"engagement_id"},
        ),
        (RegistrationData(name="A", email="a@example.com", engagement_id=999_999), {"engagement_id"}),
    ]
    for data, fields in cases:
        with pytest.raises(ValidationFailed) as caught:
            operations.register(session, data, world.manager)
        assert set(caught.value.fields) == fields, data
    assert "No firm with this business registration number" in str(
        operations._registration_values(session, cases[2][0], world.manager)[1]["brn"][0]
    )
    assert session.registrations == []


def test_the_same_email_twice_is_a_conflict_pointing_at_the_first_registration(app):
    world = make_world()
    session = session_in(world, 7)
    first = make_training_registration(session, name="최초등록", email="same@example.com")
    with pytest.raises(Conflict) as caught:
        operations.register(
            session, RegistrationData(name="다른이름", email="SAME@example.com"), world.manager
        )
    assert caught.value.existing_id == first.id
    assert "same@example.com is already registered" in str(caught.value.fields["email"][0])
    # Another session takes the same person.
    operations.register(
        session_in(world, 8), RegistrationData(name="최초등록", email="same@example.com"), world.manager
    )


def test_registrations_never_exceed_the_capacity(app):
    world = make_world()
    session = session_in(world, 7, capacity=2)
    operations.register(session, RegistrationData(name="1", email="one@example.com"), world.manager)
    operations.register(session, RegistrationData(name="2", email="two@example.com"), world.manager)
    with pytest.raises(RuleViolation) as caught:
        operations.register(session, RegistrationData(name="3", email="three@example.com"), world.manager)
    assert caught.value.code == "session_full" and "all 2 seats are taken" in str(caught.value.message)
    assert operations.registered_count(session) == 2


def test_an_attended_registration_cannot_be_removed_until_unticked(app):
    world = make_world()
    session = session_in(world, -1)
    came = make_training_registration(session, attended=True)
    absent = make_training_registration(session, attended=False)
    with pytest.raises(RuleViolation) as caught:
        operations.delete_registration(came, world.manager)
    assert caught.value.code == "attended"
    operations.delete_registration(absent, world.manager)
    assert [r.id for r in session.registrations] == [came.id]
    [event] = _events("training.registration.delete")
    assert event.object_id == absent.id


# --- attendance ---------------------------------------------------------------------------------------


def test_attendance_is_refused_before_the_session_day(app):
    world = make_world()
    session = session_in(world, 1)
    registration = make_training_registration(session)
    with pytest.raises(RuleViolation) as caught:
        operations.mark_attendance(session, [registration.id], [registration.id], world.manager)
    assert caught.value.code == "too_early"
    assert registration.attended is None and registration.attendance_marked_at is None


def test_attendance_on_the_day_marks_ticked_present_and_unticked_absent(app):
    world = make_world()
    session = session_in(world, 0)
    came, stayed_away, added_meanwhile = (make_training_registration(session) for _ in range(3))
    operations.mark_attendance(session, [came.id, stayed_away.id], [came.id], world.coordinator)
    assert (came.attended, stayed_away.attended, added_meanwhile.attended) == (True, False, None)
    assert came.attendance_marked_at is not None and added_meanwhile.attendance_marked_at is None
    [event] = _events("training.attendance")
    assert (
        event.changes["marked"] == 2 and {"id": came.id, "attended": [None, True]} in event.changes["changes"]
    )
    # Correcting a mistake later.
    operations.mark_attendance(session, [came.id, stayed_away.id], [came.id, stayed_away.id], world.manager)
    assert stayed_away.attended is True


def test_attendance_needs_registrations_of_this_session(app):
    world = make_world()
    session = session_in(world, -1)
    with pytest.raises(RuleViolation) as caught:
        operations.mark_attendance(session, [], [], world.manager)
    assert caught.value.code == "no_registrations"
    mine = make_training_registration(session)
    stranger = make_training_registration(session_in(world, -1))
    with pytest.raises(ValidationFailed):
        operations.mark_attendance(session, [mine.id], [stranger.id], world.manager)
    assert stranger.attended is None
