"""Time in Korea: shown and counted in Asia/Seoul, stored in UTC."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from crm.core.db import utcnow

KST = ZoneInfo("Asia/Seoul")

__all__ = [
    "KST",
    "d_day_label",
    "days_until",
    "kst_to_utc",
    "one_month_before",
    "to_kst",
    "today_kst",
    "utcnow",
]


def to_kst(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(KST)


def today_kst(now: datetime | None = None) -> date:
    return to_kst(now or utcnow()).date()


def kst_to_utc(value: datetime | date, at: time | None = None) -> datetime:
    """A wall-clock time in Korea (naive or a date plus time) as an aware UTC datetime."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, at or time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=KST)
    return value.astimezone(UTC)


def days_until(due_on: date, today: date | None = None) -> int:
    """Calendar days from today (KST) to due_on; negative once overdue."""
    return (due_on - (today or today_kst())).days


def d_day_label(due_on: date, today: date | None = None) -> str:
    """D-7, D-Day, D+3 — the way Korean deadlines are written."""
    days = days_until(due_on, today)
    if days > 0:
        return f"D-{days}"
    if days == 0:
        return "D-Day"
    return f"D+{-days}"


def one_month_before(day: date) -> date:
    """The same day one calendar month earlier, or the month's last day when it is shorter (31 March →
    28/29 February)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
