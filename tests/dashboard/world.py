"""A hand-computed fixture for the dashboard: one consortium, programme year 2026 (365 days), five
programmes with known applications, engagements, history dates, training and GPU hours.

With `AS_OF` = 2026-07-01 (KST): 182 days of the year have passed (182/365), 183 are left, and the rate
window is 2026-05-07 … 2026-07-01 (56 days). The expected figures are written out in EXPECTED."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.engagements.models import Engagement, EngagementStatus
from crm.firms.models import Firm
from crm.organisation.models import Consortium, Institution
from crm.programmes.models import CountingPoint, Programme, ProgrammeYear, TargetUnit, Track
from tests.factories import (
    make_application,
    make_call,
    make_consortium,
    make_engagement,
    make_engagement_history,
    make_financial,
    make_firm,
    make_gpu_allocation,
    make_institution,
    make_programme,
    make_programme_year,
    make_training_registration,
    make_training_session,
    make_user,
)

AS_OF = date(2026, 7, 1)
E = EngagementStatus
A = ApplicationStatus
EOK = 100_000_000


def kst(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return kst_to_utc(datetime(year, month, day, hour, minute))


@dataclass
class World:
    consortium: Consortium
    year: ProgrammeYear
    first: Institution  # runs A, B and D
    second: Institution  # runs C and E
    programmes: dict[str, Programme]
    engagements: dict[str, Engagement] = field(default_factory=dict)
    firms: dict[str, Firm] = field(default_factory=dict)
    manager: User | None = None
    coordinator: User | None = None  # of `second`
    viewer: User | None = None
    other_manager: User | None = None


def _firm(
    world: World,
    name: str,
    employees: int | None,
    sigungu: str | None,
    ksic: str | None,
    revenues: dict[int, int | None] | None = None,
) -> Firm:
    firm = make_firm(
        name=name,
        employees=employees,
        sigungu_code=sigungu,
        sido_code="31" if sigungu else None,
        ksic_code=ksic,
    )
    for year, revenue in (revenues or {}).items():
        make_financial(firm, year=year, revenue_krw=revenue)
    world.firms[name] = firm
    return firm


def _engagement(
    world: World,
    key: str,
    programme: str,
    status: E,
    firm: Firm | None = None,
    history: list[tuple[E, datetime]] | None = None,
    **kw: Any,
) -> Engagement:
    engagement = make_engagement(
        world.programmes[programme], firm or make_firm(name=f"(주){key}기업"), status=status, **kw
    )
    previous = None
    for to_status, at in history or []:
        make_engagement_history(engagement, from_status=previous, to_status=to_status, at=at)
        previous = to_status
    world.engagements[key] = engagement
    return engagement


def build_world() -> World:
    consortium = make_consortium(name="울산 AI 사업단 (대시보드)")
    year = make_programme_year(consortium, ordinal=1, starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
    first = make_institution(consortium, name="울산정보산업진흥원")
    second = make_institution(consortium, name="울산창조경제혁신센터")
    programmes = {
        "A": make_programme(
            year,
            first,
            name="A 솔루션 도입",
            track=Track.adoption,
            target=10,
            counting_point=CountingPoint.agreed,
        ),
        "B": make_programme(
            year,
            first,
            name="B 역량진단",
            track=Track.diagnosis,
            target=20,
            counting_point=CountingPoint.completed,
        ),
        "C": make_programme(
            year,
            second,
            name="C 창업 인큐베이팅",
            track=Track.incubation,
            target=4,
            counting_point=CountingPoint.selected,
        ),
        "D": make_programme(
            year,
            first,
            name="D 재직자 교육",
            track=Track.training,
            target=100,
            unit=TargetUnit.people,
            counting_point=CountingPoint.completed,
        ),
        "E": make_programme(
            year,
            second,
            name="E GPU 지원",
            track=Track.infrastructure,
            target=1000,
            unit=TargetUnit.gpu_hours,
            counting_point=CountingPoint.agreed,
        ),
    }
    world = World(consortium=consortium, year=year, first=first, second=second, programmes=programmes)

    # A: counted at `agreed`; terminated no longer counts. Counted e1 e2 e3 e7 e8, recent e2 e7.
    _engagement(
        world,
        "e1",
        "A",
        E.agreed,
        _firm(world, "(주)에이원", 5, "31140", "26110", {2025: 5 * EOK, 2024: 60 * EOK}),
        [(E.pending_agreement, kst(2026, 2, 20)), (E.agreed, kst(2026, 3, 1))],
    )
    _engagement(
        world,
        "e2",
        "A",
        E.in_progress,
        _firm(world, "(주)에이투", 10, "31110", "62010", {2025: None, 2024: 30 * EOK}),
        [(E.agreed, kst(2026, 6, 10)), (E.in_progress, kst(2026, 6, 20))],
    )
    _engagement(
        world,
        "e3",
        "A",
        E.closed,
        _firm(world, "(주)에이쓰리", 49, None, None),
        [
            (E.agreed, kst(2026, 2, 1)),
            (E.in_progress, kst(2026, 2, 10)),
            (E.final_report, kst(2026, 5, 1)),
            (E.final_check, kst(2026, 6, 1)),
            (E.settlement, kst(2026, 6, 10)),
            (E.closed, kst(2026, 6, 25)),
        ],
    )
    _engagement(
        world, "e4", "A", E.terminated, None, [(E.agreed, kst(2026, 6, 1)), (E.terminated, kst(2026, 6, 15))]
    )
    _engagement(world, "e5", "A", E.pending_agreement, None, [(E.pending_agreement, kst(2026, 6, 1))])
    _engagement(world, "e6", "A", E.cancelled, None, [(E.cancelled, kst(2026, 6, 2))])
    # The first day of the window begins at midnight KST, 15:00 UTC the day before.
    _engagement(
        world,
        "e7",
        "A",
        E.agreed,
        _firm(world, "(주)에이세븐", 300, "31140", "26110", {2025: 500 * EOK}),
        [(E.agreed, kst(2026, 5, 7, 0, 30))],
    )
    _engagement(
        world,
        "e8",
        "A",
        E.agreed,
        _firm(world, "(주)에이에잇", None, "31140", "58221", {2025: 100 * EOK}),
        [(E.agreed, kst(2026, 5, 6, 23, 50))],
    )
    call = make_call(programmes["A"])
    for status in (A.draft, A.submitted, A.selected, A.selected, A.rejected, A.withdrawn):
        make_application(call, make_firm(), status)
    make_application(call, make_firm(), A.withdrawn, submitted_at=None)  # withdrawn before submitting

    # B: counted at `completed`. Counted f1 f2, recent f1 (f2 closed in January, follow-up later).
    _engagement(
        world,
        "f1",
        "B",
        E.closed,
        _firm(world, "(주)비원", 99, "31140", "26110", {2025: 50 * EOK}),
        [(E.final_check, kst(2026, 5, 20)), (E.closed, kst(2026, 6, 1))],
    )
    _engagement(
        world,
        "f2",
        "B",
        E.follow_up,
        _firm(world, "(주)비투", 100, "31110", "10110", {2025: 999_000_000}),
        [(E.closed, kst(2026, 1, 15)), (E.follow_up, kst(2026, 6, 1))],
    )
    _engagement(world, "f3", "B", E.in_progress)
    _engagement(world, "f4", "B", E.final_check)

    # C: counted at `selected` from creation; cancelled never counts. Counted g1 g2 g4, recent g1.
    _engagement(
        world,
        "g1",
        "C",
        E.pending_agreement,
        _firm(world, "(주)씨원", 299, "31140", "72111", {2025: 499 * EOK}),
        created_at=kst(2026, 6, 15),
    )
    _engagement(
        world,
        "g2",
        "C",
        E.terminated,
        _firm(world, "(주)씨투", 0, "31140", "26110"),
        created_at=kst(2026, 3, 1),
    )
    _engagement(world, "g3", "C", E.cancelled, created_at=kst(2026, 6, 20))
    _engagement(
        world,
        "g4",
        "C",
        E.agreed,
        _firm(world, "(주)씨포", 25, "31110", "26110", {2025: 10 * EOK}),
        created_at=kst(2026, 4, 1),
    )

    # D: people who attended, by e-mail whatever its case. Counted 2 (a, b), recent 1 (b).
    march = make_training_session(programmes["D"], held_on=date(2026, 3, 10))
    june = make_training_session(programmes["D"], held_on=date(2026, 6, 1))
    make_training_registration(march, email="a@example.com", attended=True)
    make_training_registration(june, email="A@Example.com", attended=True)
    make_training_registration(june, email="b@example.com", attended=True)
    make_training_registration(june, email="c@example.com", attended=False)
    make_training_registration(june, email="d@example.com", attended=None)

    # E: GPU hours granted. Counted 750.5, recent 250.5.
    h1 = _engagement(world, "h1", "E", E.agreed)
    h2 = _engagement(world, "h2", "E", E.in_progress)
    make_gpu_allocation(h1, hours_granted=Decimal("500"), granted_on=date(2026, 3, 1))
    make_gpu_allocation(h2, hours_granted=Decimal("250.5"), granted_on=date(2026, 6, 15))

    world.manager = make_user(Role.consortium_manager, consortium=consortium)
    world.coordinator = make_user(Role.coordinator, institution=second)
    world.viewer = make_user(Role.national_viewer)
    world.other_manager = make_user(Role.consortium_manager, consortium=make_consortium())
    return world


# Per programme: target, counted, funnel (applied, selected, agreed, completed), pace, projected, at risk.
# pace = counted / (target × 182/365); projected = counted + recent / 8 × 183 / 7.
EXPECTED: dict[str, dict[str, Any]] = {
    "A": {
        "target": 10,
        "counted": 5,
        "funnel": (5, 7, 6, 1),
        "pace": 1.003,
        "projected": 11.5,
        "at_risk": False,
    },
    "B": {
        "target": 20,
        "counted": 2,
        "funnel": (0, 4, 4, 2),
        "pace": 0.201,
        "projected": 5.3,
        "at_risk": True,
    },
    "C": {
        "target": 4,
        "counted": 3,
        "funnel": (0, 3, 2, 0),
        "pace": 1.504,
        "projected": 6.3,
        "at_risk": False,
    },
    "D": {
        "target": 100,
        "counted": 2,
        "funnel": (0, 0, 0, 0),
        "pace": 0.04,
        "projected": 5.3,
        "at_risk": True,
    },
    "E": {
        "target": 1000,
        "counted": 750.5,
        "funnel": (0, 2, 2, 0),
        "pace": 1.505,
        "projected": 1569.1,
        "at_risk": False,
    },
}
