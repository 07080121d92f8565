"""A small world for GPU tests: one consortium's infrastructure programme with a target in GPU hours, its
programme year around today, and an engagement in progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from crm.auth.models import Role, User
from crm.core.time import today_kst
from crm.engagements.models import Engagement, EngagementStatus
from crm.organisation.models import Consortium, Institution
from crm.programmes.models import Programme, TargetUnit, Track
from tests.factories import (
    make_consortium,
    make_engagement,
    make_firm,
    make_institution,
    make_programme,
    make_programme_year,
    make_user,
)


@dataclass
class World:
    consortium: Consortium
    institution: Institution
    programme: Programme
    engagement: Engagement
    manager: User
    coordinator: User  # of the institution that runs the programme
    other_coordinator: User  # another institution of the same consortium
    today: date


def make_world(target: int = 1000) -> World:
    today = today_kst()
    consortium = make_consortium()
    institution = make_institution(consortium)
    year = make_programme_year(
        consortium, starts_on=today - timedelta(days=200), ends_on=today + timedelta(days=165)
    )
    programme = make_programme(
        year,
        institution,
        track=Track.infrastructure,
        unit=TargetUnit.gpu_hours,
        target=target,
        name="GPU 인프라",
    )
    world = World(
        consortium=consortium,
        institution=institution,
        programme=programme,
        engagement=None,  # type: ignore[arg-type]
        manager=make_user(Role.consortium_manager, consortium=consortium),
        coordinator=make_user(Role.coordinator, institution=institution),
        other_coordinator=make_user(Role.coordinator, institution=make_institution(consortium)),
        today=today,
    )
    world.engagement = engagement_in(world, name="(주)GPU활용")
    return world


def engagement_in(
    world: World, status: EngagementStatus = EngagementStatus.in_progress, **firm: Any
) -> Engagement:
    return make_engagement(
        world.programme,
        make_firm(world.consortium, **firm),
        status=status,
        starts_on=world.today - timedelta(days=60),
        ends_on=world.today + timedelta(days=120),
    )
