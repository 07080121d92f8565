"""The demo import: a dry run waiting to be applied, with every kind of row."""

from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa

from crm.demo.imports import seed_imports
from crm.extensions import db
from crm.imports import operations
from crm.imports.models import ImportJob, ImportStatus


def test_seed_imports_leaves_a_previewed_job_that_applies(world):
    seed_imports(random.Random(7), date(2026, 6, 1))
    [job] = db.session.scalars(sa.select(ImportJob))
    assert job.status is ImportStatus.previewed and job.created_by_id == world["manager"].id
    assert (job.count_create, job.count_update, job.count_invalid) == (3, 1, 3)
    operations.request_apply(job, world["manager"])
    assert operations.run_import(job.id) == "applied"
