"""Importing firms and contacts: upload, preview (column mapping + dry run), apply in the background,
revert. Every write to firms and contacts goes through the firm registry's own operations, so validation,
linking and auditing are the registry's.

Upload, preview, request_apply and revert never commit (the view does). `run_import` is the worker's
entry point: it commits after every chunk so the progress bar moves and a crash loses one chunk at most;
a later run resumes with the rows not yet applied.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from crm.audit.operations import record_audit
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.core.effects import after_commit
from crm.core.enums import IllegalTransition, check_transition
from crm.core.exceptions import (
    Conflict,
    NotPermitted,
    OperationError,
    RuleViolation,
    TooLarge,
    ValidationFailed,
)
from crm.documents.storage import clean_filename
from crm.extensions import db
from crm.firms import operations as registry
from crm.firms import regions
from crm.firms.identifiers import format_corp_no
from crm.firms.models import Contact, Firm, FirmLink
from crm.imports import parsing, storage
from crm.imports.mapping import FIELDS, mapping_problems, suggest_mapping
from crm.imports.models import TRANSITIONS, ImportJob, ImportRow, ImportStatus, RowAction
from crm.imports.rows import (
    CONTACT_COLUMNS,
    FIRM_COLUMNS,
    Verdict,
    contact_data_of,
    evaluate,
    firm_data_of,
    load_lookup,
    row_brn,
    snapshot,
)

IMPORTER_ROLES = frozenset({Role.admin, Role.consortium_manager, Role.coordinator})
TASK_NAME = "imports.apply"
CHUNK_SIZE = 200
PREVIEW_BATCH = 500
# A run whose heartbeat is older than this has died (a killed worker, a closed browser): it may resume.
STALE_AFTER = timedelta(minutes=5)


# --- permissions -----------------------------------------------------------------------------------------


def may_import(actor: User) -> bool:
    """Staff attached to a consortium (the firms they create are linked to it), and admins."""
    if actor.role is Role.admin:
        return True
    return actor.role in IMPORTER_ROLES and actor.scope_consortium_id is not None


def _require_importer(actor: User) -> None:
    if not may_import(actor):
        raise NotPermitted(_l("Your account is not attached to a consortium, so it cannot import firms."))


def _require_visible(job: ImportJob, actor: User) -> None:
    _require_importer(actor)
    found = db.session.scalar(
        sa.select(ImportJob.id).where(ImportJob.id == job.id, ImportJob.visible_to(actor))
    )
    if found is None:
        raise NotPermitted()


def _move(job: ImportJob, target: ImportStatus, refusal: Any) -> None:
    try:
        check_transition(TRANSITIONS, job.status, target)
    except IllegalTransition:
        raise RuleViolation("wrong_status", refusal) from None
    job.status = target


# --- upload ----------------------------------------------------------------------------------------------


def upload_import(upload: FileStorage | None, actor: User) -> ImportJob:
    """Stores the file, reads its header and counts its rows (refusing what cannot be imported), and
    suggests a column mapping from the header names."""
    _require_importer(actor)
    if upload is None or not upload.filename:
        raise ValidationFailed({"file": [_l("Choose an XLSX or CSV file to upload.")]})
    limit = storage.max_bytes()
    size = f"{limit / 1024**2:g} MB" if limit >= 1024**2 else f"{limit / 1024:g} KB"
    too_large = _l("The file is larger than %(limit)s. Split it into smaller files.", limit=size)
    if upload.content_length and upload.content_length > limit:
        raise TooLarge(too_large, fields={"file": [too_large]})
    try:
        stored = storage.store(upload.stream, limit)
    except storage.FileTooLarge:
        raise TooLarge(too_large, fields={"file": [too_large]}) from None
    try:
        file_format = parsing.detect_format(stored.path)
        headers, row_count = parsing.read_header(stored.path, file_format)
    except parsing.TableError as error:
        raise ValidationFailed({"file": [error.message]}) from None
    job = ImportJob(
        filename=clean_filename(upload.filename, fallback="import"),
        stored_name=stored.stored_name,
        file_format=file_format,
        size=stored.size,
        sha256=stored.sha256,
        headers=headers,
        mapping=suggest_mapping(headers),
        row_count=row_count,
        status=ImportStatus.uploaded,
        created_by_id=actor.id,
        consortium_id=actor.scope_consortium_id,
        institution_id=actor.institution_id if actor.role is Role.coordinator else None,
    )
    db.session.add(job)
    db.session.flush()
    record_audit(
        "import.upload",
        job,
        {"filename": job.filename, "format": file_format, "rows": row_count, "size": stored.size},
        actor=actor,
    )
    return job


# --- preview (mapping + dry run) -------------------------------------------------------------------------


def _raw_rows(job: ImportJob, mapping: dict[str, int]) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        path = storage.path_of(job.stored_name)
        if not path.exists():
            raise FileNotFoundError(path)
    except FileNotFoundError:
        raise RuleViolation(
            "file_missing", _l("The uploaded file is no longer available. Upload it again.")
        ) from None
    try:
        for row in parsing.data_rows(path, job.file_format, len(job.headers)):
            yield row.number, {key: row.cells[index] for key, index in mapping.items()}
    except parsing.TableError as error:
        raise RuleViolation("unreadable", error.message) from None


def preview(job: ImportJob, mapping: dict[str, int | None], actor: User) -> ImportJob:
    """Saves the mapping and runs the dry run: every row's verdict (create, update with the changed fields,
    no change, or invalid with every reason) is stored with counts; nothing is written to firms. A BRN seen
    earlier in the file makes the later row invalid."""
    _require_visible(job, actor)
    chosen = {key: index for key, index in mapping.items() if index is not None}
    if problems := mapping_problems(mapping, len(job.headers)):
        raise ValidationFailed(problems)
    _move(
        job, ImportStatus.previewed, _l("This import was already applied; its mapping can no longer change.")
    )
    job.mapping = chosen
    job.locale = str(get_locale() or "ko")
    db.session.execute(sa.delete(ImportRow).where(ImportRow.job_id == job.id))

    counts = dict.fromkeys(RowAction, 0)
    seen: dict[str, int] = {}
    batch: list[tuple[int, dict[str, str]]] = []

    def flush_batch() -> None:
        lookup = load_lookup((row_brn(raw) for _, raw in batch), actor)
        records = []
        for number, raw in batch:
            brn = row_brn(raw)
            verdict = evaluate(raw, lookup, actor, duplicate_of=seen.get(brn) if brn else None)
            if brn and brn not in seen:
                seen[brn] = number
            counts[verdict.action] += 1
            records.append(_row_record(job, number, raw, verdict))
        if records:
            db.session.execute(sa.insert(ImportRow), records)
        batch.clear()

    for number, raw in _raw_rows(job, chosen):
        batch.append((number, raw))
        if len(batch) >= PREVIEW_BATCH:
            flush_batch()
    flush_batch()

    job.count_create = counts[RowAction.create]
    job.count_update = counts[RowAction.update]
    job.count_invalid = counts[RowAction.invalid]
    job.count_skipped = counts[RowAction.skipped]
    job.count_failed = 0
    job.progress_done = 0
    job.progress_total = job.count_create + job.count_update
    job.error = ""
    db.session.flush()
    record_audit(
        "import.preview",
        job,
        {"mapping": chosen, **{f"rows_{action.value}": n for action, n in counts.items()}},
        actor=actor,
    )
    return job


def _row_record(job: ImportJob, number: int, raw: dict[str, str], verdict: Verdict) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "row_number": number,
        "action": verdict.action,
        "brn": verdict.brn,
        "name": verdict.name,
        "raw": raw,
        "reasons": verdict.reasons,
        "notes": verdict.notes,
        "changes": verdict.changes,
        "contact_action": verdict.contact_action,
        "links_firm": verdict.link_needed,
        "firm_id": verdict.firm.id if verdict.firm is not None else None,
    }


# --- apply -----------------------------------------------------------------------------------------------


def request_apply(job: ImportJob, actor: User) -> ImportJob:
    """Queues the job for a worker (after commit). Nothing to create or update is refused. A failed job
    queued again resumes with the rows it had not applied."""
    _require_visible(job, actor)
    if job.status is ImportStatus.previewed and job.to_apply == 0:
        raise RuleViolation("nothing_to_apply", _l("The dry run found no firm to create or update."))
    _move(
        job, ImportStatus.queued, _l("Only an import whose dry run is done (or that failed) can be applied.")
    )
    job.applied_by_id = actor.id
    job.queued_at = utcnow()
    job.error = ""
    db.session.flush()
    record_audit("import.queue", job, {"rows": job.progress_total}, actor=actor)
    job_id = job.id
    after_commit(lambda: enqueue_apply(job_id))
    return job


def enqueue_apply(job_id: int) -> bool:
    """Hands the job to a worker. False when the broker cannot be reached: the job stays queued and its page
    offers to run it in the web process instead, so nothing is lost."""
    try:
        celery = current_app.extensions.get("celery")
        if celery is None:
            # The worker's own Celery app is the one place that knows the broker (Redis or the embedded one).
            from workers.celery_app import celery
        celery.send_task(TASK_NAME, args=[job_id], retry=False)
    except Exception:
        current_app.logger.warning("import %s not enqueued; it stays queued", job_id, exc_info=True)
        return False
    return True


def may_run_here(job: ImportJob, now: Any = None) -> bool:
    """The page's "run now" button: a queued job, or one whose run stopped sending signs of life."""
    if job.status is ImportStatus.queued:
        return True
    heartbeat = job.heartbeat_at or job.started_at
    return job.status is ImportStatus.applying and (
        heartbeat is None or heartbeat < (now or utcnow()) - STALE_AFTER
    )


def _claim(job_id: int) -> bool:
    """Takes the job with one conditional UPDATE, so a worker and the "run now" button (or a task delivered
    twice) never apply it at the same time."""
    now = utcnow()
    result = db.session.execute(
        sa.update(ImportJob)
        .where(
            ImportJob.id == job_id,
            sa.or_(
                ImportJob.status == ImportStatus.queued,
                sa.and_(
                    ImportJob.status == ImportStatus.applying,
                    sa.or_(ImportJob.heartbeat_at.is_(None), ImportJob.heartbeat_at < now - STALE_AFTER),
                ),
            ),
        )
        .values(
            status=ImportStatus.applying,
            started_at=sa.func.coalesce(ImportJob.started_at, now),
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def run_import(job_id: int, chunk_size: int = CHUNK_SIZE) -> str:
    """Applies a queued job chunk by chunk, committing each with the progress. Returns what happened:
    "applied", "failed", or "skipped" when the job is missing, finished or running elsewhere."""
    if db.session.get(ImportJob, job_id) is None or not _claim(job_id):
        return "skipped"
    job = db.session.get(ImportJob, job_id)
    db.session.refresh(job)
    actor = db.session.get(User, job.applied_by_id or job.created_by_id)
    with force_locale(job.locale or "ko"):
        try:
            while rows := _next_chunk(job, chunk_size):
                lookup = load_lookup((row.brn for row in rows), actor)
                for row in rows:
                    _apply_row(job, row, actor, lookup)
                job.progress_done = min(job.progress_done + len(rows), job.progress_total)
                job.heartbeat_at = utcnow()
                db.session.commit()
            check_transition(TRANSITIONS, job.status, ImportStatus.applied)
            job.status = ImportStatus.applied
            job.finished_at = utcnow()
            record_audit(
                "import.apply",
                job,
                {"rows": job.progress_total, "failed": job.count_failed, "by": actor.id},
                actor=actor,
            )
            db.session.commit()
        except sa.exc.OperationalError:
            # The database went away: let the task retry; the stale heartbeat lets a later run resume.
            db.session.rollback()
            raise
        except Exception as error:
            db.session.rollback()
            current_app.logger.exception("import %s failed", job_id)
            job = db.session.get(ImportJob, job_id)
            job.status = ImportStatus.failed
            job.error = f"{type(error).__name__}: {error}"[:2000]
            job.finished_at = utcnow()
            record_audit("import.fail", job, {"error": job.error}, actor=actor)
            db.session.commit()
            return "failed"
    return "applied"


def _next_chunk(job: ImportJob, size: int) -> list[ImportRow]:
    return list(
        db.session.scalars(
            sa.select(ImportRow)
            .where(
                ImportRow.job_id == job.id,
                ImportRow.action.in_((RowAction.create, RowAction.update)),
                ImportRow.applied_at.is_(None),
            )
            .order_by(ImportRow.row_number)
            .limit(size)
        )
    )


def _refusal(verdict: Verdict) -> ValidationFailed:
    fields: dict[str, list[Any]] = {}
    for key, message in verdict.reasons:
        fields.setdefault(key, []).append(message)
    return ValidationFailed(fields)


def _link_ids(firm_id: int) -> set[int]:
    return set(db.session.scalars(sa.select(FirmLink.id).where(FirmLink.firm_id == firm_id)))


def _apply_row(job: ImportJob, row: ImportRow, actor: User, lookup: Any) -> None:
    """One row in a savepoint: a row the registry refuses now (the data changed since the dry run) is
    recorded with its reasons and the others go on."""
    try:
        with db.session.begin_nested():
            verdict = evaluate(row.raw, lookup, actor)
            if verdict.action is RowAction.invalid:
                raise _refusal(verdict)
            before, after = _write(row.raw, verdict, actor)
    except OperationError as error:
        reasons = [[key, str(m)] for key, messages in error.fields.items() for m in messages]
        _refused(job, row, reasons or [["", str(error.message)]])
        return
    except (sa.exc.IntegrityError, sa.exc.DataError) as error:  # the savepoint undid the row, only the row
        current_app.logger.warning(
            "import %s row %s refused by the database: %s", job.id, row.row_number, error
        )
        _refused(job, row, [["", str(_l("The database refused this row; check its values."))]])
        return
    row.firm_id = after.get("firm_id")
    row.contact_id = after.get("contact_id")
    row.before, row.after = before, after
    row.applied_at = utcnow()


def _refused(job: ImportJob, row: ImportRow, reasons: list[list[str]]) -> None:
    row.reasons = reasons
    row.applied_at = utcnow()
    job.count_failed += 1


def _write(
    raw: dict[str, str], verdict: Verdict, actor: User, links_before: set[int] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Writes one verdict through the registry; ({previous values}, {written values}) for the revert."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {"link_ids": []}
    firm = verdict.firm
    data = verdict.firm_data
    if firm is None:
        started = utcnow()
        try:
            firm = registry.register_firm(data, actor)
        except Conflict as conflict:  # registered since the dry run: update it instead
            firm = db.session.get(Firm, conflict.existing_id)
            if firm is None:
                raise
            # The refusal may have linked the firm to the actor's consortium: that link is this row's too.
            links = set(
                db.session.scalars(
                    sa.select(FirmLink.id).where(FirmLink.firm_id == firm.id, FirmLink.created_at < started)
                )
            )
            verdict = evaluate(raw, load_lookup([firm.brn], actor), actor)
            if verdict.action is RowAction.invalid:
                raise _refusal(verdict) from None
            return _write(raw, verdict, actor, links_before=links)
        after.update(
            firm_created=True, firm=snapshot(firm, FIRM_COLUMNS), link_ids=sorted(_link_ids(firm.id))
        )
    else:
        links = _link_ids(firm.id) if links_before is None else links_before
        if verdict.link_needed:
            # Registering a taken BRN is refused, and links the firm to the actor's consortium (company data
            # only): the registry's own rule for staff who meet a firm another consortium registered.
            with contextlib.suppress(Conflict):
                registry.register_firm(data, actor)
        old = snapshot(firm, FIRM_COLUMNS)
        if verdict.changes:
            registry.update_firm(firm, data, actor)
        new = snapshot(firm, FIRM_COLUMNS)
        before["firm"] = {k: v for k, v in old.items() if new[k] != v}
        after.update(firm_created=False, firm={k: v for k, v in new.items() if old[k] != v})
        after["link_ids"] = sorted(_link_ids(firm.id) - links)
    after["firm_id"] = firm.id
    if verdict.contact_action == "create":
        contact = registry.add_contact(firm, verdict.contact_data, actor)
        after.update(contact_id=contact.id, contact_created=True, contact=snapshot(contact, CONTACT_COLUMNS))
    elif verdict.contact_action == "update":
        contact = verdict.contact
        old = snapshot(contact, CONTACT_COLUMNS)
        registry.update_contact(contact, verdict.contact_data, actor)
        new = snapshot(contact, CONTACT_COLUMNS)
        before["contact"] = {k: v for k, v in old.items() if new[k] != v}
        after.update(contact_id=contact.id, contact_created=False)
        after["contact"] = {k: v for k, v in new.items() if old[k] != v}
    return before, after


# --- revert ----------------------------------------------------------------------------------------------

_OWN_TABLES = frozenset({"firm_links", "contacts", "import_rows"})


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _referencing_columns(table_name: str) -> list[sa.Column]:
    """Every foreign-key column pointing at `table_name`, whichever feature owns the table, so a revert
    never deletes a row something else was built on (a table added later is covered too)."""
    return [
        fk.parent
        for table in db.metadata.sorted_tables
        if table.name not in _OWN_TABLES
        for fk in table.foreign_keys
        if fk.column.table.name == table_name
    ]


def _referenced(table_name: str, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for column in _referencing_columns(table_name):
        for chunk in _chunks(ids):
            found.update(db.session.scalars(sa.select(column).where(column.in_(chunk)).distinct()))
    return found


def _firms_in_use(firm_ids: list[int], own_contacts: set[int], own_links: set[int]) -> set[int]:
    """Firms created by the job that something else now refers to: any other table's row, or a contact or
    link the job did not create. Set-based: a few queries per table, none per firm."""
    used = _referenced("firms", firm_ids)
    for chunk in _chunks(firm_ids):
        for firm_id, contact_id in db.session.execute(
            sa.select(Contact.firm_id, Contact.id).where(Contact.firm_id.in_(chunk))
        ):
            if contact_id not in own_contacts:
                used.add(firm_id)
        for firm_id, link_id in db.session.execute(
            sa.select(FirmLink.firm_id, FirmLink.id).where(FirmLink.firm_id.in_(chunk))
        ):
            if link_id not in own_links:
                used.add(firm_id)
    return used


def _restorable(
    obj: Any, before: dict[str, Any], after: dict[str, Any], columns: tuple[str, ...]
) -> tuple[dict[str, Any], list[str]]:
    """({column: previous value} to restore, [columns changed by someone since]); a column only the import
    touched goes back, one edited since keeps the newer value."""
    current = snapshot(obj, columns)
    restore = {k: v for k, v in before.items() if k in current and current[k] == after.get(k)}
    changed = [k for k in before if k in current and current[k] != after.get(k)]
    return restore, changed


def _typed(column: str, value: Any) -> Any:
    if column == "founded_on" and value:
        return date.fromisoformat(value)
    if column in ("corp_no", "sido_code", "sigungu_code", "ksic_code") and value is None:
        return ""  # the registry's form data uses "" for none
    return value


class _Report:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []
        self.deleted_firms = self.deleted_contacts = self.restored = 0

    def keep(self, row: ImportRow, reason: Any) -> None:
        self.kept.append(
            {"row": row.row_number, "firm_id": row.firm_id, "name": row.name, "reason": str(reason)}
        )


def revert_import(job: ImportJob, actor: User, confirmed: bool) -> ImportJob:
    """Undoes what the job wrote, newest row first: firms it created are deleted unless anything else refers
    to them or they were edited since; fields it updated go back to their previous values unless edited
    since; contacts it created are removed, contacts it changed restored; links it added removed. What is
    kept is listed with the reason. The registry's operations do the writing, so each change is audited."""
    _require_visible(job, actor)
    if not confirmed:
        raise ValidationFailed(
            {"confirm": [_l("Tick the box to confirm that the import is to be reverted.")]}
        )
    _move(job, ImportStatus.reverted, _l("Only an applied (or failed) import can be reverted."))
    rows = list(
        db.session.scalars(
            sa.select(ImportRow)
            .where(ImportRow.job_id == job.id, ImportRow.after.is_not(None))
            .order_by(ImportRow.row_number.desc())
        )
    )
    created = sorted({row.firm_id for row in rows if row.after.get("firm_created") and row.firm_id})
    own_contacts = {row.contact_id for row in rows if row.after.get("contact_created") and row.contact_id}
    own_links = {link for row in rows for link in row.after.get("link_ids") or []}
    in_use = _firms_in_use(created, own_contacts, own_links)
    contacts_in_use = _referenced("contacts", sorted(own_contacts))
    report = _Report()
    for row in rows:
        _revert_row(row, actor, report, in_use, contacts_in_use)
    job.reverted_at = utcnow()
    job.reverted_by_id = actor.id
    job.revert_report = report.kept
    db.session.flush()
    record_audit(
        "import.revert",
        job,
        {
            "firms_deleted": report.deleted_firms,
            "contacts_deleted": report.deleted_contacts,
            "rows_restored": report.restored,
            "kept": len(report.kept),
        },
        actor=actor,
    )
    return job


def _revert_row(
    row: ImportRow, actor: User, report: _Report, in_use: set[int], contacts_in_use: set[int]
) -> None:
    after, before = row.after or {}, row.before or {}
    firm = db.session.get(Firm, row.firm_id) if row.firm_id else None
    if firm is None:
        report.keep(row, _l("The firm was deleted since the import."))
        return
    contact_kept = False
    if row.contact_id and (contact := db.session.get(Contact, row.contact_id)) is not None:
        contact_kept = not _revert_contact(row, contact, actor, report, contacts_in_use)
    if after.get("firm_created"):
        if firm.id in in_use or contact_kept:
            report.keep(
                row, _l("Kept: other records (applications, engagements, contacts …) refer to this firm.")
            )
        elif snapshot(firm, FIRM_COLUMNS) != after.get("firm"):
            report.keep(row, _l("Kept: the firm was edited after the import."))
        else:
            _delete_firm(firm, row, actor)
            report.deleted_firms += 1
        return
    restore, changed = _restorable(firm, before.get("firm") or {}, after.get("firm") or {}, FIRM_COLUMNS)
    restore.pop("name_initials", None)  # follows the name
    if restore:
        data = firm_data_of(firm)
        for column, value in restore.items():
            setattr(data, column, _typed(column, value))
        try:
            registry.update_firm(firm, data, actor)
            report.restored += 1
        except OperationError as error:
            report.keep(row, _l("Not restored: %(problem)s", problem=str(error.message)))
    changed = [column for column in changed if column != "name_initials"]
    if changed:
        report.keep(
            row, _l("Edited after the import, so left as they are: %(fields)s", fields=", ".join(changed))
        )
    for link_id in after.get("link_ids") or []:
        if (link := db.session.get(FirmLink, link_id)) is not None:
            record_audit(
                "firm.unlink", firm, {"link_id": link_id, "consortium_id": link.consortium_id}, actor=actor
            )
            db.session.delete(link)
    db.session.flush()


def _revert_contact(
    row: ImportRow, contact: Contact, actor: User, report: _Report, contacts_in_use: set[int]
) -> bool:
    """True when the contact is gone or restored; False when it was kept (reported)."""
    after, before = row.after or {}, row.before or {}
    try:
        if after.get("contact_created"):
            if contact.id in contacts_in_use:
                report.keep(row, _l("Contact kept: messages were sent to it."))
                return False
            if snapshot(contact, CONTACT_COLUMNS) != after.get("contact"):
                report.keep(row, _l("Contact kept: it was edited after the import."))
                return False
            registry.delete_contact(contact, actor)
            report.deleted_contacts += 1
            return True
        restore, changed = _restorable(
            contact, before.get("contact") or {}, after.get("contact") or {}, CONTACT_COLUMNS
        )
        if restore:
            data = contact_data_of(contact)
            for column, value in restore.items():
                setattr(data, column, value or "")
            registry.update_contact(contact, data, actor)
        if changed:
            report.keep(row, _l("Contact edited after the import, so left as it is."))
        return True
    except OperationError as error:
        report.keep(row, _l("Contact not reverted: %(problem)s", problem=str(error.message)))
        return False


def _delete_firm(firm: Firm, row: ImportRow, actor: User) -> None:
    """Deletes a firm the job created (its own links go with it; nothing else refers to it)."""
    record_audit(
        "firm.delete", firm, {"brn": firm.brn, "name": firm.name, "import_job_id": row.job_id}, actor=actor
    )
    firm_id = firm.id
    db.session.execute(sa.delete(FirmLink).where(FirmLink.firm_id == firm_id))
    db.session.expunge(firm)
    db.session.execute(sa.delete(Firm).where(Firm.id == firm_id))


# --- pages -----------------------------------------------------------------------------------------------


def rows_of(job: ImportJob, action: RowAction | None = None) -> sa.Select:
    statement = sa.select(ImportRow).where(ImportRow.job_id == job.id)
    if action is not None:
        statement = statement.where(ImportRow.action == action)
    return statement.order_by(ImportRow.row_number)


def field_labels() -> dict[str, str]:
    return {f.key: str(f.label) for f in FIELDS}


# Firm columns shown under the import field they come from; the derived ones are not shown.
_COLUMN_FIELDS = {"sido_code": "sido", "sigungu_code": "sigungu"}
_DERIVED = frozenset({"name_initials", "ksic_revision"})


def _shown(column: str, value: Any) -> Any:
    if value is None or value == "":
        return "—"
    if column == "sido_code":
        return regions.sido_name(value) or value
    if column == "sigungu_code":
        return regions.sigungu_full_name(value) or value
    if column == "corp_no":
        return format_corp_no(value)
    return value


def describe_changes(changes: dict[str, list[Any]] | None) -> list[tuple[str, Any, Any]]:
    """[(field label, old, new)] of a row's changes as people read them: region names, not codes."""
    labels = field_labels()
    return [
        (labels.get(_COLUMN_FIELDS.get(column, column), column), _shown(column, old), _shown(column, new))
        for column, (old, new) in (changes or {}).items()
        if column not in _DERIVED
    ]
