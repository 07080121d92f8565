"""Import jobs (one uploaded file, its column mapping, dry-run counts and apply progress) and their rows
(the dry-run verdict per spreadsheet row, and what applying it changed, so it can be reverted)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User


class ImportStatus(LabelledEnum):
    uploaded = "uploaded"  # file stored, header read, mapping suggested
    previewed = "previewed"  # a dry run listed what would happen
    queued = "queued"  # apply requested; waiting for a worker (or the "run now" button)
    applying = "applying"  # a worker (or the request) is writing chunk by chunk
    applied = "applied"
    failed = "failed"  # stopped part-way; the chunks already written stay (resume or revert)
    reverted = "reverted"

    @classmethod
    def _titles(cls):
        return {
            cls.uploaded: _l("Uploaded"),
            cls.previewed: _l("Dry run done"),
            cls.queued: _l("Queued"),
            cls.applying: _l("Applying"),
            cls.applied: _l("Imported"),
            cls.failed: _l("Failed"),
            cls.reverted: _l("Reverted"),
        }


S = ImportStatus
TRANSITIONS: dict[ImportStatus, frozenset[ImportStatus]] = {
    S.uploaded: frozenset({S.previewed}),
    S.previewed: frozenset({S.previewed, S.queued}),  # a new mapping means a new dry run
    S.queued: frozenset({S.applying}),
    S.applying: frozenset({S.applying, S.applied, S.failed}),  # applying → applying: a stalled run resumed
    S.failed: frozenset({S.queued, S.reverted}),
    S.applied: frozenset({S.reverted}),
    S.reverted: frozenset(),
}
# While one of these, the job page refreshes itself to show the progress.
RUNNING = frozenset({S.queued, S.applying})


class RowAction(LabelledEnum):
    create = "create"
    update = "update"
    invalid = "invalid"
    skipped = "skipped"  # the firm is registered and the row changes nothing

    @classmethod
    def _titles(cls):
        return {
            cls.create: _l("New firm"),
            cls.update: _l("Update"),
            cls.invalid: _l("Invalid"),
            cls.skipped: _l("No change"),
        }


class ImportJob(TimestampMixin, db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (
        sa.CheckConstraint(
            "progress_done >= 0 AND progress_done <= progress_total", name="progress_in_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(sa.String(255))  # as uploaded, shown only
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)  # generated under instance/imports
    file_format: Mapped[str] = mapped_column(sa.String(10))  # xlsx | csv, by content
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    headers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    mapping: Mapped[dict[str, int]] = mapped_column(sa.JSON, default=dict)  # field key → column index
    row_count: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[ImportStatus] = mapped_column(
        enum_type(ImportStatus, "import_status"), default=ImportStatus.uploaded, server_default="uploaded"
    )
    # The language of whoever ran the dry run: the worker writes its messages in the same one.
    locale: Mapped[str] = mapped_column(sa.String(5), default="ko", server_default="ko")
    count_create: Mapped[int] = mapped_column(default=0, server_default="0")
    count_update: Mapped[int] = mapped_column(default=0, server_default="0")
    count_invalid: Mapped[int] = mapped_column(default=0, server_default="0")
    count_skipped: Mapped[int] = mapped_column(default=0, server_default="0")
    count_failed: Mapped[int] = mapped_column(default=0, server_default="0")  # rows refused while applying
    progress_done: Mapped[int] = mapped_column(default=0, server_default="0")
    progress_total: Mapped[int] = mapped_column(default=0, server_default="0")
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # The scope the job belongs to: managers see their consortium's jobs, coordinators their institution's.
    consortium_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consortia.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    applied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Touched after every chunk: a run whose heartbeat is old has died and may be resumed.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    error: Mapped[str] = mapped_column(sa.Text, default="")
    # What a revert kept, and why: [{"row": n, "firm_id": id, "reason": text}].
    revert_report: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])

    @property
    def percent(self) -> int:
        return 100 if not self.progress_total else round(100 * self.progress_done / self.progress_total)

    @property
    def to_apply(self) -> int:
        return self.count_create + self.count_update

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins every job; a manager its consortium's; a coordinator its institution's (the rows hold the
        contacts' personal data as uploaded); nobody else any."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return sa.true()
        if user.role is Role.consortium_manager and user.consortium_id:
            return cls.consortium_id == user.consortium_id
        if user.role is Role.coordinator and user.institution_id:
            return cls.institution_id == user.institution_id
        return sa.false()


class ImportRow(db.Model):
    """One data row of the file. `raw` holds the mapped cells as text; the verdict (action, reasons, notes,
    changes) is the dry run's. Applying fills firm_id / contact_id, `before` (the previous values of what it
    changed) and `after` (what it wrote), which is all a revert needs. The ids are plain columns, not foreign
    keys: the history stays readable after a revert deletes the firm."""

    __tablename__ = "import_rows"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "row_number", name="uq_import_rows_job_row"),
        sa.Index("ix_import_rows_job_action", "job_id", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row_number: Mapped[int]  # as the spreadsheet numbers it: the header is row 1
    action: Mapped[RowAction] = mapped_column(enum_type(RowAction, "import_row_action"))
    brn: Mapped[str | None] = mapped_column(sa.String(10), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    raw: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    reasons: Mapped[list[list[str]]] = mapped_column(sa.JSON, default=list)  # [[field key, message]]
    notes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    changes: Mapped[dict[str, list[Any]]] = mapped_column(sa.JSON, default=dict)  # {field: [old, new]}
    contact_action: Mapped[str | None] = mapped_column(sa.String(10))  # create | update | None
    # The firm is another consortium's: the row links it (company data only), its old values are not shown.
    links_firm: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    firm_id: Mapped[int | None] = mapped_column(index=True)
    contact_id: Mapped[int | None]
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    job: Mapped[ImportJob] = relationship()
