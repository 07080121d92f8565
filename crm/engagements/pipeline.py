"""The pipeline board of a programme: a column per engagement status with its count and cards, and the SLA
flag for engagements that stay in a status longer than the programme allows (Programme.sla_days).

Days in status are counted in Korean calendar days: today (KST) minus the KST date of the last status
change. An engagement is stuck when its days in status exceed the SLA of that status, so at exactly the
SLA it is still on time. Pure queries; nothing is written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.core.time import kst_to_utc, to_kst, today_kst
from crm.engagements.models import TRACKS_WITHOUT_SETTLEMENT, Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import Firm
from crm.programmes.models import Programme

S = EngagementStatus
# The board's columns, left to right: the lifecycle, then the two ways out of it.
LIFECYCLE = (
    S.pending_agreement,
    S.agreed,
    S.in_progress,
    S.final_report,
    S.final_check,
    S.settlement,
    S.closed,
    S.follow_up,
    S.cancelled,
    S.terminated,
)
# Statuses an engagement is meant to move on from; the others are never late.
SLA_STATUSES = frozenset(
    {S.pending_agreement, S.agreed, S.in_progress, S.final_report, S.final_check, S.settlement}
)
CARDS_PER_COLUMN = 50
STUCK_LIST_LIMIT = 20


@dataclass(frozen=True)
class Card:
    engagement_id: int
    firm_name: str
    programme_id: int
    programme_name: str
    status: EngagementStatus
    status_changed_at: datetime
    days_in_status: int
    sla_days: int | None
    public_krw: int | None = None  # 국비 + 지방비 agreed; the board shows it, the SLA report does not need it

    @property
    def stuck(self) -> bool:
        return self.sla_days is not None and self.days_in_status > self.sla_days

    @property
    def days_over(self) -> int:
        return self.days_in_status - self.sla_days if self.sla_days is not None else 0


@dataclass
class Column:
    status: EngagementStatus
    count: int  # every engagement in the status the user may see
    stuck_count: int
    sla_days: int | None
    cards: list[Card] = field(default_factory=list)
    listed: int = 0  # how many match the board's filter; `cards` holds the first CARDS_PER_COLUMN of them

    @property
    def more(self) -> int:
        return max(self.listed - len(self.cards), 0)


@dataclass
class Board:
    programme: Programme
    today: date
    stuck_only: bool
    columns: list[Column]

    @property
    def total(self) -> int:
        return sum(column.count for column in self.columns)

    @property
    def stuck_total(self) -> int:
        return sum(column.stuck_count for column in self.columns)


def days_in_status(status_changed_at: datetime, today: date) -> int:
    # A change stamped in the future (clock skew between servers) counts as today's.
    return max((today - to_kst(status_changed_at).date()).days, 0)


def stuck_before(today: date, sla_days: int) -> datetime:
    """The UTC instant a status change must precede for the engagement to be stuck today: days in status
    > SLA ⇔ the KST date of the change < today − SLA ⇔ the change happened before that day's KST midnight."""
    return kst_to_utc(today - timedelta(days=sla_days))


def sla_for(programme: Programme, status: EngagementStatus) -> int | None:
    """The programme's SLA for `status`; None where it has none (or a stored value is not a positive whole
    number, which the programme form never saves)."""
    if status not in SLA_STATUSES:
        return None
    days = (programme.sla_days or {}).get(status.value)
    if isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return days
    return None


def board_statuses(programme: Programme, present: set[EngagementStatus] | frozenset = frozenset()) -> list[S]:
    """The columns of a programme's board. Tracks without money have no settlement step; the column still
    shows if an engagement is somehow there, so that no engagement drops off the board."""
    return [
        status
        for status in LIFECYCLE
        if not (
            status is S.settlement and programme.track in TRACKS_WITHOUT_SETTLEMENT and status not in present
        )
    ]


def _stuck_clause(sla_by_status: dict[EngagementStatus, int], today: date) -> sa.ColumnElement[bool]:
    conditions = [
        sa.and_(Engagement.status == status, Engagement.status_changed_at < stuck_before(today, days))
        for status, days in sla_by_status.items()
    ]
    return sa.or_(*conditions) if conditions else sa.false()


def pipeline_board(
    programme: Programme, user: Any, today: date | None = None, stuck_only: bool = False
) -> Board:
    """The programme's board as `user` sees it: counts and cards only of the engagements it may see
    (Engagement.visible_to). Two queries: the counts per status, then the first cards of every column."""
    today = today or today_kst()
    sla = {status: days for status in LIFECYCLE if (days := sla_for(programme, status)) is not None}
    stuck = _stuck_clause(sla, today)
    scope = sa.and_(Engagement.programme_id == programme.id, Engagement.visible_to(user))

    counts = {
        status: (int(count), int(stuck_count or 0))
        for status, count, stuck_count in db.session.execute(
            sa.select(
                Engagement.status,
                sa.func.count(),
                sa.func.sum(sa.case((stuck, 1), else_=0)),
            )
            .where(scope)
            .group_by(Engagement.status)
        )
    }

    # The oldest change first: within one column every card has the same SLA, so the stuck ones are exactly
    # the oldest and this order puts them first, longest in status first.
    position = (
        sa.func.row_number()
        .over(
            partition_by=Engagement.status,
            order_by=(Engagement.status_changed_at, Engagement.id),
        )
        .label("position")
    )
    ranked = (
        sa.select(
            Engagement.id,
            Engagement.status,
            Engagement.status_changed_at,
            Firm.name.label("firm_name"),
            (Engagement.gov_krw + Engagement.local_krw).label("public_krw"),
            position,
        )
        .join(Firm, Engagement.firm_id == Firm.id)
        .where(scope, stuck if stuck_only else sa.true())
        .subquery()
    )
    cards: dict[EngagementStatus, list[Card]] = defaultdict(list)
    rows = db.session.execute(
        sa.select(ranked).where(ranked.c.position <= CARDS_PER_COLUMN).order_by(ranked.c.position)
    )
    for row in rows:
        cards[row.status].append(
            Card(
                engagement_id=row.id,
                firm_name=row.firm_name,
                programme_id=programme.id,
                programme_name=programme.name,
                status=row.status,
                status_changed_at=row.status_changed_at,
                days_in_status=days_in_status(row.status_changed_at, today),
                sla_days=sla.get(row.status),
                public_krw=row.public_krw,
            )
        )

    columns = []
    for status in board_statuses(programme, present=set(counts)):
        count, stuck_count = counts.get(status, (0, 0))
        columns.append(
            Column(
                status=status,
                count=count,
                stuck_count=stuck_count,
                sla_days=sla.get(status),
                cards=cards.get(status, []),
                listed=stuck_count if stuck_only else count,
            )
        )
    return Board(programme=programme, today=today, stuck_only=stuck_only, columns=columns)


def stuck_scope(user: Any, today: date) -> tuple[sa.ColumnElement[bool], dict[tuple[int, S], int]]:
    """Across every programme with engagements the user may see: the SQL condition "stuck", and the SLA per
    (programme, status). SLAs are grouped by (status, days), so the condition stays short however many
    programmes there are (most share the defaults)."""
    running = [status for status in LIFECYCLE if status in SLA_STATUSES]
    programmes = db.session.execute(
        sa.select(Programme.id, Programme.sla_days).where(
            Programme.id.in_(
                sa.select(Engagement.programme_id).where(
                    Engagement.visible_to(user), Engagement.status.in_(running)
                )
            )
        )
    ).all()
    sla: dict[tuple[int, S], int] = {}
    groups: dict[tuple[S, int], list[int]] = defaultdict(list)
    for programme_id, sla_days in programmes:
        for status in running:
            days = (sla_days or {}).get(status.value)
            if isinstance(days, int) and not isinstance(days, bool) and days > 0:
                sla[programme_id, status] = days
                groups[status, days].append(programme_id)
    conditions = [
        sa.and_(
            Engagement.status == status,
            Engagement.programme_id.in_(programme_ids),
            Engagement.status_changed_at < stuck_before(today, days),
        )
        for (status, days), programme_ids in groups.items()
    ]
    clause = sa.and_(Engagement.visible_to(user), sa.or_(*conditions) if conditions else sa.false())
    return clause, sla


def stuck_engagements(user: Any, today: date | None = None, limit: int = STUCK_LIST_LIMIT) -> list[Card]:
    """Engagements past their programme's SLA, longest in status first, across all programmes the user
    sees (for the dashboard)."""
    today = today or today_kst()
    clause, sla = stuck_scope(user, today)
    rows = db.session.execute(
        sa.select(
            Engagement.id,
            Engagement.status,
            Engagement.status_changed_at,
            Engagement.programme_id,
            Firm.name.label("firm_name"),
            Programme.name.label("programme_name"),
        )
        .join(Firm, Engagement.firm_id == Firm.id)
        .join(Programme, Engagement.programme_id == Programme.id)
        .where(clause)
        .order_by(Engagement.status_changed_at, Engagement.id)
        .limit(limit)
    )
    return [
        Card(
            engagement_id=row.id,
            firm_name=row.firm_name,
            programme_id=row.programme_id,
            programme_name=row.programme_name,
            status=row.status,
            status_changed_at=row.status_changed_at,
            days_in_status=days_in_status(row.status_changed_at, today),
            sla_days=sla.get((row.programme_id, row.status)),
        )
        for row in rows
    ]


def count_stuck_engagements(user: Any, today: date | None = None) -> int:
    clause, _sla = stuck_scope(user, today or today_kst())
    return db.session.scalar(sa.select(sa.func.count()).select_from(Engagement).where(clause)) or 0
