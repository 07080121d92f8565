from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.core.effects import after_commit
from crm.core.formatting import format_date, format_won
from crm.core.time import d_day_label, kst_to_utc, today_kst
from crm.core.urls import safe_next
from crm.extensions import db


def test_kst_day_starts_nine_hours_before_utc_midnight():
    assert today_kst(datetime(2026, 11, 21, 14, 59, tzinfo=UTC)) == date(2026, 11, 21)
    assert today_kst(datetime(2026, 11, 21, 15, 0, tzinfo=UTC)) == date(2026, 11, 22)
    assert kst_to_utc(datetime(2026, 3, 2, 9, 0)) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "label"),
    [(date(2026, 11, 28), "D-7"), (date(2026, 11, 21), "D-Day"), (date(2026, 11, 18), "D+3")],
)
def test_d_day_labels(due, label):
    assert d_day_label(due, today=date(2026, 11, 21)) == label


def test_dates_show_the_korean_weekday_and_money_in_won(app_ctx):
    assert format_date(date(2026, 11, 21)) == "2026-11-21 (토)"
    assert format_won(1_234_000) == "1,234,000원"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:x",
        "evil",
        "/ok\r\nSet-Cookie: x",
    ],
)
def test_safe_next_refuses_anything_but_a_local_path(target):
    assert safe_next(target, "/dashboard") == "/dashboard"


def test_safe_next_keeps_a_local_path_with_query():
    assert safe_next("/firms?q=%EC%9A%B8", "/") == "/firms?q=%EC%9A%B8"


def test_side_effects_run_only_after_commit(app_ctx):
    ran: list[str] = []
    after_commit(lambda: ran.append("committed"))
    db.session.rollback()
    assert ran == []
    after_commit(lambda: ran.append("committed"))
    assert ran == []
    db.session.commit()
    assert ran == ["committed"]
