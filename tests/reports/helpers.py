"""A hand-computed world for the reports, on a fixed today (2026-06-30 KST).

Consortium A, year 1:
  P1 (institution I1), budget 600 / 300 / 100 백만원 (60 % / 30 % / 10 %: on the limit, OK)
    e1 agreed       국비 30  지방비 15  자부담 3 + 2
    e2 closed       국비 40  지방비 20  자부담 5 + 5   settled: spent 55
    e3 terminated   국비 10  지방비  5  자부담 1 + 0   settled: spent 12
    e4 pending      국비 50  지방비 25                 (not committed)
    e5 cancelled    국비 20                            (not committed)
    → committed 80 / 40 / 16 = 136 (58.8 % / 29.4 %: OK); spent 67 (2 settled of 3 committed);
      remaining 520 / 260 / 84
  P2 (institution I2), budget 700 / 100 / 200 (70 % / 10 %: both violated)
    e6 in progress  국비 70  지방비 10  자부담 20 + 0  → committed 70 / 10 / 20 (violated)
  year 1 total: budget 1,300 / 400 / 300 = 2,000 (국비 65 %: violation; 지방비 20 %: OK);
    committed 150 / 50 / 36 = 236 (국비 63.6 %: violation; 지방비 21.2 %: OK); spent 67
Consortium A, year 2: P3 budget 60 / 30 / 10, no engagements (committed: nothing to check).
Consortium B, year 1: P4 with one committed engagement (9 / 3 / 3) and a 900 % revenue growth — never in A's
reports.

KPIs (actual vs baseline):
  P1 매출 (growth %): e1 100→120 = 20, e2 "매출액" 200→210 = 5, e3 " 매 출 " 50→80 = 60,
     e4 baseline 0 (left out), e5 no actual (left out)           → n 3, mean 28.3, median 20
  P1 고용 (increase): e1 5→8 = 3, e2 10→9 = −1, e3 "상시근로자 수" 4→10 = 6  → n 3, mean 2.7, median 3
  P1 생산성 (improvement %): e1 100→110 = 10, e2 80→100 = 25        → n 2, mean 17.5, median 17.5
  P1 불량률 (reduction, points): e1 5→3.5 = 1.5, e2 4→4 = 0, e3 2→1.2 = 0.8 → n 3, mean 0.8, median 0.8
  P1 원가: not a standard indicator (left out)
  P2 매출: e6 1000→1500 = 50                                       → n 1
  all of A: 매출 20, 5, 60, 50                                       → n 4, mean 33.75, median 35
Surveys (due up to 2026-06-30): P1 e2 round 1 (03-31, submitted), round 2 (06-30, open), round 3 (12-31,
  submitted early: not due, left out); e3 round 1 (05-01, submitted) → 2 of 3 = 66.7 %. P2: none due.

History (KST), days per stay:
  e1: pending 03-01 10:00 → agreed 03-11 09:00 (10); agreed until today (111)
  e2: pending 01-10 23:30 → agreed 01-12 00:30 (2 KST days, though only 25 hours) → in progress 01-20 (8)
      → final report 04-20 (90) → final check 05-10 (20) → settlement 05-20 (10) → closed 06-10 (21);
      closed until today (20)
  e3: pending 02-01 → agreed 02-05 (4) → in progress 02-15 (10) → terminated 04-01 (45); terminated: end state
  P1 medians: pending 4 (10, 2, 4), agreed 10 (111, 8, 10), in progress 67.5 (90, 45), final report 20,
      final check 10, settlement 21, closed 20
  e6 (P2): pending 05-01 → agreed 05-11 (10) → in progress 06-01 (21); in progress until today (29)
  all of A: pending 7 (2, 4, 10, 10), agreed 15.5 (8, 10, 21, 111), in progress 45 (29, 45, 90)
SLAs: P1 agreed 30 days → e1 (agreed since 03-11: 111 days, 81 over) is past it; P2 in progress 10 days → e6
  (29 days, 19 over) is past it. e1 first (longest in status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.time import kst_to_utc
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.organisation.models import Consortium, Institution
from crm.outcomes.models import SurveyStatus
from crm.programmes.models import Programme, ProgrammeYear
from tests.factories import (
    make_consortium,
    make_engagement,
    make_engagement_history,
    make_firm,
    make_institution,
    make_kpi_row,
    make_outcome_survey,
    make_programme,
    make_programme_year,
    make_user,
)

S = EngagementStatus
TODAY = date(2026, 6, 30)
M = 1_000_000


def kst(day: str, clock: str = "09:00") -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return kst_to_utc(date.fromisoformat(day), time(hours, minutes))


@dataclass
class World:
    consortium: Consortium
    other: Consortium
    year1: ProgrammeYear
    year2: ProgrammeYear
    i1: Institution
    i2: Institution
    p1: Programme
    p2: Programme
    p3: Programme
    p4: Programme
    e: dict[str, Engagement] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def _engagement(programme: Programme, consortium: Consortium, name: str, **kw: Any) -> Engagement:
    return make_engagement(programme, make_firm(consortium, name=name), **kw)


def _history(engagement: Engagement, *steps: tuple[S, datetime]) -> None:
    previous = None
    for status, at in steps:
        make_engagement_history(engagement, from_status=previous, to_status=status, at=at)
        previous = status


def _kpi(engagement: Engagement, indicator: str, baseline: Any, actual: Any) -> None:
    make_kpi_row(
        engagement,
        indicator=indicator,
        baseline=None if baseline is None else Decimal(str(baseline)),
        actual=None if actual is None else Decimal(str(actual)),
    )


def build_world() -> World:
    consortium = make_consortium(name="가 AI 사업단")
    other = make_consortium(name="나 AI 사업단")
    year1 = make_programme_year(
        consortium, ordinal=1, budget_gov_krw=2_400 * M, budget_local_krw=900 * M, budget_self_krw=700 * M
    )
    year2 = make_programme_year(consortium, ordinal=2, starts_on=date(2027, 1, 1), ends_on=date(2027, 12, 31))
    other_year = make_programme_year(other, ordinal=1)
    i1 = make_institution(consortium, name="기관 하나")
    i2 = make_institution(consortium, name="기관 둘")
    p1 = make_programme(
        year1,
        i1,
        name="프로그램 P1",
        budget_gov_krw=600 * M,
        budget_local_krw=300 * M,
        budget_self_krw=100 * M,
        sla_days={"agreed": 30},
    )
    p2 = make_programme(
        year1,
        i2,
        name="프로그램 P2",
        budget_gov_krw=700 * M,
        budget_local_krw=100 * M,
        budget_self_krw=200 * M,
        sla_days={"in_progress": 10},
    )
    p3 = make_programme(
        year2, i1, name="프로그램 P3", budget_gov_krw=60 * M, budget_local_krw=30 * M, budget_self_krw=10 * M
    )
    p4 = make_programme(other_year, make_institution(other), name="다른 사업단 프로그램")
    world = World(consortium, other, year1, year2, i1, i2, p1, p2, p3, p4)

    e = world.e
    e["e1"] = _engagement(
        p1,
        consortium,
        "(주)하나",
        status=S.agreed,
        gov_krw=30 * M,
        local_krw=15 * M,
        self_cash_krw=3 * M,
        self_inkind_krw=2 * M,
        status_changed_at=kst("2026-03-11"),
    )
    e["e2"] = _engagement(
        p1,
        consortium,
        "(주)둘",
        status=S.closed,
        gov_krw=40 * M,
        local_krw=20 * M,
        self_cash_krw=5 * M,
        self_inkind_krw=5 * M,
        settlement_spent_krw=55 * M,
        status_changed_at=kst("2026-06-10"),
    )
    e["e3"] = _engagement(
        p1,
        consortium,
        "(주)셋",
        status=S.terminated,
        gov_krw=10 * M,
        local_krw=5 * M,
        self_cash_krw=1 * M,
        settlement_spent_krw=12 * M,
        status_changed_at=kst("2026-04-01"),
    )
    e["e4"] = _engagement(
        p1, consortium, "(주)넷", status=S.pending_agreement, gov_krw=50 * M, local_krw=25 * M
    )
    e["e5"] = _engagement(p1, consortium, "(주)다섯", status=S.cancelled, gov_krw=20 * M)
    e["e6"] = _engagement(
        p2,
        consortium,
        "(주)여섯",
        status=S.in_progress,
        gov_krw=70 * M,
        local_krw=10 * M,
        self_cash_krw=20 * M,
        status_changed_at=kst("2026-06-01"),
    )
    e["e7"] = _engagement(
        p4,
        other,
        "(주)남의기업",
        status=S.agreed,
        gov_krw=9 * M,
        local_krw=3 * M,
        self_cash_krw=3 * M,
        status_changed_at=kst("2026-01-01"),
    )

    _kpi(e["e1"], "매출", 100, 120)
    _kpi(e["e2"], "매출액", 200, 210)
    _kpi(e["e3"], " 매 출 ", 50, 80)
    _kpi(e["e4"], "매출", 0, 10)
    _kpi(e["e5"], "매출", 100, None)
    _kpi(e["e1"], "고용", 5, 8)
    _kpi(e["e2"], "고용", 10, 9)
    _kpi(e["e3"], "상시근로자 수", 4, 10)
    _kpi(e["e1"], "생산성", 100, 110)
    _kpi(e["e2"], "생산성", 80, 100)
    _kpi(e["e1"], "불량률", 5, "3.5")
    _kpi(e["e2"], "불량률", 4, 4)
    _kpi(e["e3"], "불량률", 2, "1.2")
    _kpi(e["e1"], "원가", 300, 270)
    _kpi(e["e6"], "매출", 1000, 1500)
    _kpi(e["e7"], "매출", 100, 1000)

    make_outcome_survey(e["e2"], round=1, due_on=date(2026, 3, 31), status=SurveyStatus.submitted)
    make_outcome_survey(e["e2"], round=2, due_on=date(2026, 6, 30))
    make_outcome_survey(e["e2"], round=3, due_on=date(2026, 12, 31), status=SurveyStatus.submitted)
    make_outcome_survey(e["e3"], round=1, due_on=date(2026, 5, 1), status=SurveyStatus.submitted)
    make_outcome_survey(e["e7"], round=1, due_on=date(2026, 1, 31))

    _history(e["e1"], (S.pending_agreement, kst("2026-03-01", "10:00")), (S.agreed, kst("2026-03-11")))
    _history(
        e["e2"],
        (S.pending_agreement, kst("2026-01-10", "23:30")),
        (S.agreed, kst("2026-01-12", "00:30")),
        (S.in_progress, kst("2026-01-20")),
        (S.final_report, kst("2026-04-20")),
        (S.final_check, kst("2026-05-10")),
        (S.settlement, kst("2026-05-20")),
        (S.closed, kst("2026-06-10")),
    )
    _history(
        e["e3"],
        (S.pending_agreement, kst("2026-02-01")),
        (S.agreed, kst("2026-02-05")),
        (S.in_progress, kst("2026-02-15")),
        (S.terminated, kst("2026-04-01")),
    )
    _history(
        e["e6"],
        (S.pending_agreement, kst("2026-05-01")),
        (S.agreed, kst("2026-05-11")),
        (S.in_progress, kst("2026-06-01")),
    )
    _history(e["e7"], (S.pending_agreement, kst("2025-12-01")), (S.agreed, kst("2026-01-01")))

    world.users = {
        "manager": make_user(Role.consortium_manager, consortium=consortium),
        "other_manager": make_user(Role.consortium_manager, consortium=other),
        "coordinator": make_user(Role.coordinator, institution=i1),
        "viewer": make_user(Role.national_viewer),
        "admin": make_user(Role.admin),
    }
    db.session.flush()
    return world


def fixed_today(monkeypatch: Any, today: date = TODAY) -> None:
    """The report pages count up to `today` instead of the real date."""
    monkeypatch.setattr("crm.reports.views.today_kst", lambda: today)


class QueryCounter:
    """Counts the SQL statements sent to the database while active."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        sa.event.listen(db.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(db.engine, "before_cursor_execute", self._before)
