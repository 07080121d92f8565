"""Template filters: KST dates with weekday, D-N, money in 원 (exact and compact)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_babel import get_locale, gettext
from markupsafe import Markup

from crm.core.time import d_day_label, days_until, to_kst

_WEEKDAYS = {"ko": "월화수목금토일", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}

# A deadline this close (in days, D-Day included) is flagged as soon.
DDAY_SOON_DAYS = 7

_MAN = 10_000
_EOK = 100_000_000
_JO = 1_000_000_000_000
# English compact units, largest first.
_EN_UNITS = ((1_000_000_000_000, "T"), (1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))


def _locale() -> str:
    return str(get_locale() or "ko")


def _weekday(day: date) -> str:
    names = _WEEKDAYS.get(_locale(), _WEEKDAYS["ko"])
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
    """1,234,000원; in English ₩1,234,000 (the sign before the symbol: -₩5,000)."""
    if value is None:
        return ""
    if _locale() == "ko":
        return f"{value:,}원"
    return f"-₩{-value:,}" if value < 0 else f"₩{value:,}"


def _tenths(amount: int, unit: int) -> str:
    """amount / unit with at most one decimal, cut rather than rounded: a compact figure never claims a
    threshold the exact one has not reached (99,999,999원 is 9,999만원, not 1억원)."""
    tenths = amount * 10 // unit
    whole, decimal = divmod(tenths, 10)
    return f"{whole:,}.{decimal}" if decimal else f"{whole:,}"


def _won_short_ko(amount: int) -> str:
    if amount < _MAN:
        return f"{amount:,}원"
    if amount < _EOK:
        return f"{amount // _MAN:,}만원"
    if amount < 10 * _EOK:
        eok, rest = divmod(amount, _EOK)
        man = rest // _MAN
        return f"{eok}억 {man:,}만원" if man else f"{eok}억원"
    if amount < _JO:
        return f"{_tenths(amount, _EOK)}억원"
    return f"{_tenths(amount, _JO)}조원"


def _won_short_en(amount: int) -> str:
    if amount < 10_000:
        return f"₩{amount:,}"
    for unit, suffix in _EN_UNITS:
        if amount >= unit:
            return f"₩{_tenths(amount, unit)}{suffix}"
    return f"₩{amount:,}"  # not reached: amounts from 10,000 up have a unit


def format_won_short(value: int | None) -> str:
    """A compact amount for tight spaces: 560만원, 1억 2,340만원, 12.3억원; in English ₩5.6M, ₩123.4M. Below
    10,000 the exact amount. Cut, not rounded, so show the exact amount alongside (see won_compact)."""
    if value is None:
        return ""
    short = _won_short_ko(abs(value)) if _locale() == "ko" else _won_short_en(abs(value))
    return f"-{short}" if value < 0 else short


def won_compact(value: int | None) -> Markup:
    """The compact amount in a span whose title holds the exact one, so hovering (or a screen reader's
    description) still gives every 원. Amounts that do not shorten are printed as they are."""
    if value is None:
        return Markup("")
    short, exact = format_won_short(value), format_won(value)
    if short == exact:
        return Markup('<span class="money">{}</span>').format(exact)
    return Markup('<span class="money money-short" title="{}">{}</span>').format(exact, short)


def dday_badge(due_on: date | None, today: date | None = None) -> Markup:
    """D-7 / D-Day / D+3 as a badge: overdue in red with the word "overdue" for those who do not see the
    colour, due within a week in yellow. The date itself is in the title."""
    if due_on is None:
        return Markup("")
    days = days_until(due_on, today)
    label = d_day_label(due_on, today)
    if days < 0:
        return Markup(
            '<span class="badge badge-danger dday dday-overdue" title="{title}">{label}'
            '<span class="visually-hidden"> ({overdue})</span></span>'
        ).format(title=format_date(due_on), label=label, overdue=gettext("overdue"))
    css = "badge-warn dday-soon" if days <= DDAY_SOON_DAYS else "dday-later"
    return Markup('<span class="badge {css} dday" title="{title}">{label}</span>').format(
        css=css, title=format_date(due_on), label=label
    )


def register_filters(app: Flask) -> None:
    app.add_template_filter(format_date, "date")
    app.add_template_filter(format_datetime, "datetime")
    app.add_template_filter(format_won, "won")
    app.add_template_filter(format_won_short, "won_short")
    app.add_template_filter(won_compact, "won_compact")
    app.add_template_filter(d_day_label, "dday")
    app.add_template_filter(dday_badge, "dday_badge")
