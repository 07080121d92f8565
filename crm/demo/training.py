"""Demo training: sessions for every training programme, people registered from the consortium's firms
(some of them in several sessions, so the quota counts people, not seats) and attendance for the sessions
already held. Rows are written directly; never commits."""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.demo import data
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms.models import Firm, FirmLink
from crm.programmes.models import Programme, Track
from crm.training.models import TrainingRegistration, TrainingSession

# (course, hours, starts at)
COURSES: tuple[tuple[str, Decimal, time], ...] = (
    ("CEO를 위한 AI 전략과 도입 사례", Decimal("3"), time(15, 0)),
    ("재직자 생성형 AI 실무", Decimal("4"), time(14, 0)),
    ("제조 데이터 분석 기초 (Python)", Decimal("6"), time(10, 0)),
    ("AI 비전 검사 모델 만들기 실습", Decimal("6"), time(10, 0)),
    ("업무 자동화를 위한 ChatGPT 활용", Decimal("3"), time(14, 0)),
)
# Days from the anchor day: held sessions (attendance taken) and upcoming ones.
PAST_OFFSETS = (-47, -33, -19, -8, -2)
FUTURE_OFFSETS = (6, 13, 20, 27)
ATTENDANCE_RATE = 0.85


def seed_training(rng: random.Random, today: date) -> None:
    programmes = db.session.scalars(
        sa.select(Programme).where(Programme.track == Track.training).order_by(Programme.id)
    ).all()
    for programme in programmes:
        if db.session.scalar(
            sa.select(TrainingSession.id).where(TrainingSession.programme_id == programme.id).limit(1)
        ):
            continue
        _seed_programme(rng, today, programme)
    db.session.flush()


def _anchor(programme: Programme, today: date) -> date:
    """Today, unless the programme year is elsewhere: then a day inside it, so every session belongs to it."""
    year = programme.programme_year
    return min(max(today, year.starts_on + timedelta(days=50)), year.ends_on - timedelta(days=30))


def _seed_programme(rng: random.Random, today: date, programme: Programme) -> None:
    year = programme.programme_year
    anchor = _anchor(programme, today)
    count = rng.randint(3, 5)
    past = sorted(rng.sample(PAST_OFFSETS, count - 1))
    offsets = [*past, rng.choice(FUTURE_OFFSETS)]
    staff = db.session.scalar(
        sa.select(User.id)
        .where(User.role == Role.coordinator, User.institution_id == programme.institution_id)
        .order_by(User.id)
        .limit(1)
    )
    people = _people(rng, programme, 60)
    engagements = {
        e.firm_id: e.id
        for e in db.session.scalars(
            sa.select(Engagement).where(Engagement.programme_id == programme.id).order_by(Engagement.id)
        )
    }
    places = (
        f"{programme.institution.name} 교육장",
        f"{programme.institution.name} 세미나실",
        "온라인 (Zoom)",
    )
    for offset, (course, hours, starts_at) in zip(offsets, rng.sample(COURSES, count), strict=True):
        held_on = min(max(anchor + timedelta(days=offset), year.starts_on), year.ends_on)
        capacity = rng.choice((20, 25, 30, 40))
        session = TrainingSession(
            programme_id=programme.id,
            course=course,
            held_on=held_on,
            starts_at=starts_at,
            hours=hours,
            place=rng.choice(places),
            capacity=capacity,
            created_by_id=staff,
        )
        db.session.add(session)
        held = held_on <= today
        share = rng.uniform(0.7, 1.0) if held else rng.uniform(0.3, 0.7)
        for name, email, phone, firm_id in rng.sample(people, int(capacity * share)):
            attended = (rng.random() < ATTENDANCE_RATE) if held else None
            session.registrations.append(
                TrainingRegistration(
                    name=name,
                    email=email,
                    phone=phone,
                    firm_id=firm_id,
                    engagement_id=engagements.get(firm_id) if firm_id else None,
                    attended=attended,
                    attendance_marked_at=kst_to_utc(held_on, time(18, 0)) if held else None,
                    registered_by_id=staff,
                )
            )


def _people(rng: random.Random, programme: Programme, count: int) -> list[tuple[str, str, str, int | None]]:
    """(name, e-mail, phone, firm id) of people working at the consortium's firms; a few come on their own."""
    firm_ids = db.session.scalars(
        sa.select(Firm.id)
        .join(FirmLink, FirmLink.firm_id == Firm.id)
        .where(FirmLink.consortium_id == programme.consortium_id)
        .distinct()
        .order_by(Firm.id)
    ).all()
    firms = rng.sample(list(firm_ids), min(15, len(firm_ids)))
    surnames = [(korean, roman) for korean, roman, _ in data.SURNAMES]
    weights = [weight for _, _, weight in data.SURNAMES]
    given_names = data.JUNIOR_GIVEN_NAMES + data.SENIOR_GIVEN_NAMES
    people: list[tuple[str, str, str, int | None]] = []
    emails: set[str] = set()
    while len(people) < count:
        (surname, surname_roman), (given, given_roman) = (
            rng.choices(surnames, weights)[0],
            rng.choice(given_names),
        )
        email = f"{given_roman}.{surname_roman}{rng.randint(1, 99)}@{data.EMAIL_DOMAIN}"
        if email in emails:
            continue
        emails.add(email)
        phone = f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        firm_id = rng.choice(firms) if firms and rng.random() < 0.8 else None
        people.append((surname + given, email, phone, firm_id))
    return people
