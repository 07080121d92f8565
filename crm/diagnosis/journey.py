"""A firm's journey across tracks and years: its diagnoses and the engagements a user may see, in order.

Order: by year, then by the journey's track order diagnosis → consulting → adoption → validation →
incubation (training and GPU infrastructure after them, as side support), then by date (undated last),
then by id. The year of an engagement is the calendar year its programme year (연차) starts in; the year of
a diagnosis is its own.

The current stage is the furthest track in that order with an engagement agreed or later (the statuses that
commit an agreement, terminated included: the firm got that far) — awaiting agreement and cancelled
selections do not count. The recommended next track is the latest submitted diagnosis's recommendation
when it lies beyond the current stage, else the track after the current stage (the first, diagnosis, when
the firm has none; none after the last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import selectinload

from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.time import to_kst
from crm.diagnosis.models import DiagnosisResult, DiagnosisStatus, ReadinessLevel
from crm.engagements.models import COMMITTED_STATUSES, Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Programme, Track

JOURNEY_ORDER: tuple[Track, ...] = (
    Track.diagnosis,
    Track.consulting,
    Track.adoption,
    Track.validation,
    Track.incubation,
)
SIDE_TRACKS: tuple[Track, ...] = (Track.training, Track.infrastructure)
TRACK_RANK = {track: rank for rank, track in enumerate(JOURNEY_ORDER + SIDE_TRACKS)}
# Agreed or later; a cancelled selection or one still awaiting its agreement is not a stage reached.
STAGE_STATUSES = COMMITTED_STATUSES

_DONE = frozenset({EngagementStatus.closed, EngagementStatus.follow_up, DiagnosisStatus.submitted})
_STOPPED = frozenset({EngagementStatus.cancelled, EngagementStatus.terminated})


@dataclass(frozen=True)
class JourneyEntry:
    kind: str  # "diagnosis" | "engagement"
    id: int
    year: int
    track: Track
    title: str
    status: EngagementStatus | DiagnosisStatus
    starts_on: date | None
    ends_on: date | None
    url: str | None
    level: ReadinessLevel | None = None  # diagnoses only
    overall_score: float | None = None  # diagnoses only

    @property
    def side_support(self) -> bool:
        return self.track in SIDE_TRACKS

    @property
    def badge(self) -> str:
        if self.status in _DONE:
            return "badge-ok"
        if self.status in _STOPPED:
            return "badge-danger"
        if self.status in STAGE_STATUSES:
            return "badge-warn"
        return ""

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.year,
            TRACK_RANK[self.track],
            self.starts_on is None,
            self.starts_on or date.min,
            self.kind != "diagnosis",
            self.id,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "year": self.year,
            "track": self.track.value,
            "track_title": self.track.title,
            "side_support": self.side_support,
            "title": self.title,
            "status": self.status.value,
            "status_title": self.status.title,
            "starts_on": self.starts_on.isoformat() if self.starts_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "url": self.url,
            "level": self.level.value if self.level else None,
            "overall_score": self.overall_score,
        }


@dataclass
class Journey:
    firm_id: int
    entries: list[JourneyEntry] = field(default_factory=list)
    current_stage: Track | None = None
    recommended_next: Track | None = None
    latest_diagnosis: DiagnosisResult | None = None  # the latest submitted one

    @property
    def years(self) -> list[tuple[int, list[JourneyEntry]]]:
        """[(year, entries)] in order: one row per year of the timeline."""
        return [(year, list(entries)) for year, entries in groupby(self.entries, key=lambda e: e.year)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "firm_id": self.firm_id,
            "entries": [entry.as_dict() for entry in self.entries],
            "current_stage": self.current_stage.value if self.current_stage else None,
            "recommended_next": self.recommended_next.value if self.recommended_next else None,
        }


def _engagement_year(engagement: Engagement) -> int:
    return engagement.programme.programme_year.starts_on.year


def _urls_for(user: User) -> tuple[str | None, str | None]:
    """The endpoints a user opens a diagnosis and an engagement with (None: no page for that user)."""
    if user.role is Role.firm_user:
        return "diagnosis.portal_result", "engagements.portal_detail"
    if user.role in STAFF_ROLES:
        return "diagnosis.result", "engagements.detail"
    return None, None


def _diagnosis_entry(result: DiagnosisResult, endpoint: str | None) -> JourneyEntry:
    moment = result.submitted_at or result.created_at
    return JourneyEntry(
        kind="diagnosis",
        id=result.id,
        year=result.year,
        track=Track.diagnosis,
        title=f"{Track.diagnosis.title} {result.year}",
        status=result.status,
        starts_on=to_kst(moment).date() if moment else None,
        ends_on=None,
        url=url_for(endpoint, result_id=result.id) if endpoint else None,
        level=result.level,
        overall_score=result.overall_score,
    )


def _engagement_entry(engagement: Engagement, endpoint: str | None) -> JourneyEntry:
    programme = engagement.programme
    # The portal has no page for a cancelled selection; staff pages show every status.
    linkable = not (
        endpoint == "engagements.portal_detail" and engagement.status is EngagementStatus.cancelled
    )
    return JourneyEntry(
        kind="engagement",
        id=engagement.id,
        year=_engagement_year(engagement),
        track=programme.track,
        title=programme.name,
        status=engagement.status,
        starts_on=engagement.starts_on or engagement.agreed_on,
        ends_on=engagement.closed_on or engagement.ends_on,
        url=url_for(endpoint, engagement_id=engagement.id) if endpoint and linkable else None,
    )


def current_stage(engagements: list[Engagement]) -> Track | None:
    reached = [
        e.programme.track
        for e in engagements
        if e.status in STAGE_STATUSES and e.programme.track in JOURNEY_ORDER
    ]
    return max(reached, key=JOURNEY_ORDER.index) if reached else None


def next_track(stage: Track | None) -> Track | None:
    if stage is None:
        return JOURNEY_ORDER[0]
    position = JOURNEY_ORDER.index(stage)
    return JOURNEY_ORDER[position + 1] if position + 1 < len(JOURNEY_ORDER) else None


def recommended_next(stage: Track | None, latest: DiagnosisResult | None) -> Track | None:
    suggestion = latest.recommended_track if latest is not None else None
    if suggestion in JOURNEY_ORDER and (
        stage is None or JOURNEY_ORDER.index(suggestion) > JOURNEY_ORDER.index(stage)
    ):
        return suggestion
    return next_track(stage)


def firm_journey(firm: Firm, user: User) -> Journey:
    """The journey of `firm` as `user` may see it: its diagnoses and the engagements `Engagement.visible_to`
    lets the user see (see the module docstring for the order and the two derived tracks)."""
    diagnosis_endpoint, engagement_endpoint = _urls_for(user)
    results = list(
        db.session.scalars(
            sa.select(DiagnosisResult).where(
                DiagnosisResult.firm_id == firm.id, DiagnosisResult.visible_to(user)
            )
        )
    )
    engagements = list(
        db.session.scalars(
            sa.select(Engagement)
            .where(Engagement.firm_id == firm.id, Engagement.visible_to(user))
            .options(selectinload(Engagement.programme).selectinload(Programme.programme_year))
        )
    )
    entries = [_diagnosis_entry(r, diagnosis_endpoint) for r in results]
    entries += [_engagement_entry(e, engagement_endpoint) for e in engagements]
    entries.sort(key=JourneyEntry.sort_key)

    submitted = [r for r in results if r.status is DiagnosisStatus.submitted]
    latest = max(submitted, key=lambda r: r.year) if submitted else None
    stage = current_stage(engagements)
    return Journey(
        firm_id=firm.id,
        entries=entries,
        current_stage=stage,
        recommended_next=recommended_next(stage, latest),
        latest_diagnosis=latest,
    )


def journey_as_dicts(firm: Firm, user: User) -> list[dict[str, Any]]:
    """The journey's entries as plain dicts, in order, for `GET /api/v1/firms/{id}/journey`. The caller
    checks that the user may see the firm (404 otherwise); `firm_journey(...).as_dict()` adds the current
    stage and the recommended next track."""
    return [entry.as_dict() for entry in firm_journey(firm, user).entries]
