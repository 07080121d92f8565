"""Demo GPU infrastructure: every infrastructure programme gets a few engagements in progress when it has
none (GPU support has no call in the demo), GPU hours granted to its engagements and weekly usage up to
today. Rows are written directly; never commits."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from crm.applications.operations import link_firm
from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.engagements.models import (
    COMMITTED_STATUSES,
    RUNNING_STATUSES,
    Engagement,
    EngagementHistory,
    EngagementStatus,
)
from crm.extensions import db
from crm.firms.models import Firm, FirmLink, LinkKind
from crm.infrastructure.models import GpuAllocation, GpuUsage
from crm.programmes.models import Programme, TargetUnit, Track

E = EngagementStatus
RESOURCES = (
    "A100 80GB × 2, 지역 AI 데이터센터",
    "H100 80GB × 1, 지역 AI 데이터센터",
    "A100 40GB × 4, 대학 GPU 클러스터",
    "L40S 48GB × 2, 지역 AI 데이터센터",
)
PURPOSES = (
    "불량 검출 비전 모델 학습",
    "생산 데이터 이상탐지 모델 튜닝",
    "sLLM 파인튜닝 (사내 문서 QA)",
    "수요예측 모델 하이퍼파라미터 탐색",
    "추론 서버 부하 테스트",
)
GRANTS = (800, 1_000, 1_200, 1_500, 2_000)
NEW_ENGAGEMENTS = 4
MILLION = 1_000_000


def seed_infrastructure(rng: random.Random, today: date) -> None:
    programmes = db.session.scalars(
        sa.select(Programme).where(Programme.track == Track.infrastructure).order_by(Programme.id)
    ).all()
    for programme in programmes:
        engagements = db.session.scalars(
            sa.select(Engagement).where(Engagement.programme_id == programme.id).order_by(Engagement.id)
        ).all()
        if not engagements:
            engagements = _engagements(rng, today, programme)
        _allocations(rng, today, programme, list(engagements))
    db.session.flush()


def _coordinator(programme: Programme) -> User | None:
    return db.session.scalar(
        sa.select(User)
        .where(User.role == Role.coordinator, User.institution_id == programme.institution_id)
        .order_by(User.id)
        .limit(1)
    )


def _engagements(rng: random.Random, today: date, programme: Programme) -> list[Engagement]:
    """A few firms of the consortium that are not already supported in this track, in progress."""
    busy = sa.select(Engagement.firm_id).join(Programme, Engagement.programme_id == Programme.id)
    busy = busy.where(Programme.track == Track.infrastructure, Engagement.status.in_(RUNNING_STATUSES))
    firms = db.session.scalars(
        sa.select(Firm)
        .join(FirmLink, FirmLink.firm_id == Firm.id)
        .where(
            FirmLink.consortium_id == programme.consortium_id,
            Firm.is_supplier.is_(False),
            Firm.id.not_in(busy),
        )
        .distinct()
        .order_by(Firm.id)
    ).all()
    year = programme.programme_year
    coordinator = _coordinator(programme)
    created: list[Engagement] = []
    for firm in rng.sample(list(firms), min(NEW_ENGAGEMENTS, len(firms))):
        # Inside the programme year; started already when the year has begun.
        latest_start = min(max(today - timedelta(days=7), year.starts_on), year.ends_on - timedelta(days=60))
        agreed_on = max(year.starts_on, latest_start - timedelta(days=rng.randint(0, 40)))
        starts_on = agreed_on + timedelta(days=rng.randint(0, 7))
        ends_on = min(starts_on + timedelta(days=rng.choice((120, 150, 180))), year.ends_on)
        gov = rng.choice((18, 24, 30, 36)) * MILLION  # 국비 60 %, 지방비 30 %, 자부담 10 % exactly
        engagement = Engagement(
            firm_id=firm.id,
            programme_id=programme.id,
            status=E.in_progress,
            coordinator_id=coordinator.id if coordinator else None,
            agreed_on=agreed_on,
            starts_on=starts_on,
            ends_on=ends_on,
            gov_krw=gov,
            local_krw=gov // 2,
            self_cash_krw=gov // 6,
            status_changed_at=kst_to_utc(starts_on),
        )
        db.session.add(engagement)
        link_firm(firm, programme, LinkKind.engaged)
        db.session.flush()
        steps = ((None, E.pending_agreement, agreed_on), (E.pending_agreement, E.agreed, agreed_on))
        for from_status, to_status, day in (*steps, (E.agreed, E.in_progress, starts_on)):
            db.session.add(
                EngagementHistory(
                    engagement_id=engagement.id,
                    from_status=from_status,
                    to_status=to_status,
                    actor_id=coordinator.id if coordinator else None,
                    at=kst_to_utc(day),
                    reason="GPU 인프라 지원 협약" if to_status is E.agreed else "",
                )
            )
        created.append(engagement)
    return created


def _allocations(
    rng: random.Random, today: date, programme: Programme, engagements: list[Engagement]
) -> None:
    coordinator = _coordinator(programme)
    left = Decimal(programme.target) if programme.unit is TargetUnit.gpu_hours else None
    if left is not None:
        left -= Decimal(
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(GpuAllocation.hours_granted), 0))
                .join(Engagement, GpuAllocation.engagement_id == Engagement.id)
                .where(Engagement.programme_id == programme.id)
            )
            or 0
        )
    for engagement in engagements:
        if engagement.status not in COMMITTED_STATUSES or engagement.status is E.terminated:
            continue
        if db.session.scalar(sa.select(GpuAllocation.id).where(GpuAllocation.engagement_id == engagement.id)):
            continue
        hours = Decimal(rng.choice(GRANTS))
        if left is not None:
            hours = min(hours, left)
            if hours <= 0:
                return
            left -= hours
        granted_on = min(engagement.starts_on or engagement.agreed_on or today, today)
        allocation = GpuAllocation(
            engagement_id=engagement.id,
            hours_granted=hours,
            granted_on=granted_on,
            resource=rng.choice(RESOURCES),
            granted_by_id=coordinator.id if coordinator else None,
        )
        db.session.add(allocation)
        db.session.flush()
        if engagement.status is not E.agreed:
            _usage(rng, today, engagement, allocation)


def _usage(rng: random.Random, today: date, engagement: Engagement, allocation: GpuAllocation) -> None:
    """Weekly entries from the grant to today (or the agreement's end), using most but not all hours."""
    last = min(today, engagement.ends_on or today)
    budget = allocation.hours_granted * Decimal(str(rng.uniform(0.4, 0.9)))
    used = Decimal(0)
    day = allocation.granted_on + timedelta(days=rng.randint(2, 6))
    while day <= last:
        hours = Decimal(rng.randint(16, 120)) + (Decimal("0.5") if rng.random() < 0.3 else 0)
        if used + hours > budget:
            break
        db.session.add(
            GpuUsage(
                allocation_id=allocation.id,
                used_on=day,
                hours=hours,
                purpose=rng.choice(PURPOSES),
                recorded_by_id=allocation.granted_by_id,
            )
        )
        used += hours
        day += timedelta(days=7)
