"""The template filters: dates with the weekday, D-N badges, exact and compact money, in both languages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask_babel import force_locale

from crm.core.formatting import (
    dday_badge,
    format_date,
    format_datetime,
    format_won,
    format_won_short,
    won_compact,
)

TODAY = date(2026, 11, 21)  # a Saturday


def test_dates_carry_the_weekday_in_the_users_language(app_ctx):
    assert format_date(date(2026, 11, 21)) == "2026-11-21 (토)"
    assert format_date(date(2026, 11, 21), weekday=False) == "2026-11-21"
    # 23:30 UTC on the 20th is already Saturday morning in Korea.
    assert format_datetime(datetime(2026, 11, 20, 23, 30, tzinfo=UTC)) == "2026-11-21 (토) 08:30"
    with force_locale("en"):
        assert format_date(date(2026, 11, 21)) == "2026-11-21 (Sat)"
        assert format_date(datetime(2026, 11, 20, 23, 30, tzinfo=UTC)) == "2026-11-21 (Sat)"
    assert format_date(None) == "" and format_datetime(None) == ""


def test_exact_won_in_both_languages(app_ctx):
    assert format_won(1_234_000) == "1,234,000원"
    assert format_won(0) == "0원"
    assert format_won(-5_000) == "-5,000원"
    assert format_won(None) == ""
    with force_locale("en"):
        assert format_won(1_234_000) == "₩1,234,000"
        assert format_won(-5_000) == "-₩5,000"


@pytest.mark.parametrize(
    ("amount", "korean", "english"),
    [
        (0, "0원", "₩0"),
        (9_999, "9,999원", "₩9,999"),
        (10_000, "1만원", "₩10K"),
        (5_600_000, "560만원", "₩5.6M"),
        (12_345_678, "1,234만원", "₩12.3M"),
        # Cut, not rounded: just under 1억 never reads as 1억.
        (99_999_999, "9,999만원", "₩99.9M"),
        (100_000_000, "1억원", "₩100M"),
        (123_400_000, "1억 2,340만원", "₩123.4M"),
        (999_999_999, "9억 9,999만원", "₩999.9M"),
        (1_000_000_000, "10억원", "₩1B"),
        (1_234_000_000, "12.3억원", "₩1.2B"),
        (45_600_000_000, "456억원", "₩45.6B"),
        (1_230_000_000_000, "1.2조원", "₩1.2T"),
        (-5_600_000, "-560만원", "-₩5.6M"),
        (-9_999, "-9,999원", "-₩9,999"),
    ],
)
def test_compact_won_at_the_unit_boundaries(app_ctx, amount, korean, english):
    assert format_won_short(amount) == korean
    with force_locale("en"):
        assert format_won_short(amount) == english


def test_compact_won_keeps_the_exact_amount_in_its_title(app_ctx):
    html = str(won_compact(123_400_000))
    assert html == '<span class="money money-short" title="123,400,000원">1억 2,340만원</span>'
    # Nothing to shorten: no title repeating the same text.
    assert str(won_compact(9_999)) == '<span class="money">9,999원</span>'
    assert str(won_compact(None)) == "" and format_won_short(None) == ""
    with force_locale("en"):
        assert 'title="₩123,400,000">₩123.4M<' in str(won_compact(123_400_000))


def test_dday_badge_marks_overdue_and_soon(app_ctx):
    overdue = str(dday_badge(date(2026, 11, 18), today=TODAY))
    assert "D+3" in overdue and "badge-danger" in overdue and "dday-overdue" in overdue
    assert "기한 지남" in overdue or "overdue" in overdue  # the word, for those who do not see red
    assert 'title="2026-11-18 (수)"' in overdue

    today = str(dday_badge(TODAY, today=TODAY))
    assert "D-Day" in today and "dday-soon" in today and "badge-warn" in today
    soon = str(dday_badge(date(2026, 11, 28), today=TODAY))
    assert "D-7" in soon and "dday-soon" in soon
    later = str(dday_badge(date(2026, 11, 29), today=TODAY))
    assert "D-8" in later and "dday-later" in later and "badge-warn" not in later and "danger" not in later
    assert str(dday_badge(None)) == ""
