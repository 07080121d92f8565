"""Concurrency tests on real PostgreSQL: a throw-away database with committed rows, and workers in threads,
each with its own app context and so its own session and connection. Skipped without PostgreSQL, failed
under CRM_REQUIRE_SERVICES=1 (tests/services.py)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from config import TestConfig
from crm import create_app
from crm.extensions import db
from tests.services import require_service


def committed_postgres_app() -> Iterator[Flask]:
    """For a fixture: an app on a fresh PostgreSQL database whose rows are really committed (the usual
    per-test transaction would hide them from the other connections)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    require_service("PostgreSQL (TEST_DATABASE_URL)", base.startswith("postgresql"))
    name = f"axcrm_race_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    application = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=base.rsplit("/", 1)[0] + "/" + name)
    try:
        with application.app_context():
            upgrade()
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def run_together(application: Flask, *workers: Callable[[], Any]) -> list[Any]:
    """Starts every worker at the same moment, each in its own thread and transaction (committed when it
    returns, rolled back when it raises); returns each one's result or exception."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, work: Callable[[], Any]) -> None:
        with application.test_request_context():
            try:
                barrier.wait(timeout=10)
                results[index] = work()
                db.session.commit()
            except Exception as error:
                db.session.rollback()
                results[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return results


def slowed(function: Callable[..., Any], seconds: float = 0.3) -> Callable[..., Any]:
    """The function, answering only after a pause: widens the window between a check and the write after
    it, so without a lock both workers would pass the check."""
    import time

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        time.sleep(seconds)
        return result

    return wrapper
