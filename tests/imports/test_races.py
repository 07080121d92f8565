"""Two runs at the same moment on PostgreSQL: one job is applied once, and two jobs naming the same new BRN
leave exactly one firm (the second turns into an update)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.models import Role
from crm.extensions import db
from crm.firms.models import Firm
from crm.imports import operations, rows
from crm.imports.models import ImportJob, ImportRow, ImportStatus
from tests.factories import make_brn, make_consortium, make_user
from tests.imports.conftest import csv_bytes, upload
from tests.training.races import committed_postgres_app, run_together, slowed


@pytest.fixture
def race_app() -> Iterator[Flask]:
    yield from committed_postgres_app()


def _queued_jobs(race_app: Flask, brn: str, count: int) -> list[int]:
    with race_app.test_request_context():
        manager = make_user(Role.consortium_manager, consortium=make_consortium())
        ids = []
        for n in range(count):
            data = csv_bytes([["사업자등록번호", "기업명", "종업원수"], [brn, "(주)동시등록", str(10 + n)]])
            job = operations.upload_import(upload(data), manager)
            operations.preview(job, job.mapping, manager)
            operations.request_apply(job, manager)
            ids.append(job.id)
        db.session.commit()
        return ids


def test_a_job_started_twice_is_applied_once(race_app, monkeypatch):
    brn = make_brn()
    [job_id] = _queued_jobs(race_app, brn, 1)
    monkeypatch.setattr(operations, "_claim", slowed(operations._claim))
    results = run_together(
        race_app, lambda: operations.run_import(job_id), lambda: operations.run_import(job_id)
    )
    assert sorted(results) == ["applied", "skipped"], results
    with race_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Firm).where(Firm.brn == brn)) == 1
        assert db.session.get(ImportJob, job_id).progress_done == 1


def test_two_jobs_creating_the_same_brn_leave_one_firm(race_app, monkeypatch):
    brn = make_brn()
    first, second = _queued_jobs(race_app, brn, 2)
    # Both look the BRN up before either inserts it: without the unique key and the registry's savepoint the
    # second would add a duplicate.
    monkeypatch.setattr(operations, "load_lookup", slowed(rows.load_lookup))
    results = run_together(
        race_app, lambda: operations.run_import(first), lambda: operations.run_import(second)
    )
    assert results == ["applied", "applied"], results
    with race_app.app_context():
        [firm] = db.session.scalars(sa.select(Firm).where(Firm.brn == brn))
        assert firm.employees in (10, 11)
        jobs = [db.session.get(ImportJob, job_id) for job_id in (first, second)]
        assert all(job.status is ImportStatus.applied and job.count_failed == 0 for job in jobs)
        written = db.session.scalars(sa.select(ImportRow).where(ImportRow.job_id.in_((first, second))))
        assert sorted(row.after["firm_created"] for row in written) == [False, True]
