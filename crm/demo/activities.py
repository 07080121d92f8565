"""Demo activities: one to four consulting sessions, visits, calls or meetings for each engagement in
progress, and a couple of firm-level meetings outside any engagement. Rows are written directly (no audit,
no notices); never commits."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from crm.activities.models import Activity, ActivityKind
from crm.auth.models import Role, User
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db

K = ActivityKind
# (kind, hours choices, summary, participants)
ENGAGEMENT_ACTIVITIES: list[tuple[ActivityKind, tuple[str, ...], str, str]] = [
    (
        K.consulting_session,
        ("2", "3", "4"),
        "착수 컨설팅: 공정 데이터 현황 점검, 도입 범위와 일정 확정",
        "대표이사, 생산팀장, 컨설턴트",
    ),
    (
        K.visit,
        ("1.5", "2", "3"),
        "현장 방문: 검사 라인 카메라 설치 위치 확인 및 조도 측정",
        "생산팀장, 공급기업 엔지니어",
    ),
    (K.call, ("0", "0.5"), "전화 상담: 중간보고서 제출 일정과 증빙 서류 안내", "사업 담당자"),
    (
        K.meeting,
        ("1", "2"),
        "중간 점검 회의: 학습 데이터 라벨링 진척 확인, 추가 데이터 수집 합의",
        "대표이사, 공급기업 PM, 담당 코디네이터",
    ),
    (
        K.consulting_session,
        ("2", "3"),
        "성과지표 측정 방법 협의: 불량률·생산성 기준값 산정 근거 정리",
        "품질팀장, 컨설턴트",
    ),
    (K.call, ("0.5",), "전화 상담: 협약변경 필요 여부 문의 대응", "재무 담당자"),
]
FIRM_ACTIVITIES: list[tuple[ActivityKind, str, str, str]] = [
    (K.meeting, "2", "AI 전환 수요 상담: 내년도 기술 검증·실증 사업 참여 의향 확인", "대표이사"),
    (K.visit, "1.5", "기업 방문: 설비 현황 파악 및 AI 역량진단 안내", "공장장, 생산기술 담당"),
]


def _coordinators() -> dict[int, User]:
    return {
        user.institution_id: user
        for user in db.session.scalars(
            sa.select(User).where(User.role == Role.coordinator).order_by(User.id.desc())
        )
        if user.institution_id is not None
    }


def _day(rng: random.Random, first: date, today: date) -> date:
    span = max((today - first).days, 0)
    return today - timedelta(days=rng.randint(0, min(span, 120)))


def seed_activities(rng: random.Random, today: date) -> None:
    if db.session.scalar(sa.select(Activity.id).limit(1)) is not None:
        return  # already seeded
    coordinators = _coordinators()
    engagements = list(
        db.session.scalars(
            sa.select(Engagement)
            .where(Engagement.status == EngagementStatus.in_progress)
            .order_by(Engagement.id)
        )
    )
    for engagement in engagements:
        recorder = engagement.coordinator or coordinators.get(engagement.programme.institution_id)
        first = engagement.starts_on or engagement.agreed_on or today - timedelta(days=60)
        for kind, hours, summary, participants in rng.sample(ENGAGEMENT_ACTIVITIES, rng.randint(1, 4)):
            db.session.add(
                Activity(
                    firm_id=engagement.firm_id,
                    engagement_id=engagement.id,
                    kind=kind,
                    occurred_on=_day(rng, min(first, today), today),
                    hours=Decimal(rng.choice(hours)),
                    participants=participants,
                    summary=summary,
                    recorded_by_id=recorder.id if recorder is not None else None,
                )
            )
    for engagement, (kind, hours, summary, participants) in zip(
        engagements[: len(FIRM_ACTIVITIES)], FIRM_ACTIVITIES, strict=False
    ):
        recorder = coordinators.get(engagement.programme.institution_id)
        db.session.add(
            Activity(
                firm_id=engagement.firm_id,
                engagement_id=None,
                kind=kind,
                occurred_on=today - timedelta(days=rng.randint(100, 200)),
                hours=Decimal(hours),
                participants=participants,
                summary=summary,
                recorded_by_id=recorder.id if recorder is not None else None,
            )
        )
    db.session.flush()
