"""The access log is insert-only in PostgreSQL itself (trigger from migrations/extra/): the application's
own UPDATE, DELETE and TRUNCATE fail; INSERT works. Skipped on SQLite."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from crm.audit.models import AccessLog
from crm.audit.operations import log_personal_data_access
from crm.auth.models import Role, User
from crm.extensions import db
from tests.factories import make_contact, make_user

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"), reason="PostgreSQL trigger"
)


@pytest.fixture
def entry(app_ctx):
    staff = make_user(Role.consortium_manager)
    row = log_personal_data_access("view_contact", make_contact(), purpose="firm page", actor=staff)
    db.session.flush()
    return row


def test_insert_works(entry):
    count = sa.select(sa.func.count()).select_from(AccessLog).where(AccessLog.id == entry.id)
    assert db.session.scalar(count) == 1


def test_update_through_the_session_fails(entry):
    with pytest.raises(DBAPIError, match="insert-only"), db.session.begin_nested():
        entry.purpose = "rewritten"
        db.session.flush()


def test_bulk_update_and_delete_fail(entry):
    with pytest.raises(DBAPIError, match="insert-only"), db.session.begin_nested():
        db.session.execute(sa.update(AccessLog).values(purpose="x"))
    with pytest.raises(DBAPIError, match="insert-only"), db.session.begin_nested():
        db.session.delete(entry)
        db.session.flush()


def test_truncate_fails(entry):
    with pytest.raises(DBAPIError, match="insert-only"), db.session.begin_nested():
        db.session.execute(sa.text("TRUNCATE access_logs"))


def test_committed_cleanup_still_empties_the_table(committed):
    """The `committed` fixture's TRUNCATE runs as a replica session, which skips the trigger; its teardown
    would fail here otherwise."""
    with committed.begin() as connection:
        user_id = connection.execute(
            sa.insert(User)
            .values(email="cleanup@example.com", name="x", password_hash="x", role=Role.admin)
            .returning(User.id)
        ).scalar_one()
        connection.execute(
            sa.insert(AccessLog).values(
                actor_id=user_id, action="view", subject_type="users", subject_id=user_id, purpose=""
            )
        )
