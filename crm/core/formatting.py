"""Template filters: KST dates with weekday, D-N, money in 원."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_babel import get_locale

from crm.core.time import d_day_label, to_kst

_WEEKDAYS = {"ko": "월화수목금토일", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


def _weekday(day: date) -> str:
    names = _WEEKDAYS.get(str(get_locale() or "ko"), _WEEKDAYS["ko"])
    return names[day.weekday()]


def format_date(value: date | datetime | None, weekday: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_kst(value).date()
    return f"{value.isoformat()} ({_weekday(value)})" if weekday else value.isoformat()


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = to_kst(value)
    return f"{local.date().isoformat()} ({_weekday(local.date())}) {local:%H:%M}"


def format_won(value: int | None) -> str:
    if value is None:
        return ""
    return f"{value:,}원" if str(get_locale() or "ko") == "ko" else f"₩{value:,}"


def register_filters(app: Flask) -> None:
    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_won, "won")
    app.add_template_filter(d_day_label, "dday")
