"""Breakdowns of the counted engagements (programmes counted in firms) by institution, 시군구, KSIC 대분류,
employee band and revenue band. Each dimension is one SQL key expression: the breakdown groups by it (the
dashboard's five in one statement, `all_breakdowns`) and the drill-down filters by it, so a cell and its list
cannot disagree. Every engagement falls in exactly one group (unknown included), so each breakdown adds up to
the total."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.dashboard.quotas import Scope, counted_clause
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms import ksic, regions
from crm.firms.models import Firm, FirmFinancial
from crm.organisation.models import Institution
from crm.programmes.models import Programme, TargetUnit

UNKNOWN = "unknown"
EOK = 100_000_000  # 억원

# (key, upper bound exclusive or None, label)
EMPLOYEE_BANDS: tuple[tuple[str, int | None, Any], ...] = (
    # A firm of its owner alone (0 employees) is in the smallest band.
    ("1-9", 10, _l("1–9 employees")),
    ("10-49", 50, _l("10–49 employees")),
    ("50-99", 100, _l("50–99 employees")),
    ("100-299", 300, _l("100–299 employees")),
    ("300plus", None, _l("300 or more employees")),
)
REVENUE_BANDS: tuple[tuple[str, int | None, Any], ...] = (
    ("lt10", 10 * EOK, _l("Under 1 billion won")),
    ("10-50", 50 * EOK, _l("1–5 billion won")),
    ("50-100", 100 * EOK, _l("5–10 billion won")),
    ("100-500", 500 * EOK, _l("10–50 billion won")),
    ("500plus", None, _l("50 billion won or more")),
)


def _banded(value: sa.ColumnElement[Any], bands: tuple[tuple[str, int | None, Any], ...]) -> Any:
    whens = [(value < upper, key) for key, upper, _label in bands if upper is not None]
    last = next(key for key, upper, _label in bands if upper is None)
    return sa.case((value.is_(None), None), *whens, else_=last)


def latest_revenue() -> sa.ScalarSelect[Any]:
    """The firm's revenue in its latest year that has a revenue figure."""
    return (
        sa.select(FirmFinancial.revenue_krw)
        .where(FirmFinancial.firm_id == Firm.id, FirmFinancial.revenue_krw.is_not(None))
        .order_by(FirmFinancial.year.desc())
        .limit(1)
        .correlate(Firm)
        .scalar_subquery()
    )


def _ksic_section() -> Any:
    division = sa.func.substr(Firm.ksic_code, 1, 2)
    sections: dict[str, list[str]] = {}
    for code, letter in ksic.DIVISIONS.items():
        sections.setdefault(letter, []).append(code)
    return sa.case(
        *((division.in_(codes), letter) for letter, codes in sorted(sections.items())),
        else_=None,
    )


@dataclass(frozen=True)
class Dimension:
    key: str
    title: Any
    sheet: str  # the XLSX sheet name; Korean in every language, other tools refer to it

    def expression(self) -> Any:
        if self.key == "institution":
            return Programme.institution_id
        if self.key == "sigungu":
            return Firm.sigungu_code
        if self.key == "ksic":
            return _ksic_section()
        if self.key == "employees":
            return _banded(Firm.employees, EMPLOYEE_BANDS)
        if self.key == "revenue":
            return _banded(latest_revenue(), REVENUE_BANDS)
        raise KeyError(self.key)

    def label(self, key: Any, names: dict[Any, str] | None = None) -> str:
        if key is None:
            return str(_l("Unknown"))
        if self.key == "institution":
            return (names or {}).get(key, str(key))
        if self.key == "sigungu":
            return regions.sigungu_full_name(key) or str(key)
        if self.key == "ksic":
            return f"{key} {ksic.section_name(key) or ''}".strip()
        bands = EMPLOYEE_BANDS if self.key == "employees" else REVENUE_BANDS
        return next((str(label) for band, _upper, label in bands if band == key), str(key))

    def parse(self, raw: str) -> Any:
        """A key from a URL: None for "unknown"; institution ids as numbers."""
        if raw == UNKNOWN:
            return None
        if self.key == "institution":
            return int(raw) if raw.isdigit() else -1
        return raw

    def filter(self, key: Any) -> sa.ColumnElement[bool]:
        expression = self.expression()
        return expression.is_(None) if key is None else expression == key


DIMENSIONS: dict[str, Dimension] = {
    dimension.key: dimension
    for dimension in (
        Dimension("institution", _l("By institution"), "기관별"),
        Dimension("sigungu", _l("By district (시군구)"), "시군구별"),
        Dimension("ksic", _l("By industry (KSIC section)"), "업종별"),
        Dimension("employees", _l("By number of employees"), "종업원규모별"),
        Dimension("revenue", _l("By revenue"), "매출규모별"),
    )
}


@dataclass(frozen=True)
class BreakdownRow:
    key: Any  # None for unknown
    label: str
    count: int

    @property
    def url_key(self) -> str:
        return UNKNOWN if self.key is None else str(self.key)


@dataclass(frozen=True)
class Breakdown:
    dimension: Dimension
    rows: list[BreakdownRow]

    @cached_property
    def total(self) -> int:
        # read once per row by the page (shares of the total): summed once
        return sum(row.count for row in self.rows)


def counted_engagements(scope: Scope) -> sa.Select[Any]:
    """The engagements the firm-counted programmes of the scope count, with Firm and Programme joined."""
    return (
        sa.select(Engagement)
        .join(Programme, Engagement.programme_id == Programme.id)
        .join(Firm, Engagement.firm_id == Firm.id)
        .where(
            Engagement.programme_id.in_(scope.programme_ids()),
            Programme.unit == TargetUnit.firms,
            counted_clause(),
        )
    )


def breakdown(scope: Scope, key: str) -> Breakdown:
    dimension = DIMENSIONS[key]
    expression = dimension.expression().label("key")
    statement = (
        counted_engagements(scope)
        .with_only_columns(expression, sa.func.count(Engagement.id).label("n"))
        .group_by(expression)
    )
    names: dict[Any, str] = {}
    if key == "institution":
        statement = statement.join(Institution, Programme.institution_id == Institution.id).add_columns(
            sa.func.min(Institution.name).label("name")
        )
    counts: dict[Any, int] = {}
    for row in db.session.execute(statement):
        counts[row.key] = int(row.n)
        if key == "institution":
            names[row.key] = row.name
    return _assemble(dimension, counts, names)


def _assemble(dimension: Dimension, counts: dict[Any, int], names: dict[Any, str]) -> Breakdown:
    key = dimension.key
    if key in ("employees", "revenue"):
        bands = EMPLOYEE_BANDS if key == "employees" else REVENUE_BANDS
        order: list[Any] = [band for band, _upper, _label in bands]
    else:
        present = [k for k in counts if k is not None]
        order = sorted(present, key=lambda k: (-counts[k], dimension.label(k, names)))
    order.append(None)
    # Bands are a fixed scale, shown even when empty; other groups and "unknown" only when they hold any.
    banded = key in ("employees", "revenue")
    rows = [
        BreakdownRow(key=k, label=dimension.label(k, names), count=counts.get(k, 0))
        for k in order
        if counts.get(k) or (banded and k is not None)
    ]
    return Breakdown(dimension=dimension, rows=rows)


def all_breakdowns(scope: Scope) -> list[Breakdown]:
    """Every dimension in one statement: the counted engagements with each dimension's value are read once
    (a CTE), then grouped by each key in turn (UNION ALL), rather than joined and filtered once per
    dimension. The bands are applied outside the CTE, so a firm's latest revenue is looked up once, not
    once per band boundary."""
    bands = {"employees": EMPLOYEE_BANDS, "revenue": REVENUE_BANDS}
    values = {
        "sigungu": DIMENSIONS["sigungu"].expression(),
        "ksic": DIMENSIONS["ksic"].expression(),
        "employees": Firm.employees,
        "revenue": latest_revenue(),
    }
    counted = (
        counted_engagements(scope)
        .join(Institution, Programme.institution_id == Institution.id)
        .with_only_columns(
            Programme.institution_id.label("institution"),
            Institution.name.label("institution_name"),
            *(value.label(key) for key, value in values.items()),
        )
        .cte("counted")
    )
    parts = [
        sa.select(
            sa.literal("institution").label("dimension"),
            sa.cast(counted.c.institution, sa.String).label("key"),
            sa.func.count().label("n"),
            sa.func.min(counted.c.institution_name).label("name"),
        ).group_by(counted.c.institution)
    ]
    for key in values:
        column = _banded(counted.c[key], bands[key]) if key in bands else counted.c[key]
        parts.append(
            sa.select(
                sa.literal(key).label("dimension"),
                sa.cast(column, sa.String).label("key"),
                sa.func.count().label("n"),
                sa.cast(sa.null(), sa.String).label("name"),
            ).group_by(column)
        )
    counts: dict[str, dict[Any, int]] = {key: {} for key in DIMENSIONS}
    names: dict[Any, str] = {}
    for row in db.session.execute(sa.union_all(*parts)):
        value = row.key
        if row.dimension == "institution" and value is not None:
            value = int(value)
            names[value] = row.name
        counts[row.dimension][value] = int(row.n)
    return [_assemble(DIMENSIONS[key], counts[key], names) for key in DIMENSIONS]
