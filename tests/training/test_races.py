"""Two registrations for a session's last seat at the same moment: exactly one gets it (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.models import User
from crm.core.exceptions import RuleViolation
from crm.extensions import db
from crm.training import operations
from crm.training.models import TrainingRegistration, TrainingSession
from crm.training.operations import RegistrationData
from tests.factories import make_training_registration, make_training_session
from tests.training.helpers import make_world
from tests.training.races import committed_postgres_app, run_together, slowed


@pytest.fixture
def race_app() -> Iterator[Flask]:
    yield from committed_postgres_app()


def test_two_registrations_for_the_last_seat_one_succeeds(race_app, monkeypatch):
    with race_app.app_context():
        world = make_world()
        session = make_training_session(world.programme, held_on=world.today + timedelta(days=5), capacity=2)
        make_training_registration(session, email="first@example.com")
        db.session.commit()
        session_id, manager_id, coordinator_id = session.id, world.manager.id, world.coordinator.id

    monkeypatch.setattr(operations, "registered_count", slowed(operations.registered_count))

    def register(actor_id: int, email: str):
        def work():
            session = db.session.get(TrainingSession, session_id)
            actor = db.session.get(User, actor_id)
            return operations.register(session, RegistrationData(name=email, email=email), actor).id

        return work

    results = run_together(
        race_app, register(manager_id, "second@example.com"), register(coordinator_id, "third@example.com")
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1, results
    assert isinstance(refused[0], RuleViolation) and refused[0].code == "session_full"
    with race_app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count(TrainingRegistration.id)).where(
                TrainingRegistration.session_id == session_id
            )
        )
        assert count == 2
