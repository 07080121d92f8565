"""Two browsers of one user making a feed at the same moment on PostgreSQL: both succeed one after the
other, and exactly one feed stays live."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.models import Role, User
from crm.calendar import operations
from crm.calendar.models import CalendarToken
from crm.extensions import db
from tests.factories import make_calendar_token, make_user
from tests.training.races import committed_postgres_app, run_together, slowed


@pytest.fixture
def race_app() -> Iterator[Flask]:
    yield from committed_postgres_app()


def test_two_creates_at_once_leave_one_live_feed(race_app, monkeypatch):
    with race_app.app_context():
        user = make_user(Role.coordinator)
        make_calendar_token(user)
        db.session.commit()
        user_id = user.id

    # Without the lock both would find the same live feed, revoke it and insert: two live feeds (or, with
    # the partial unique index, an IntegrityError for one browser).
    monkeypatch.setattr(operations, "live_feed", slowed(operations.live_feed))

    def create():
        user = db.session.get(User, user_id)
        return operations.create_feed(user, user, replace=True)[1]

    results = run_together(race_app, create, create)
    assert all(isinstance(secret, str) for secret in results), results
    with race_app.app_context():
        tokens = list(db.session.scalars(sa.select(CalendarToken).where(CalendarToken.user_id == user_id)))
        assert len(tokens) == 3
        assert sum(token.revoked_at is None for token in tokens) == 1
        live = [operations.token_for_secret(secret) is not None for secret in results]
        assert sorted(live) == [False, True]
