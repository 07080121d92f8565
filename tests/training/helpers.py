"""A small world for training tests: one consortium's training programme run by one institution, with its
programme year around today so sessions can be past or future."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from crm.auth.models import Role, User
from crm.core.time import today_kst
from crm.organisation.models import Consortium, Institution
from crm.programmes.models import Programme, TargetUnit, Track
from crm.training.models import TrainingSession
from tests.factories import (
    make_consortium,
    make_institution,
    make_programme,
    make_programme_year,
    make_training_session,
    make_user,
)


@dataclass
class World:
    consortium: Consortium
    institution: Institution
    programme: Programme
    manager: User
    coordinator: User  # of the institution that runs the programme
    other_coordinator: User  # another institution of the same consortium: reads only
    today: date


def make_world(target: int = 100) -> World:
    today = today_kst()
    consortium = make_consortium()
    institution = make_institution(consortium)
    year = make_programme_year(
        consortium, starts_on=today - timedelta(days=200), ends_on=today + timedelta(days=165)
    )
    programme = make_programme(
        year, institution, track=Track.training, unit=TargetUnit.people, target=target, name="AI 교육"
    )
    return World(
        consortium=consortium,
        institution=institution,
        programme=programme,
        manager=make_user(Role.consortium_manager, consortium=consortium),
        coordinator=make_user(Role.coordinator, institution=institution),
        other_coordinator=make_user(Role.coordinator, institution=make_institution(consortium)),
        today=today,
    )


def session_in(world: World, days_from_today: int = 0, **kw) -> TrainingSession:
    return make_training_session(world.programme, held_on=world.today + timedelta(days=days_from_today), **kw)
