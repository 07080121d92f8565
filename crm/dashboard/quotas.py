"""목표 대비 실적: what counts towards a programme's quota, and the per-programme progress of the dashboard,
the XLSX report and the API.

The single definition of "counted" lives here (`COUNTED_STATUSES`, `counted_clause`); breakdowns,
drill-downs, exports and the API import it rather than restating it.

- Counting point `selected`: every engagement not cancelled (선정취소 undoes the selection; a termination
  does not undo it).
- `agreed`: agreed or later; a terminated agreement (협약해지/중도포기) no longer counts.
- `completed`: closed or in follow-up.

Programmes counted in people (training) count distinct people who attended a session, the way
`crm.training.operations.training_quota` does; programmes counted in GPU hours count the hours granted, as
`crm.infrastructure.operations.gpu_quota` does. Both are recomputed here with GROUP BY across programmes,
so a dashboard costs the same few queries however many programmes it shows.

Pace and projection, all in Korean calendar days (KST):
- elapsed share = days of the programme year lived through `as_of` (inclusive) / days in the year;
- pace = counted / (target × elapsed share), 1.0 being exactly on schedule;
- the rate window is the 56 days ending on `as_of` (inclusive); an engagement "arrives" when it first
  entered a status counted at its programme's counting point (EngagementHistory), or when it was created
  for `selected`; a person when they first attended; GPU hours on the day they were granted;
- projected year-end = counted + arrivals in the window / 8 weeks × weeks left in the year;
- at risk when the projection is under 90 % of the target.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from crm.applications.models import Application, ApplicationStatus
from crm.auth.models import Role
from crm.core.db import UTCDateTime
from crm.core.time import kst_to_utc, today_kst
from crm.engagements.models import COMMITTED_STATUSES, Engagement, EngagementHistory, EngagementStatus
from crm.engagements.pipeline import SLA_STATUSES, sla_for, stuck_before
from crm.extensions import db
from crm.infrastructure.models import GpuAllocation
from crm.organisation.models import Consortium
from crm.programmes.models import Call, CountingPoint, Programme, ProgrammeYear, TargetUnit, Track
from crm.training.models import TrainingRegistration, TrainingSession

E = EngagementStatus
CP = CountingPoint

COUNTED_STATUSES: dict[CountingPoint, frozenset[EngagementStatus]] = {
    CP.selected: frozenset(E) - {E.cancelled},
    CP.agreed: frozenset({E.agreed, E.in_progress, E.final_report, E.final_check, E.settlement})
    | {E.closed, E.follow_up},
    CP.completed: frozenset({E.closed, E.follow_up}),
}
# The funnel's stages. `agreed` is every engagement that reached an agreement, terminated ones included:
# the funnel shows how far firms got, while the `agreed` counting point counts only agreements still in force.
FUNNEL_STATUSES: dict[str, frozenset[EngagementStatus]] = {
    "selected": COUNTED_STATUSES[CP.selected],
    "agreed": COMMITTED_STATUSES,
    "completed": COUNTED_STATUSES[CP.completed],
}
STAGES = ("applied", "selected", "agreed", "completed", "counted")
RATE_WINDOW_DAYS = 56
AT_RISK_SHARE = Fraction(9, 10)
TENTH = Decimal("0.1")


def counted_clause() -> sa.ColumnElement[bool]:
    """True for an engagement at or past its programme's counting point (needs Programme joined)."""
    return sa.or_(
        *(
            sa.and_(Programme.counting_point == point, Engagement.status.in_(statuses))
            for point, statuses in COUNTED_STATUSES.items()
        )
    )


def stage_clause(stage: str) -> sa.ColumnElement[bool]:
    """The engagements behind a funnel stage or the counted figure (needs Programme joined for `counted`)."""
    if stage == "counted":
        return counted_clause()
    return Engagement.status.in_(FUNNEL_STATUSES[stage])


def applied_clause() -> sa.ColumnElement[bool]:
    """Applications that reached the institution: submitted at least once (a draft withdrawn before it was
    ever submitted never applied)."""
    return sa.and_(
        Application.status != ApplicationStatus.draft,
        sa.or_(Application.status != ApplicationStatus.withdrawn, Application.submitted_at.is_not(None)),
    )


# --- scope ------------------------------------------------------------------------------------------------


def programme_scope_clause(user: Any) -> sa.ColumnElement[bool]:
    """The programmes a user's dashboard covers: admins and national viewers every consortium's, managers
    their consortium's, coordinators only their own institution's (Programme.visible_to gives them the
    whole consortium, which is right for reading programmes but not for their figures)."""
    if user.role in (Role.admin, Role.national_viewer):
        return sa.true()
    if user.role is Role.consortium_manager:
        return Programme.visible_to(user)
    if user.role is Role.coordinator and user.institution_id:
        return sa.and_(Programme.visible_to(user), Programme.institution_id == user.institution_id)
    return sa.false()


@dataclass(frozen=True)
class YearOption:
    id: int
    consortium_id: int
    consortium_name: str
    ordinal: int
    starts_on: date
    ends_on: date

    def contains(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


@dataclass
class Scope:
    """The programmes one dashboard shows: the user's scope narrowed by the filters."""

    user: Any
    as_of: date
    years: list[YearOption]  # every programme year the user may pick
    year_ids: list[int]  # the years shown
    consortium_id: int | None
    track: Track | None
    programme_year_id: int | None  # the year picked, None for "each consortium's current year"
    clause: sa.ColumnElement[bool] = field(repr=False, default_factory=sa.false)

    def programme_ids(self) -> sa.Select[Any]:
        return (
            sa.select(Programme.id)
            .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
            .where(self.clause)
        )

    @property
    def consortia(self) -> list[tuple[int, str]]:
        seen: dict[int, str] = {}
        for year in self.years:
            seen.setdefault(year.consortium_id, year.consortium_name)
        return sorted(seen.items(), key=lambda item: item[1])

    @property
    def filters(self) -> dict[str, Any]:
        """The query-string form of the filters, for links that keep them."""
        values = {
            "year": self.programme_year_id,
            "consortium": self.consortium_id,
            "track": self.track.value if self.track else None,
        }
        return {key: value for key, value in values.items() if value is not None}


def current_years(years: list[YearOption], today: date) -> list[int]:
    """Per consortium, the programme year containing today, else its latest one."""
    by_consortium: dict[int, list[YearOption]] = defaultdict(list)
    for year in years:
        by_consortium[year.consortium_id].append(year)
    chosen = []
    for options in by_consortium.values():
        running = [year for year in options if year.contains(today)]
        chosen.append((running or sorted(options, key=lambda y: (y.starts_on, y.ordinal)))[-1].id)
    return sorted(chosen)


def dashboard_scope(
    user: Any,
    programme_year_id: int | None = None,
    consortium_id: int | None = None,
    track: Track | None = None,
    today: date | None = None,
) -> Scope:
    """The dashboard's programmes for `user` (one query, for the programme years it may pick)."""
    as_of = today or today_kst()
    role_clause = programme_scope_clause(user)
    if user.role not in (Role.admin, Role.national_viewer):
        consortium_id = None  # the role's scope already fixes the consortium
    years = [
        YearOption(
            id=row.id,
            consortium_id=row.consortium_id,
            consortium_name=row.name,
            ordinal=row.ordinal,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
        )
        for row in db.session.execute(
            sa.select(
                ProgrammeYear.id,
                ProgrammeYear.consortium_id,
                ProgrammeYear.ordinal,
                ProgrammeYear.starts_on,
                ProgrammeYear.ends_on,
                Consortium.name,
            )
            .join(Consortium, ProgrammeYear.consortium_id == Consortium.id)
            .where(ProgrammeYear.visible_to(user))
            .order_by(Consortium.name, ProgrammeYear.ordinal)
        )
    ]
    known = {year.id for year in years}
    if programme_year_id is not None and programme_year_id not in known:
        programme_year_id = None
    if programme_year_id is not None:
        year_ids = [programme_year_id]
    else:
        in_consortium = [y for y in years if consortium_id is None or y.consortium_id == consortium_id]
        year_ids = current_years(in_consortium, as_of)
    conditions = [role_clause, Programme.programme_year_id.in_(year_ids)]
    if consortium_id is not None:
        conditions.append(ProgrammeYear.consortium_id == consortium_id)
    if track is not None:
        conditions.append(Programme.track == track)
    return Scope(
        user=user,
        as_of=as_of,
        years=years,
        year_ids=year_ids,
        consortium_id=consortium_id,
        track=track,
        programme_year_id=programme_year_id,
        clause=sa.and_(*conditions),
    )


# --- rows -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Funnel:
    applied: int = 0
    selected: int = 0
    agreed: int = 0
    completed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "applied": self.applied,
            "selected": self.selected,
            "agreed": self.agreed,
            "completed": self.completed,
        }


def _number(value: int | Decimal) -> int | float:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True)
class QuotaRow:
    programme_id: int
    programme_name: str
    track: Track
    unit: TargetUnit
    counting_point: CountingPoint
    consortium_id: int
    consortium_name: str
    institution_id: int
    institution_name: str
    programme_year_id: int
    year_ordinal: int
    starts_on: date
    ends_on: date
    target: int
    counted: int | Decimal  # firms or people (int), GPU hours (Decimal)
    recent: int | Decimal  # of which arrived in the rate window
    funnel: Funnel
    stuck: int  # engagements past their SLA today
    as_of: date

    @property
    def year_days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1

    @property
    def elapsed_days(self) -> int:
        return min(max((self.as_of - self.starts_on).days + 1, 0), self.year_days)

    @property
    def remaining_days(self) -> int:
        return self.year_days - self.elapsed_days

    @property
    def elapsed_share(self) -> Fraction:
        return Fraction(self.elapsed_days, self.year_days)

    @property
    def share(self) -> Fraction:
        """Counted over target (1 = reached)."""
        return Fraction(self.counted) / self.target

    @property
    def percent(self) -> int:
        return int(self.share * 100)

    @property
    def pace_fraction(self) -> Fraction | None:
        """Counted against what the elapsed share of the year calls for; None before the year starts."""
        if self.elapsed_days == 0:
            return None
        return Fraction(self.counted) / (self.target * self.elapsed_share)

    @property
    def pace(self) -> float | None:
        pace = self.pace_fraction
        return round(float(pace), 3) if pace is not None else None

    @property
    def weekly_rate(self) -> Fraction:
        return Fraction(self.recent) / (RATE_WINDOW_DAYS // 7)

    @property
    def projected_fraction(self) -> Fraction:
        return Fraction(self.counted) + self.weekly_rate * Fraction(self.remaining_days, 7)

    @property
    def projected(self) -> float:
        return round(float(self.projected_fraction), 1)

    @property
    def expected(self) -> float:
        """Where the count would stand on a straight line from zero to the target."""
        return round(float(self.target * self.elapsed_share), 1)

    @property
    def at_risk(self) -> bool:
        return self.projected_fraction < AT_RISK_SHARE * self.target

    @property
    def counts_firms(self) -> bool:
        return self.unit is TargetUnit.firms

    def as_dict(self) -> dict[str, Any]:
        return {
            "programme_id": self.programme_id,
            "programme": self.programme_name,
            "consortium_id": self.consortium_id,
            "institution_id": self.institution_id,
            "programme_year_id": self.programme_year_id,
            "track": self.track.value,
            "unit": self.unit.value,
            "counting_point": self.counting_point.value,
            "target": self.target,
            "counted": _number(self.counted),
            "funnel": self.funnel.as_dict(),
            "elapsed_share": round(float(self.elapsed_share), 4),
            "pace": self.pace,
            "projected": self.projected,
            "at_risk": self.at_risk,
            "as_of": self.as_of.isoformat(),
        }


@dataclass
class QuotaReport:
    scope: Scope
    rows: list[QuotaRow]

    @property
    def as_of(self) -> date:
        return self.scope.as_of

    @property
    def firm_rows(self) -> list[QuotaRow]:
        return [row for row in self.rows if row.counts_firms]

    @property
    def firm_target(self) -> int:
        return sum(row.target for row in self.firm_rows)

    @property
    def firm_counted(self) -> int:
        """Engagements counted by the programmes counted in firms: what the breakdowns split up."""
        return sum(int(row.counted) for row in self.firm_rows)

    @property
    def at_risk_count(self) -> int:
        return sum(1 for row in self.rows if row.at_risk)

    @property
    def stuck_count(self) -> int:
        return sum(row.stuck for row in self.rows)


def _window(as_of: date) -> tuple[date, date]:
    return as_of - timedelta(days=RATE_WINDOW_DAYS - 1), as_of


def _utc(day: date) -> sa.BindParameter[Any]:
    return sa.literal(kst_to_utc(day), UTCDateTime())


def _stuck_clause(programmes: list[Programme], as_of: date) -> sa.ColumnElement[bool]:
    """Past the SLA of its status, as the pipeline board decides it; conditions are grouped by (status,
    days) so the statement stays short however many programmes share the defaults."""
    groups: dict[tuple[EngagementStatus, int], list[int]] = defaultdict(list)
    for programme in programmes:
        for status in SLA_STATUSES:
            days = sla_for(programme, status)
            if days is not None:
                groups[status, days].append(programme.id)
    conditions = [
        sa.and_(
            Engagement.status == status,
            Engagement.programme_id.in_(ids),
            Engagement.status_changed_at < stuck_before(as_of, days),
        )
        for (status, days), ids in sorted(groups.items(), key=lambda item: (item[0][0].value, item[0][1]))
    ]
    return sa.or_(*conditions) if conditions else sa.false()


def _arrived_in_window(start: date, end: date) -> sa.ColumnElement[bool]:
    """True when a counted engagement reached its programme's counting point inside the rate window
    (needs Programme joined; not meant for engagements that are not counted); see the module docstring
    for when an engagement "arrives".

    The history is read only for counted engagements whose status changed since the window opened: an
    arrival is a status change, so the last change is never earlier than the arrival (the day of slack
    covers the microseconds between the status write and its history row's timestamp). CASE evaluates its
    branches in order, so the subquery runs for those alone."""
    opens, closes = _utc(start), _utc(end + timedelta(days=1))
    changed = Engagement.status_changed_at

    def arrived(point: CountingPoint) -> sa.ScalarSelect[Any]:
        # Without a history row (rows imported from elsewhere) the last status change is the best we know.
        # min() appears twice but is computed once per subquery.
        reached = sa.func.coalesce(sa.func.min(EngagementHistory.at), changed)
        return (
            sa.select(sa.and_(reached >= opens, reached < closes))
            .where(
                EngagementHistory.engagement_id == Engagement.id,
                EngagementHistory.to_status.in_(COUNTED_STATUSES[point]),
            )
            .correlate(Engagement)
            .scalar_subquery()
        )

    return sa.case(
        (
            Programme.counting_point == CP.selected,
            sa.and_(Engagement.created_at >= opens, Engagement.created_at < closes),
        ),
        (changed < sa.literal(kst_to_utc(start) - timedelta(days=1), UTCDateTime()), sa.false()),
        *(
            (
                sa.and_(Programme.counting_point == point, Engagement.status.in_(COUNTED_STATUSES[point])),
                arrived(point),
            )
            for point in (CP.agreed, CP.completed)
        ),
        else_=sa.false(),
    )


@dataclass(frozen=True)
class EngagementTally:
    """One programme's engagements by status: how many, how many arrived in the rate window, how many are
    past their SLA. The funnel and the counted figure add up statuses (COUNTED_STATUSES, FUNNEL_STATUSES)."""

    by_status: dict[EngagementStatus, int]
    recent_by_status: dict[EngagementStatus, int]
    stuck: int

    def total(self, statuses: frozenset[EngagementStatus]) -> int:
        return sum(n for status, n in self.by_status.items() if status in statuses)

    def recent(self, statuses: frozenset[EngagementStatus]) -> int:
        return sum(n for status, n in self.recent_by_status.items() if status in statuses)


def _engagement_counts(programmes: list[Programme], as_of: date) -> dict[int, EngagementTally]:
    """One grouped pass over the programmes' engagements by (programme, status); with an index on
    (programme_id, status) that carries the timestamps it reads no table rows, and the status sets are
    added up in Python, so no CASE per stage is evaluated per engagement."""
    if not programmes:
        return {}
    start, end = _window(as_of)

    def tally(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    statement = (
        sa.select(
            Engagement.programme_id,
            Engagement.status,
            sa.func.count().label("n"),
            tally(_arrived_in_window(start, end)).label("recent"),
            tally(_stuck_clause(programmes, as_of)).label("stuck"),
        )
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(Engagement.programme_id.in_([programme.id for programme in programmes]))
        .group_by(Engagement.programme_id, Engagement.status)
    )
    by_status: dict[int, dict[EngagementStatus, int]] = defaultdict(dict)
    recent: dict[int, dict[EngagementStatus, int]] = defaultdict(dict)
    stuck: dict[int, int] = defaultdict(int)
    for row in db.session.execute(statement):
        by_status[row.programme_id][row.status] = int(row.n)
        recent[row.programme_id][row.status] = int(row.recent)
        stuck[row.programme_id] += int(row.stuck)
    return {pid: EngagementTally(by_status[pid], recent[pid], stuck[pid]) for pid in by_status}


def _ids(programmes: list[Programme], unit: TargetUnit | None = None) -> list[int]:
    return [p.id for p in programmes if unit is None or p.unit is unit]


def _applied_counts(programmes: list[Programme]) -> dict[int, int]:
    if not programmes:
        return {}
    statement = (
        # count(*), not count(id): the id is not in ix_applications_call_status, which the count reads alone
        sa.select(Call.programme_id, sa.func.count())
        .select_from(Application)
        .join(Call, Application.call_id == Call.id)
        .where(Call.programme_id.in_(_ids(programmes)), applied_clause())
        .group_by(Call.programme_id)
    )
    return {programme_id: int(count) for programme_id, count in db.session.execute(statement)}


def trained_people() -> sa.Subquery:
    """One row per (programme, person) who attended, with the first day they attended; a person is their
    lower-cased e-mail, as training_quota counts them."""
    return (
        sa.select(
            TrainingSession.programme_id.label("programme_id"),
            sa.func.lower(TrainingRegistration.email).label("person"),
            sa.func.min(TrainingSession.held_on).label("first_on"),
            sa.func.count().label("sessions"),
        )
        .join(TrainingSession, TrainingRegistration.session_id == TrainingSession.id)
        .where(TrainingRegistration.attended.is_(True))
        .group_by(TrainingSession.programme_id, sa.func.lower(TrainingRegistration.email))
        .subquery("trained")
    )


def _people_counts(programmes: list[Programme], as_of: date) -> dict[int, tuple[int, int]]:
    if not _ids(programmes, TargetUnit.people):
        return {}
    start, end = _window(as_of)
    people = trained_people()
    statement = (
        sa.select(
            people.c.programme_id,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((people.c.first_on.between(start, end), 1), else_=0)), 0),
        )
        .where(people.c.programme_id.in_(_ids(programmes, TargetUnit.people)))
        .group_by(people.c.programme_id)
    )
    return {pid: (int(count), int(recent)) for pid, count, recent in db.session.execute(statement)}


def _hours(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(TENTH)


def _gpu_counts(programmes: list[Programme], as_of: date) -> dict[int, tuple[Decimal, Decimal]]:
    if not _ids(programmes, TargetUnit.gpu_hours):
        return {}
    start, end = _window(as_of)
    statement = (
        sa.select(
            Engagement.programme_id,
            sa.func.sum(GpuAllocation.hours_granted),
            sa.func.sum(
                sa.case((GpuAllocation.granted_on.between(start, end), GpuAllocation.hours_granted), else_=0)
            ),
        )
        .join(Engagement, GpuAllocation.engagement_id == Engagement.id)
        .where(Engagement.programme_id.in_(_ids(programmes, TargetUnit.gpu_hours)))
        .group_by(Engagement.programme_id)
    )
    return {pid: (_hours(total), _hours(recent)) for pid, total, recent in db.session.execute(statement)}


def load_programmes(scope: Scope) -> list[Programme]:
    return list(
        db.session.scalars(
            sa.select(Programme)
            .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
            .join(Consortium, ProgrammeYear.consortium_id == Consortium.id)
            .where(scope.clause)
            .options(
                joinedload(Programme.programme_year).joinedload(ProgrammeYear.consortium),
                joinedload(Programme.institution),
            )
            .order_by(Consortium.name, ProgrammeYear.ordinal, Programme.track, Programme.id)
        ).unique()
    )


def quota_report(scope: Scope) -> QuotaReport:
    """Five queries at most whatever the number of programmes: the programmes, then engagements,
    applications, trained people and GPU hours, each grouped by programme (a unit no programme counts in
    costs no query)."""
    programmes = load_programmes(scope)
    engagements = _engagement_counts(programmes, scope.as_of)
    applied = _applied_counts(programmes)
    people = _people_counts(programmes, scope.as_of)
    gpu = _gpu_counts(programmes, scope.as_of)
    empty = EngagementTally({}, {}, 0)
    rows = []
    for programme in programmes:
        counts = engagements.get(programme.id, empty)
        funnel = Funnel(
            applied=applied.get(programme.id, 0),
            selected=counts.total(FUNNEL_STATUSES["selected"]),
            agreed=counts.total(FUNNEL_STATUSES["agreed"]),
            completed=counts.total(FUNNEL_STATUSES["completed"]),
        )
        counted: int | Decimal
        recent: int | Decimal
        if programme.unit is TargetUnit.people:
            counted, recent = people.get(programme.id, (0, 0))
        elif programme.unit is TargetUnit.gpu_hours:
            counted, recent = gpu.get(programme.id, (Decimal("0.0"), Decimal("0.0")))
        else:
            statuses = COUNTED_STATUSES[programme.counting_point]
            counted, recent = counts.total(statuses), counts.recent(statuses)
        year = programme.programme_year
        rows.append(
            QuotaRow(
                programme_id=programme.id,
                programme_name=programme.name,
                track=programme.track,
                unit=programme.unit,
                counting_point=programme.counting_point,
                consortium_id=year.consortium_id,
                consortium_name=year.consortium.name,
                institution_id=programme.institution_id,
                institution_name=programme.institution.name,
                programme_year_id=year.id,
                year_ordinal=year.ordinal,
                starts_on=year.starts_on,
                ends_on=year.ends_on,
                target=programme.target,
                counted=counted,
                recent=recent,
                funnel=funnel,
                stuck=counts.stuck,
                as_of=scope.as_of,
            )
        )
    return QuotaReport(scope=scope, rows=rows)


def quota_rows(
    user: Any,
    programme_year_id: int | None = None,
    consortium_id: int | None = None,
    today: date | None = None,
    track: Track | None = None,
) -> QuotaReport:
    """목표 대비 실적 of the programmes `user` may see, for one programme year (default: each consortium's
    current year), one consortium (national viewers and admins) and one track."""
    scope = dashboard_scope(user, programme_year_id, consortium_id, track, today)
    return quota_report(scope)
