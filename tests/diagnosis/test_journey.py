"""The firm's journey: entries in the documented order, the current stage, the recommended next track, and
only what the user may see."""

from __future__ import annotations

import json
from datetime import date

import pytest

from crm.auth.models import Role
from crm.diagnosis.journey import firm_journey, journey_as_dicts
from crm.engagements.models import EngagementStatus
from crm.programmes.models import Track
from tests.diagnosis.helpers import make_world, submitted_result
from tests.factories import make_engagement, make_institution, make_programme, make_programme_year, make_user

S = EngagementStatus


@pytest.fixture
def world(app_ctx):
    return make_world()


def _year(world, starts_on: date):
    return make_programme_year(
        world.consortium, starts_on=starts_on, ends_on=starts_on.replace(year=starts_on.year + 1)
    )


def _engagement(world, programme_year, track, status, institution=None, **kw):
    programme = make_programme(
        programme_year,
        institution or world.institution,
        track=track,
        name=f"{track.value} {programme_year.starts_on.year}",
    )
    return make_engagement(programme, world.firm, status=status, **kw)


def test_entries_come_in_year_then_track_order_then_date(world):
    y2025, y2026, y2027 = (
        _year(world, date(2025, 10, 1)),
        _year(world, date(2026, 4, 1)),
        _year(world, date(2027, 4, 1)),
    )
    # created deliberately out of order
    e_incubation_27 = _engagement(world, y2027, Track.incubation, S.pending_agreement)
    e_training_26 = _engagement(world, y2026, Track.training, S.closed)
    e_validation_26 = _engagement(world, y2026, Track.validation, S.in_progress, starts_on=date(2026, 7, 1))
    e_adoption_26_late = _engagement(world, y2026, Track.adoption, S.agreed, starts_on=date(2026, 9, 1))
    e_adoption_26_early = _engagement(world, y2026, Track.adoption, S.closed, starts_on=date(2026, 5, 1))
    e_consulting_25 = _engagement(world, y2025, Track.consulting, S.closed)
    e_gpu_26 = _engagement(world, y2026, Track.infrastructure, S.in_progress)
    diagnosis_26 = submitted_result(world.firm, 2026, strategy=4)
    diagnosis_25 = submitted_result(world.firm, 2025)

    journey = firm_journey(world.firm, world.manager)
    assert [(e.year, e.kind, e.id) for e in journey.entries] == [
        (2025, "diagnosis", diagnosis_25.id),
        (2025, "engagement", e_consulting_25.id),
        (2026, "diagnosis", diagnosis_26.id),
        (2026, "engagement", e_adoption_26_early.id),
        (2026, "engagement", e_adoption_26_late.id),
        (2026, "engagement", e_validation_26.id),
        (2026, "engagement", e_training_26.id),
        (2026, "engagement", e_gpu_26.id),
        (2027, "engagement", e_incubation_27.id),
    ]
    assert [year for year, _ in journey.years] == [2025, 2026, 2027]
    assert [e.track for e in journey.years[1][1]] == [
        Track.diagnosis,
        Track.adoption,
        Track.adoption,
        Track.validation,
        Track.training,
        Track.infrastructure,
    ]
    # incubation awaits its agreement: the furthest stage reached is validation
    assert journey.current_stage is Track.validation
    assert journey.recommended_next is Track.incubation


def test_the_year_of_an_engagement_is_its_programme_years_start(world):
    # programme year 1 of the 2025 regions runs October 2025 to September 2026
    engagement = _engagement(
        world, _year(world, date(2025, 10, 1)), Track.adoption, S.agreed, starts_on=date(2026, 2, 1)
    )
    [entry] = firm_journey(world.firm, world.coordinator).entries
    assert (entry.id, entry.year, entry.starts_on) == (engagement.id, 2025, date(2026, 2, 1))


def test_cancelled_and_unsigned_engagements_are_not_the_current_stage(world):
    y2026 = _year(world, date(2026, 4, 1))
    _engagement(world, y2026, Track.consulting, S.closed)
    _engagement(world, y2026, Track.incubation, S.cancelled)
    _engagement(world, y2026, Track.validation, S.pending_agreement)
    journey = firm_journey(world.firm, world.manager)
    assert len(journey.entries) == 3
    assert journey.current_stage is Track.consulting
    assert journey.recommended_next is Track.adoption  # no diagnosis: the track after the stage


def test_the_recommendation_follows_the_latest_diagnosis_when_it_is_ahead(world):
    y2026 = _year(world, date(2026, 4, 1))
    _engagement(world, y2026, Track.consulting, S.closed)
    submitted_result(world.firm, 2024, track=Track.adoption)
    submitted_result(world.firm, 2026, track=Track.validation)
    journey = firm_journey(world.firm, world.manager)
    assert journey.latest_diagnosis.year == 2026
    assert journey.recommended_next is Track.validation


def test_a_stale_recommendation_gives_way_to_the_next_stage(world):
    _engagement(world, _year(world, date(2026, 4, 1)), Track.validation, S.terminated)
    submitted_result(world.firm, 2025, track=Track.adoption)
    journey = firm_journey(world.firm, world.manager)
    assert journey.current_stage is Track.validation  # terminated: the firm got that far
    assert journey.recommended_next is Track.incubation


def test_a_firm_with_nothing_starts_with_diagnosis(world):
    journey = firm_journey(world.firm, world.manager)
    assert (journey.entries, journey.current_stage, journey.recommended_next) == ([], None, Track.diagnosis)


def test_after_the_last_stage_nothing_is_recommended(world):
    _engagement(world, _year(world, date(2026, 4, 1)), Track.incubation, S.in_progress)
    assert firm_journey(world.firm, world.manager).recommended_next is None


def test_users_see_only_the_engagements_they_may(world):
    y2026 = _year(world, date(2026, 4, 1))
    own = _engagement(world, y2026, Track.consulting, S.closed)
    other_institution = make_institution(world.consortium)
    theirs = _engagement(world, y2026, Track.adoption, S.in_progress, institution=other_institution)

    coordinator_view = firm_journey(world.firm, world.coordinator)
    assert [e.id for e in coordinator_view.entries] == [own.id]
    assert coordinator_view.current_stage is Track.consulting
    assert [e.id for e in firm_journey(world.firm, world.manager).entries] == [own.id, theirs.id]
    assert [e.id for e in firm_journey(world.firm, world.firm_user).entries] == [own.id, theirs.id]
    assert firm_journey(world.firm, make_user(Role.firm_user)).entries == []
    assert firm_journey(world.firm, make_user(Role.national_viewer)).entries == []


def test_links_follow_the_users_pages(world):
    engagement = _engagement(world, _year(world, date(2026, 4, 1)), Track.adoption, S.agreed)
    result = submitted_result(world.firm, 2026)
    staff = {e.kind: e.url for e in firm_journey(world.firm, world.coordinator).entries}
    assert staff == {"diagnosis": f"/diagnosis/{result.id}", "engagement": f"/engagements/{engagement.id}"}
    portal = {e.kind: e.url for e in firm_journey(world.firm, world.firm_user).entries}
    assert portal == {
        "diagnosis": f"/portal/diagnosis/{result.id}",
        "engagement": f"/portal/engagements/{engagement.id}",
    }
    engagement.status = S.cancelled
    portal = {e.kind: e.url for e in firm_journey(world.firm, world.firm_user).entries}
    assert portal["engagement"] is None  # the portal shows no cancelled selection


def test_journey_as_plain_dicts_for_the_api(world):
    y2025, y2026 = _year(world, date(2025, 10, 1)), _year(world, date(2026, 4, 1))
    later = _engagement(
        world, y2026, Track.adoption, S.agreed, starts_on=date(2026, 6, 1), ends_on=date(2026, 12, 31)
    )
    earlier = _engagement(world, y2025, Track.consulting, S.closed)
    rows = journey_as_dicts(world.firm, world.manager)
    json.dumps(rows)  # plain values only
    assert [(r["id"], r["year"], r["track"]) for r in rows] == [
        (earlier.id, 2025, "consulting"),
        (later.id, 2026, "adoption"),
    ]
    assert rows[1] | {"track_title": None, "status_title": None} == {
        "kind": "engagement",
        "id": later.id,
        "year": 2026,
        "track": "adoption",
        "track_title": None,
        "side_support": False,
        "title": "adoption 2026",
        "status": "agreed",
        "status_title": None,
        "starts_on": "2026-06-01",
        "ends_on": "2026-12-31",
        "url": f"/engagements/{later.id}",
        "level": None,
        "overall_score": None,
    }
