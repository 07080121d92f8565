"""Dry run, apply (in-process, chunked, resumable), upsert without duplicates, and revert."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.extensions import db
from crm.firms.models import Contact, Firm, FirmLink
from crm.imports import operations
from crm.imports.models import ImportJob, ImportRow, ImportStatus, RowAction
from crm.imports.operations import enqueue_apply as real_enqueue_apply  # before the fixture replaces it
from tests.factories import make_engagement, make_programme
from tests.imports.conftest import csv_bytes, sample_rows, upload


def _rows(job: ImportJob) -> dict[int, ImportRow]:
    db.session.expire_all()
    return {
        row.row_number: row
        for row in db.session.scalars(sa.select(ImportRow).where(ImportRow.job_id == job.id))
    }


def _firms(brn: str) -> list[Firm]:
    return list(db.session.scalars(sa.select(Firm).where(Firm.brn == brn)))


def _previewed(world: dict, actor_key: str = "manager", rows: list[list[str]] | None = None) -> ImportJob:
    actor = world[actor_key]
    job = operations.upload_import(upload(csv_bytes(rows or sample_rows(world))), actor)
    return operations.preview(job, job.mapping, actor)


def _applied(world: dict, actor_key: str = "manager", **kw) -> ImportJob:
    job = _previewed(world, actor_key)
    operations.request_apply(job, world[actor_key])
    assert operations.run_import(job.id, **kw) == "applied"
    db.session.expire_all()
    return db.session.get(ImportJob, job.id)


def test_upload_reads_the_header_counts_rows_and_suggests_the_mapping(world, english):
    job = operations.upload_import(upload(csv_bytes(sample_rows(world))), world["manager"])
    assert job.status is ImportStatus.uploaded and job.file_format == "csv"
    assert job.row_count == 6  # the blank row is not counted
    assert job.consortium_id == world["ulsan"].id and job.institution_id is None
    assert job.mapping == {
        "brn": 0,
        "name": 1,
        "ceo_name": 2,
        "address": 3,
        "sido": 4,
        "sigungu": 5,
        "ksic_code": 6,
        "employees": 7,
        "contact_name": 8,
        "contact_email": 9,
        "contact_phone": 10,
    }


def test_dry_run_lists_create_update_and_invalid_with_every_reason_and_writes_no_firm(world, english):
    firms_before = db.session.scalar(sa.select(sa.func.count()).select_from(Firm))
    job = _previewed(world)
    assert job.status is ImportStatus.previewed
    assert (job.count_create, job.count_update, job.count_invalid, job.count_skipped) == (1, 1, 4, 0)
    assert job.progress_total == 2
    rows = _rows(job)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7]
    assert rows[2].action is RowAction.create and rows[2].contact_action == "create"
    assert rows[2].changes["sigungu_code"] == [None, "31140"] and rows[2].changes["employees"] == [None, 12]
    assert rows[3].action is RowAction.update and rows[3].firm_id == world["existing"].id
    assert rows[3].changes == {"employees": [25, 30]}
    assert rows[4].action is RowAction.invalid
    assert rows[4].reasons == [
        ["brn", "This business registration number is not valid (the check digit does not match)."]
    ]
    assert rows[5].reasons == [["name", "Enter the firm's name."]]
    assert rows[6].reasons == [["sido", "Unknown 시도 “화성”."]]
    assert rows[7].reasons == [["brn", "Same business registration number as row 2."]]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Firm)) == firms_before
    assert world["existing"].employees == 25


def test_reasons_for_missing_brn_unknown_sigungu_bad_numbers_and_contact(world, english):
    b = world["brns"]
    rows = [
        ["사업자등록번호", "기업명", "시도", "시군구", "종업원수", "설립일", "이메일"],
        ["", "(주)번호없음", "", "", "", "", ""],
        [b["new"], "(주)구오류", "울산", "없는구", "열두명", "2015-13-45", "not-an-email"],
        [b["other"], "(주)구만", "", "중구", "", "", ""],
    ]
    job = _previewed(world, rows=rows)
    found = _rows(job)
    assert found[2].reasons == [["brn", "The business registration number is missing."]]
    assert found[3].reasons == [
        ["employees", "Enter the number of employees as a whole number, e.g. 25."],
        ["founded_on", "Enter the founding date as YYYY-MM-DD, e.g. 2015-03-02."],
        ["sigungu", "Unknown 시군구 “없는구” in 울산광역시."],
        ["contact_name", "Enter the contact's name."],
        ["contact_email", "Enter a valid e-mail address."],
    ]
    assert found[4].reasons == [["sigungu", "“중구” exists in several 시도: fill in the 시도 column too."]]


def test_text_longer_than_the_registry_keeps_is_a_reason(world, english):
    rows = [["BRN", "Name", "Contact name", "Phone"], [world["brns"]["new"], "가" * 201, "박담당", "0" * 31]]
    [row] = _rows(_previewed(world, rows=rows)).values()
    assert row.reasons == [
        ["name", "Too long: at most 200 characters."],
        ["contact_phone", "Too long: at most 30 characters."],
    ]


def test_mapping_needs_the_brn_column_and_each_column_once(world, english):
    job = operations.upload_import(upload(csv_bytes(sample_rows(world))), world["manager"])
    with pytest.raises(ValidationFailed) as refused:
        operations.preview(job, {"brn": None, "name": 1, "ceo_name": 1}, world["manager"])
    assert "brn" in refused.value.fields
    assert [str(m) for m in refused.value.fields["ceo_name"]] == [
        "This column is already used for Firm name."
    ]
    assert job.status is ImportStatus.uploaded


def test_apply_creates_and_updates_links_and_audits(world, enqueued):
    job = _previewed(world)
    operations.request_apply(job, world["manager"])
    assert job.status is ImportStatus.queued and job.applied_by_id == world["manager"].id
    db.session.commit()
    assert enqueued == [job.id]  # handed to a worker after the commit

    assert operations.run_import(job.id, chunk_size=1) == "applied"
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status is ImportStatus.applied and (job.progress_done, job.progress_total) == (2, 2)
    assert job.percent == 100 and job.count_failed == 0

    [created] = _firms(world["brns"]["new"])
    assert (created.name, created.ceo_name, created.sido_code, created.sigungu_code) == (
        "(주)새기업",
        "이대표",
        "31",
        "31140",
    )
    assert (created.ksic_code, created.ksic_revision, created.employees) == ("26110", 11, 12)
    assert created.registered_by_id == world["manager"].id
    [link] = db.session.scalars(sa.select(FirmLink).where(FirmLink.firm_id == created.id))
    assert link.consortium_id == world["ulsan"].id and link.grants_contacts
    [contact] = created.contacts
    assert (contact.name, contact.email, contact.phone, contact.is_primary) == (
        "박담당",
        "park@example.com",
        "010-1111-2222",
        True,
    )
    assert world["existing"].employees == 30

    rows = _rows(job)
    assert rows[2].firm_id == created.id and rows[2].after["firm_created"] is True
    assert rows[3].before == {"firm": {"employees": 25}} and rows[3].after["firm"] == {"employees": 30}
    assert all(rows[n].applied_at is None for n in (4, 5, 6, 7))
    actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"import.upload", "import.preview", "import.queue", "import.apply", "firm.create"} <= actions
    assert {"firm.update", "contact.create", "firm.link"} <= actions


def test_the_same_file_again_changes_nothing_and_never_duplicates(world):
    _applied(world)
    again = _previewed(world)
    assert (again.count_create, again.count_update, again.count_skipped, again.count_invalid) == (0, 0, 2, 4)
    with pytest.raises(RuleViolation) as refused:
        operations.request_apply(again, world["manager"])
    assert refused.value.code == "nothing_to_apply"
    assert len(_firms(world["brns"]["new"])) == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Contact).join(Firm).where(Firm.brn == world["brns"]["new"])
        )
        == 1
    )


def test_a_contact_is_matched_by_email_and_updated_not_added(world):
    existing = world["existing"]
    rows = [
        ["BRN", "Contact name", "E-mail", "Phone"],
        [existing.brn, "김담당", "KIM@example.com", "052-000-1234"],
    ]
    job = _previewed(world, rows=rows)
    assert job.count_update == 1 and _rows(job)[2].contact_action == "update"
    operations.request_apply(job, world["manager"])
    operations.run_import(job.id)
    db.session.expire_all()
    [contact] = db.session.get(Firm, existing.id).contacts
    assert contact.phone == "052-000-1234" and contact.consent_privacy_at is not None  # consent kept


def test_contacts_of_another_institutions_firm_are_left_out(world, english):
    existing = world["existing"]
    rows = [["BRN", "Employees", "Contact name"], [existing.brn, "31", "몰래추가"]]
    job = _previewed(world, "other_coordinator", rows=rows)
    [row] = _rows(job).values()
    assert row.action is RowAction.update and row.contact_action is None
    assert row.notes == [
        "The contact columns are left out: only the institutions working with this firm may see and change "
        "its contacts."
    ]


def test_a_firm_of_another_consortium_is_linked_company_data_only(world, english):
    existing = world["existing"]
    rows = [["BRN", "Employees"], [existing.brn, "40"]]
    job = _previewed(world, "gangwon_manager", rows=rows)
    [row] = _rows(job).values()
    assert row.action is RowAction.update and row.links_firm
    assert row.changes == {"employees": [None, 40]}  # its current value is not shown before the link
    operations.request_apply(job, world["gangwon_manager"])
    assert operations.run_import(job.id) == "applied"
    db.session.expire_all()
    link = db.session.scalar(
        sa.select(FirmLink).where(
            FirmLink.firm_id == existing.id, FirmLink.consortium_id == world["gangwon"].id
        )
    )
    assert link is not None and link.grants_contacts is False
    assert db.session.get(Firm, existing.id).employees == 40


def test_progress_is_committed_per_chunk_and_a_failed_run_resumes(world, monkeypatch):
    job = _previewed(world)
    operations.request_apply(job, world["manager"])
    real_write = operations._write
    calls = {"n": 0}

    def crash_on_second_row(raw, verdict, actor):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_write(raw, verdict, actor)

    monkeypatch.setattr(operations, "_write", crash_on_second_row)
    assert operations.run_import(job.id, chunk_size=1) == "failed"
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status is ImportStatus.failed and "disk full" in job.error
    assert (job.progress_done, job.progress_total) == (1, 2)  # the first chunk stayed
    assert len(_firms(world["brns"]["new"])) == 1 and world["existing"].employees == 25

    monkeypatch.setattr(operations, "_write", real_write)
    operations.request_apply(job, world["manager"])
    assert operations.run_import(job.id, chunk_size=1) == "applied"
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert (job.status, job.progress_done) == (ImportStatus.applied, 2)
    assert (
        len(_firms(world["brns"]["new"])) == 1 and db.session.get(Firm, world["existing"].id).employees == 30
    )


def test_a_job_is_claimed_once(world):
    job = _previewed(world)
    assert operations.run_import(job.id) == "skipped"  # not queued yet
    operations.request_apply(job, world["manager"])
    assert operations.run_import(job.id) == "applied"
    assert operations.run_import(job.id) == "skipped"  # a task delivered twice
    assert operations.may_run_here(db.session.get(ImportJob, job.id)) is False


def test_revert_deletes_created_firms_and_restores_updated_fields(world):
    job = _applied(world)
    new_id = _firms(world["brns"]["new"])[0].id
    operations.revert_import(job, world["manager"], confirmed=True)
    db.session.expire_all()
    assert job.status is ImportStatus.reverted and job.revert_report == []
    assert _firms(world["brns"]["new"]) == []
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.firm_id == new_id))
        == 0
    )
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(FirmLink).where(FirmLink.firm_id == new_id))
        == 0
    )
    assert db.session.get(Firm, world["existing"].id).employees == 25
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "import.revert"))
    assert event.changes["firms_deleted"] == 1 and event.changes["rows_restored"] == 1


def test_revert_keeps_what_others_use_or_edited_and_says_why(world, english):
    job = _applied(world)
    [created] = _firms(world["brns"]["new"])
    make_engagement(make_programme(), created)
    db.session.get(Firm, world["existing"].id).employees = 99
    db.session.flush()
    operations.revert_import(job, world["manager"], confirmed=True)
    db.session.expire_all()
    assert len(_firms(world["brns"]["new"])) == 1
    assert db.session.get(Firm, world["existing"].id).employees == 99
    reasons = {item["row"]: item["reason"] for item in job.revert_report}
    assert reasons[2] == "Kept: other records (applications, engagements, contacts …) refer to this firm."
    assert reasons[3] == "Edited after the import, so left as they are: employees"


def test_revert_needs_confirmation_and_an_applied_job(world):
    job = _previewed(world)
    with pytest.raises(RuleViolation):
        operations.revert_import(job, world["manager"], confirmed=True)
    job = _applied(world)
    with pytest.raises(ValidationFailed) as refused:
        operations.revert_import(job, world["manager"], confirmed=False)
    assert "confirm" in refused.value.fields and job.status is ImportStatus.applied


def test_coordinators_jobs_belong_to_their_institution(world):
    job = operations.upload_import(upload(csv_bytes(sample_rows(world))), world["coordinator"])
    assert job.institution_id == world["institution"].id
    visible = lambda user: db.session.scalar(  # noqa: E731
        sa.select(ImportJob.id).where(ImportJob.id == job.id, ImportJob.visible_to(user))
    )
    assert visible(world["manager"]) == job.id and visible(world["coordinator"]) == job.id
    assert visible(world["other_coordinator"]) is None and visible(world["gangwon_manager"]) is None
    with pytest.raises(NotPermitted):
        operations.preview(job, job.mapping, world["other_coordinator"])


def test_the_dry_run_query_count_does_not_grow_with_the_rows(world):
    from tests.factories import make_brn

    def queries_for(n: int) -> int:
        rows = [["사업자등록번호", "기업명"]] + [[make_brn(), f"(주)기업{i}"] for i in range(n)]
        job = operations.upload_import(upload(csv_bytes(rows)), world["manager"])
        count = {"n": 0}

        def counter(*args):
            count["n"] += 1

        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            operations.preview(job, job.mapping, world["manager"])
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)
        assert job.count_create == n
        return count["n"]

    small, large = queries_for(3), queries_for(30)
    assert small == large and small > 0


class _Broker:
    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.sent: list[tuple[str, list[int]]] = []

    def send_task(self, name: str, args: list[int], retry: bool) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.append((name, args))


def test_enqueue_sends_the_task_and_a_broker_outage_leaves_the_job_queued(app_ctx, monkeypatch):
    from flask import current_app

    broker = _Broker()
    monkeypatch.setitem(current_app.extensions, "celery", broker)
    assert real_enqueue_apply(5) is True and broker.sent == [("imports.apply", [5])]
    broker.down = True
    assert real_enqueue_apply(6) is False  # logged, never raised: the request that queued it succeeded


def test_the_celery_task_runs_the_job(world):
    from workers.tasks import apply_import

    job = _previewed(world)
    operations.request_apply(job, world["manager"])
    assert apply_import.run(job.id) == "applied"
    assert apply_import.run(job.id) == "skipped"
