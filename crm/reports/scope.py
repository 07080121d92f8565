"""Which programmes a report covers: the user's role scope narrowed by the page's filters.

Managers see their consortium, coordinators only their own institution's programmes (Programme.visible_to
would give them the whole consortium, which is right for reading programmes but not for their reports),
national viewers and admins every consortium. The filters (consortium, programme year ordinal) only ever
narrow that scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from crm.auth.models import Role
from crm.extensions import db
from crm.organisation.models import Consortium, Institution
from crm.programmes.models import Programme, ProgrammeYear, Track

REPORT_ROLES = (Role.admin, Role.consortium_manager, Role.coordinator, Role.national_viewer)


@dataclass(frozen=True)
class ReportScope:
    user: Any
    consortium_id: int | None = None
    ordinal: int | None = None

    @property
    def narrowed_to_institution(self) -> bool:
        """A coordinator's reports cover part of each programme year, so year-level figures (the budget set
        for the whole year) do not apply to them."""
        return self.user.role is Role.coordinator

    @property
    def hides_firms(self) -> bool:
        """National viewers get aggregates only: no firm names, no links into case data."""
        return self.user.role is Role.national_viewer

    def programme_clause(self) -> sa.ColumnElement[bool]:
        clauses = [Programme.visible_to(self.user)]
        if self.user.role is Role.coordinator:
            # A coordinator without an institution compares with NULL and sees nothing, as it should.
            clauses.append(Programme.institution_id == self.user.institution_id)
        if self.consortium_id is not None or self.ordinal is not None:
            years = sa.select(ProgrammeYear.id)
            if self.consortium_id is not None:
                years = years.where(ProgrammeYear.consortium_id == self.consortium_id)
            if self.ordinal is not None:
                years = years.where(ProgrammeYear.ordinal == self.ordinal)
            clauses.append(Programme.programme_year_id.in_(years))
        return sa.and_(*clauses)

    def programme_ids(self) -> sa.Select:
        """The programmes in scope as a subquery for `Engagement.programme_id.in_(...)`."""
        return sa.select(Programme.id).where(self.programme_clause())


@dataclass(frozen=True)
class FilterChoices:
    consortia: list[tuple[int, str]] = field(default_factory=list)
    ordinals: list[int] = field(default_factory=list)


def filter_choices(user: Any) -> FilterChoices:
    """The consortia and programme-year ordinals the user may filter by (two queries)."""
    consortia = sa.select(Consortium.id, Consortium.name).order_by(Consortium.name)
    if user.role not in (Role.admin, Role.national_viewer):
        consortia = consortia.where(Consortium.id == user.scope_consortium_id)
    ordinals = (
        sa.select(ProgrammeYear.ordinal)
        .where(ProgrammeYear.visible_to(user))
        .distinct()
        .order_by(ProgrammeYear.ordinal)
    )
    return FilterChoices(
        consortia=[(row.id, row.name) for row in db.session.execute(consortia)],
        ordinals=list(db.session.scalars(ordinals)),
    )


@dataclass(frozen=True)
class ProgrammeLabel:
    """What a report row says about its programme."""

    id: int
    name: str
    track: Track
    institution: str
    consortium_id: int
    consortium: str
    year_id: int
    ordinal: int
    starts_on: date
    ends_on: date


def label_columns() -> tuple[Any, ...]:
    return (
        Programme.id,
        Programme.name,
        Programme.track,
        Institution.name.label("institution"),
        Consortium.id.label("consortium_id"),
        Consortium.name.label("consortium"),
        ProgrammeYear.id.label("year_id"),
        ProgrammeYear.ordinal,
        ProgrammeYear.starts_on,
        ProgrammeYear.ends_on,
    )


def with_labels(statement: sa.Select) -> sa.Select:
    """Joins what `label_columns` reads; the order is the reports' order (consortium, year, programme)."""
    return (
        statement.join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
        .join(Consortium, ProgrammeYear.consortium_id == Consortium.id)
        .join(Institution, Programme.institution_id == Institution.id)
        .order_by(Consortium.name, ProgrammeYear.ordinal, Programme.id)
    )


def label_of(row: Any) -> ProgrammeLabel:
    return ProgrammeLabel(
        id=row.id,
        name=row.name,
        track=row.track,
        institution=row.institution,
        consortium_id=row.consortium_id,
        consortium=row.consortium,
        year_id=row.year_id,
        ordinal=row.ordinal,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
    )


def programme_labels(scope: ReportScope) -> list[ProgrammeLabel]:
    """Every programme in scope, in report order (one query)."""
    rows = db.session.execute(with_labels(sa.select(*label_columns()).where(scope.programme_clause())))
    return [label_of(row) for row in rows]


def is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


class kst_day(FunctionElement):
    """The Korean calendar day of a stored UTC timestamp, as a whole number of days since 1970-01-01, so
    that day differences are plain integer subtraction on every database."""

    type = sa.Integer()
    inherit_cache = True
    name = "kst_day"


@compiles(kst_day, "postgresql")
def _kst_day_postgresql(element: kst_day, compiler: Any, **kw: Any) -> str:
    (timestamp,) = element.clauses
    value = compiler.process(timestamp, **kw)
    return f"(CAST(timezone('Asia/Seoul', {value}) AS DATE) - DATE '1970-01-01')"


@compiles(kst_day)
def _kst_day_sqlite(element: kst_day, compiler: Any, **kw: Any) -> str:
    (timestamp,) = element.clauses
    value = compiler.process(timestamp, **kw)
    # SQLite has no time zones; Korea has kept UTC+9 without daylight saving since 1988.
    return f"CAST(julianday(date({value}, '+9 hours')) - 2440587.5 AS INTEGER)"


EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """The same day numbering as `kst_day`, for a date computed in Python (today in KST)."""
    return (day - EPOCH).days
