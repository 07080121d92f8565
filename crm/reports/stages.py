"""Time in stage: the median number of days engagements spend in each status, per programme, and the list
of engagements past their programme's SLA.

Days are Korean calendar days, as on the pipeline board: a stay in a status runs from the KST day of the
history row that entered it to the KST day of the next history row of the same engagement (the one that
left it); the stay in the current status runs until today (KST). A stay that starts and ends on the same day
counts 0 days. End states (follow-up, cancelled, terminated) are never left, so they have no time in stage.

One query computes every median: a window function (LEAD) pairs each history row with the next one, and the
durations are grouped by programme and status (plus an overall row per status in the same UNION ALL).
PostgreSQL takes the median with percentile_cont; SQLite returns each group's values in one string and the
median is taken in Python.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import contains_eager

from crm.auth.models import Role
from crm.core.pagination import paginate
from crm.engagements.models import ENGAGEMENT_TRANSITIONS, Engagement, EngagementHistory, EngagementStatus
from crm.engagements.pipeline import LIFECYCLE, Card, days_in_status, stuck_scope
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Programme
from crm.reports.scope import (
    ProgrammeLabel,
    ReportScope,
    day_number,
    is_postgresql,
    kst_day,
    programme_labels,
)

# Statuses an engagement moves on from, in lifecycle order: the report's columns.
STAGES: tuple[EngagementStatus, ...] = tuple(status for status in LIFECYCLE if ENGAGEMENT_TRANSITIONS[status])


@dataclass(frozen=True)
class StageStat:
    n: int  # stays in the status (an engagement that entered it twice counts twice)
    median_days: float


@dataclass
class StageRow:
    programme: ProgrammeLabel
    stages: dict[EngagementStatus, StageStat] = field(default_factory=dict)


@dataclass
class StageReport:
    today: date
    rows: list[StageRow]
    overall: dict[EngagementStatus, StageStat]
    statuses: tuple[EngagementStatus, ...] = STAGES


def _median_days(
    scope: ReportScope, today: date
) -> tuple[dict[tuple[int, EngagementStatus], StageStat], dict[EngagementStatus, StageStat]]:
    entered = kst_day(EngagementHistory.at)
    stays = (
        sa.select(
            Engagement.programme_id.label("programme_id"),
            EngagementHistory.to_status.label("status"),
            entered.label("entered"),
            sa.func.lead(entered)
            .over(
                partition_by=EngagementHistory.engagement_id,
                order_by=(EngagementHistory.at, EngagementHistory.id),
            )
            .label("left"),
        )
        .join(Engagement, EngagementHistory.engagement_id == Engagement.id)
        .where(Engagement.programme_id.in_(scope.programme_ids()))
        .subquery()
    )
    raw = sa.func.coalesce(stays.c.left, sa.literal(day_number(today), sa.Integer)) - stays.c.entered
    # A row stamped in the future (clock skew between servers) counts as today's, as on the pipeline board.
    days = sa.case((raw < 0, 0), else_=raw)
    durations = (
        sa.select(stays.c.programme_id, stays.c.status, days.label("days"))
        .where(stays.c.status.in_(STAGES))
        .subquery()
    )
    if is_postgresql():
        middle = sa.func.percentile_cont(0.5).within_group(durations.c.days).label("median")
    else:
        middle = sa.func.group_concat(durations.c.days).label("median")
    columns = (durations.c.status, sa.func.count().label("n"), middle)
    per_programme = sa.select(durations.c.programme_id, *columns).group_by(
        durations.c.programme_id, durations.c.status
    )
    overall = sa.select(sa.null().label("programme_id"), *columns).group_by(durations.c.status)
    by_programme: dict[tuple[int, EngagementStatus], StageStat] = {}
    totals: dict[EngagementStatus, StageStat] = {}
    for programme_id, status, n, median in db.session.execute(sa.union_all(per_programme, overall)):
        if isinstance(median, str):
            median = statistics.median(int(value) for value in median.split(","))
        stat = StageStat(n=int(n), median_days=float(median))
        status = EngagementStatus(status)
        if programme_id is None:
            totals[status] = stat
        else:
            by_programme[programme_id, status] = stat
    return by_programme, totals


def stage_report(scope: ReportScope, today: date) -> StageReport:
    labels = programme_labels(scope)
    medians, overall = _median_days(scope, today)
    rows = [
        StageRow(
            programme=label,
            stages={status: medians[label.id, status] for status in STAGES if (label.id, status) in medians},
        )
        for label in labels
    ]
    return StageReport(today=today, rows=rows, overall=overall)


# --- Past their SLA -----------------------------------------------------------------------------------------


class _EveryConsortium:
    """Stands in for a national viewer in the pipeline's SLA scope, which is built on the case-data
    visibility (Engagement.visible_to) and so would show them nothing. National viewers may see the figures
    of every consortium; the report narrows the list to its own scope and never shows them the firm."""

    role = Role.admin


def _stuck_statement(scope: ReportScope, today: date) -> tuple[sa.Select, dict[tuple[int, Any], int]]:
    user = _EveryConsortium() if scope.hides_firms else scope.user
    # The pipeline board's own definition of "past the SLA", so the board, the dashboard and this list agree.
    clause, sla = stuck_scope(user, today)
    statement = (
        sa.select(Engagement)
        .join(Firm, Engagement.firm_id == Firm.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(clause, Engagement.programme_id.in_(scope.programme_ids()))
        .options(contains_eager(Engagement.firm), contains_eager(Engagement.programme))
        .order_by(Engagement.status_changed_at, Engagement.id)
    )
    return statement, sla


def _card(engagement: Engagement, sla: dict[tuple[int, Any], int], today: date) -> Card:
    return Card(
        engagement_id=engagement.id,
        firm_name=engagement.firm.name,
        programme_id=engagement.programme_id,
        programme_name=engagement.programme.name,
        status=engagement.status,
        status_changed_at=engagement.status_changed_at,
        days_in_status=days_in_status(engagement.status_changed_at, today),
        sla_days=sla.get((engagement.programme_id, engagement.status)),
    )


def stuck_page(scope: ReportScope, today: date) -> Pagination:
    """One page (the request's ?page=) of engagements past their SLA, longest in status first; `items` are
    pipeline Cards. Three queries: the SLAs, the count, the page."""
    statement, sla = _stuck_statement(scope, today)
    page = paginate(statement)
    page.items = [_card(engagement, sla, today) for engagement in page.items]
    return page


def all_stuck(scope: ReportScope, today: date) -> list[Card]:
    """Every engagement past its SLA in scope (for the CSV export)."""
    statement, sla = _stuck_statement(scope, today)
    return [_card(engagement, sla, today) for engagement in db.session.scalars(statement).unique()]
