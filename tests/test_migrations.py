"""The migrations build the schema the models describe, and come back down cleanly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.services import require_service


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL", "")
    require_service("PostgreSQL (TEST_DATABASE_URL)", base.startswith("postgresql"))
    name = f"axcrm_migrate_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def empty_sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'migrate.sqlite3'}"


def _round_trip(url: str) -> None:
    application = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    with application.app_context():
        upgrade()
        tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables
        with db.engine.connect() as connection:
            drift = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert drift == [], f"models and migrations differ: {drift}"
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()  # and back up again: downgrades leave nothing behind that blocks a re-run
        assert set(db.metadata.tables) <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_postgres_migrates_to_head_and_back_to_base(empty_postgres):
    _round_trip(empty_postgres)


def test_sqlite_migrates_to_head_and_back_to_base(empty_sqlite):
    _round_trip(empty_sqlite)
