"""Budgets per programme and programme year: 국비 / 지방비 / 자부담 budget vs committed vs spent, what is
left, and the funding-split check (국비 ≤ 60 %, 지방비 ≥ 20 % of the total) for the budget and for the
committed amounts.

- Committed: the agreed amounts of engagements in COMMITTED_STATUSES (a terminated engagement keeps what it
  committed until settled); 자부담 = own cash + own in-kind.
- Spent: the public funds (국비 + 지방비) settled, i.e. the settlement's spent amount of the engagements whose
  settlement is recorded. Engagements not yet settled count nothing, so spent trails committed all year.
- Remaining: budget − committed per source; negative means over-committed.

One query: the programmes in scope joined to their engagements' sums grouped by programme. Year rows are the
sums of their programme rows (the year's own budget is shown beside them, not mixed in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.engagements.models import COMMITTED_STATUSES, Engagement
from crm.extensions import db
from crm.programmes.models import Programme, ProgrammeYear
from crm.programmes.operations import GOV_MAX_PERCENT, LOCAL_MIN_PERCENT, funding_split_problems
from crm.reports.scope import ProgrammeLabel, ReportScope, label_columns, label_of, with_labels


@dataclass(frozen=True)
class Amounts:
    """원 by source: 국비 (gov), 지방비 (local), 자부담 (own: cash + in kind)."""

    gov: int = 0
    local: int = 0
    own: int = 0

    @property
    def total(self) -> int:
        return self.gov + self.local + self.own

    @property
    def public(self) -> int:
        return self.gov + self.local

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.gov + other.gov, self.local + other.local, self.own + other.own)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.gov - other.gov, self.local - other.local, self.own - other.own)

    def share(self, part: int) -> float | None:
        return round(part * 100 / self.total, 1) if self.total else None


@dataclass(frozen=True)
class SplitCheck:
    """The funding split of a set of amounts, in words. `ok` is None when there is nothing to check."""

    ok: bool | None
    gov_percent: float | None
    local_percent: float | None
    problems: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return str(_l("No amounts to check"))
        if self.ok:
            return str(
                _l(
                    "OK: national funds at most %(gov)s%%, local funds at least %(local)s%% of the total",
                    gov=GOV_MAX_PERCENT,
                    local=LOCAL_MIN_PERCENT,
                )
            )
        return str(_l("Violation: %(problems)s", problems=" ".join(self.problems)))

    @property
    def word(self) -> str:
        if self.ok is None:
            return "—"
        return str(_l("OK")) if self.ok else str(_l("Violation"))

    @property
    def badge(self) -> str:
        return {None: "", True: "badge-ok", False: "badge-danger"}[self.ok]


def split_check(amounts: Amounts) -> SplitCheck:
    """The programme form's own rule (exact integer arithmetic, so 60 % on the nose passes)."""
    if amounts.total == 0:
        return SplitCheck(ok=None, gov_percent=None, local_percent=None)
    problems = funding_split_problems(amounts.gov, amounts.local, amounts.own)
    messages = tuple(str(message) for messages in problems.values() for message in messages)
    return SplitCheck(
        ok=not messages,
        gov_percent=amounts.share(amounts.gov),
        local_percent=amounts.share(amounts.local),
        problems=messages,
    )


@dataclass(frozen=True)
class BudgetRow:
    programme: ProgrammeLabel
    budget: Amounts
    committed: Amounts
    spent_krw: int  # public funds settled
    committed_count: int  # engagements whose amounts count as committed
    settled_count: int  # engagements with a recorded settlement

    @property
    def remaining(self) -> Amounts:
        return self.budget - self.committed

    @property
    def budget_split(self) -> SplitCheck:
        return split_check(self.budget)

    @property
    def committed_split(self) -> SplitCheck:
        return split_check(self.committed)

    @property
    def committed_percent(self) -> float | None:
        return self.budget.share(self.committed.total)


@dataclass
class YearBudget:
    year_id: int
    consortium: str
    ordinal: int
    starts_on: date
    ends_on: date
    year_budget: Amounts  # as set on the programme year itself
    rows: list[BudgetRow] = field(default_factory=list)

    @property
    def budget(self) -> Amounts:
        return sum((row.budget for row in self.rows), Amounts())

    @property
    def committed(self) -> Amounts:
        return sum((row.committed for row in self.rows), Amounts())

    @property
    def remaining(self) -> Amounts:
        return self.budget - self.committed

    @property
    def spent_krw(self) -> int:
        return sum(row.spent_krw for row in self.rows)

    @property
    def committed_count(self) -> int:
        return sum(row.committed_count for row in self.rows)

    @property
    def settled_count(self) -> int:
        return sum(row.settled_count for row in self.rows)

    @property
    def budget_split(self) -> SplitCheck:
        return split_check(self.budget)

    @property
    def committed_split(self) -> SplitCheck:
        return split_check(self.committed)

    @property
    def unallocated(self) -> Amounts:
        """What the year's own budget holds beyond its programmes' budgets."""
        return self.year_budget - self.budget


@dataclass
class BudgetReport:
    years: list[YearBudget]

    @property
    def rows(self) -> list[BudgetRow]:
        return [row for year in self.years for row in year.rows]


def _sum_if_committed(column: Any) -> Any:
    committed = Engagement.status.in_(COMMITTED_STATUSES)
    return sa.func.coalesce(sa.func.sum(sa.case((committed, column), else_=0)), 0)


def budget_report(scope: ReportScope) -> BudgetReport:
    committed = Engagement.status.in_(COMMITTED_STATUSES)
    sums = (
        sa.select(
            Engagement.programme_id,
            _sum_if_committed(Engagement.gov_krw).label("gov"),
            _sum_if_committed(Engagement.local_krw).label("local"),
            _sum_if_committed(Engagement.self_cash_krw + Engagement.self_inkind_krw).label("own"),
            sa.func.count(sa.case((committed, 1))).label("committed_count"),
            sa.func.coalesce(sa.func.sum(Engagement.settlement_spent_krw), 0).label("spent"),
            sa.func.count(Engagement.settlement_spent_krw).label("settled_count"),
        )
        .where(Engagement.programme_id.in_(scope.programme_ids()))
        .group_by(Engagement.programme_id)
        .subquery()
    )
    statement = with_labels(
        sa.select(
            *label_columns(),
            Programme.budget_gov_krw,
            Programme.budget_local_krw,
            Programme.budget_self_krw,
            ProgrammeYear.budget_gov_krw.label("year_gov"),
            ProgrammeYear.budget_local_krw.label("year_local"),
            ProgrammeYear.budget_self_krw.label("year_own"),
            sa.func.coalesce(sums.c.gov, 0).label("gov"),
            sa.func.coalesce(sums.c.local, 0).label("local"),
            sa.func.coalesce(sums.c.own, 0).label("own"),
            sa.func.coalesce(sums.c.committed_count, 0).label("committed_count"),
            sa.func.coalesce(sums.c.spent, 0).label("spent"),
            sa.func.coalesce(sums.c.settled_count, 0).label("settled_count"),
        )
        .outerjoin(sums, sums.c.programme_id == Programme.id)
        .where(scope.programme_clause())
    )
    years: dict[int, YearBudget] = {}
    for row in db.session.execute(statement):
        year = years.get(row.year_id)
        if year is None:
            year = years[row.year_id] = YearBudget(
                year_id=row.year_id,
                consortium=row.consortium,
                ordinal=row.ordinal,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                year_budget=Amounts(int(row.year_gov), int(row.year_local), int(row.year_own)),
            )
        year.rows.append(
            BudgetRow(
                programme=label_of(row),
                budget=Amounts(int(row.budget_gov_krw), int(row.budget_local_krw), int(row.budget_self_krw)),
                committed=Amounts(int(row.gov), int(row.local), int(row.own)),
                spent_krw=int(row.spent),
                committed_count=int(row.committed_count),
                settled_count=int(row.settled_count),
            )
        )
    return BudgetReport(years=list(years.values()))
