"""Many notices and their deliveries in a few statements, for jobs that queue thousands at once (the reminder
sweep). The rows are the ones `outbox.queue_notice` writes: a scheduled Notice, one queued Delivery per
address (each address once per notice), the same deterministic Message-ID. Never commits.

On PostgreSQL, rows that cannot conflict (their ids taken from the sequence first) go in by COPY, which
writes a page of rows at a time; rows that may conflict by one `INSERT … SELECT … FROM unnest(<one array per
column>) ON CONFLICT …`, a statement with a handful of parameters whatever the number of rows. SQLite takes
the rows as an executemany. Either way the columns left out get the model's Python-side defaults, as an ORM
insert would give them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Notice, NoticeKind, NoticeStatus
from crm.notices.outbox import Recipient, message_id_for


@dataclass(slots=True)
class DeliveryDraft:
    """One recipient and the subject and body rendered for them (empty: the notice's own)."""

    recipient: Recipient
    subject: str = ""
    body: str = ""


@dataclass(slots=True)
class NoticeDraft:
    kind: NoticeKind
    subject: str
    body: str
    firm_id: int | None = None
    subject_type: str | None = None  # what the notice is about, as queue_notice's `about`: ("milestones", 7)
    subject_id: int | None = None
    audience: dict[str, Any] = field(default_factory=dict)
    channel: str = "email"
    deliveries: list[DeliveryDraft] = field(default_factory=list)


def insert_notices(drafts: Sequence[NoticeDraft], now: datetime) -> list[int]:
    """Writes the notices (not their deliveries) and returns their ids in the order of `drafts`."""
    if not drafts:
        return []
    rows = [
        {
            "kind": draft.kind,
            "channel": draft.channel,
            "subject": draft.subject,
            "body": draft.body,
            "subject_type": draft.subject_type,
            "subject_id": draft.subject_id,
            "firm_id": draft.firm_id,
            "audience": draft.audience,
            "status": NoticeStatus.scheduled,
            "send_at": now,
            "marketing": False,
            "created_by_id": None,
            "created_at": now,
        }
        for draft in drafts
    ]
    table = Notice.__table__
    if _dialect().name == "postgresql":
        ids = take_ids(table, len(rows))
        for row, notice_id in zip(rows, ids, strict=True):
            row["id"] = notice_id
        copy_rows(table, rows)
        return ids
    # SQLite (where take_ids is safe only once this transaction has written): it numbers the rows of an
    # insert in the order given, each past the highest id, so the ids returned in ascending order are the
    # drafts' in order.
    return sorted(row.id for row in insert_rows(table, rows, returning=("id",)))


def insert_deliveries(notices: Iterable[tuple[int, NoticeDraft]], now: datetime) -> int:
    """Writes the queued deliveries of notices already written ((notice id, draft) pairs); returns how many.
    Their ids are taken first, so each row is written with its final Message-ID."""
    rows: list[dict[str, Any]] = []
    for notice_id, draft in notices:
        seen: set[str] = set()
        for delivery in draft.deliveries:
            address = delivery.recipient.address(draft.channel).strip()
            if not address or address.lower() in seen:
                continue
            seen.add(address.lower())
            recipient = delivery.recipient
            rows.append(
                {
                    "notice_id": notice_id,
                    "recipient": address,
                    "recipient_name": recipient.name,
                    "user_id": recipient.user_id,
                    "contact_id": recipient.contact_id,
                    "channel": draft.channel,
                    "locale": recipient.locale,
                    "subject": delivery.subject,
                    "body": delivery.body,
                    "status": DeliveryStatus.queued,
                    "next_attempt_at": now,
                }
            )
    if not rows:
        return 0
    for row, delivery_id in zip(rows, take_ids(Delivery.__table__, len(rows)), strict=True):
        row["id"] = delivery_id
        # message_id_for reads the two ids only; a mapped Delivery would cost more than the rest of the row.
        ids = cast(Delivery, SimpleNamespace(id=delivery_id, notice_id=row["notice_id"]))
        row["message_id"] = message_id_for(ids)
    copy_rows(Delivery.__table__, rows)
    return len(rows)


def take_ids(table: sa.Table, count: int) -> list[int]:
    """`count` primary keys nobody else will use. PostgreSQL draws them from the table's sequence in one
    statement. SQLite has no sequence: past the highest id, which is safe only once this transaction has
    written (it then holds the database's write lock), so callers write something first."""
    if count <= 0:
        return []
    if _dialect().name == "postgresql":
        # nextval() per id, so concurrent writers never collide; the sequence is looked up once (OFFSET 0
        # keeps the planner from inlining the lookup into every row, which made it 15 times slower).
        # In one array: a row per id costs more to take apart than to make.
        statement = sa.text(
            "SELECT array_agg(nextval(s.seq)) FROM generate_series(1, :count), "
            "(SELECT pg_get_serial_sequence(:table, 'id')::regclass AS seq OFFSET 0) AS s"
        )
        return list(db.session.scalar(statement, {"table": table.name, "count": count}))
    highest = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))
    return list(range(highest + 1, highest + 1 + count))


def insert_rows(
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts_on: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[Any]:
    """Inserts `rows` (dicts with the same keys, values as the ORM takes them) in one statement and returns
    the `returning` columns of the rows written, in no particular order. With `skip_conflicts_on` (the
    columns of a unique key), a row whose key exists already is skipped (ON CONFLICT DO NOTHING), after
    waiting for a concurrent transaction that wrote the same key; only the rows written are returned."""
    if not rows:
        return []
    dialect = _dialect()
    if dialect.name == "postgresql":
        return _insert_unnest(table, rows, dialect, skip_conflicts_on, returning)
    statement = sqlite.insert(table)
    if skip_conflicts_on:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    if not returning:
        db.session.execute(statement, list(rows))
        return []
    return db.session.execute(statement.returning(*(table.c[name] for name in returning)), list(rows)).all()


def _insert_unnest(
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    dialect: sa.Dialect,
    skip_conflicts_on: Sequence[str],
    returning: Sequence[str],
) -> list[Any]:
    quote = dialect.identifier_preparer.quote
    rows = _with_defaults(table, rows)
    names = list(rows[0])
    arrays: dict[str, list[Any]] = {}
    casts = []
    for position, name in enumerate(names):
        column = table.c[name]
        values = [row[name] for row in rows]
        if (process := _bind_processor(column, dialect)) is not None:
            values = [process(value) for value in values]
        arrays[f"c{position}"] = values
        # %b: psycopg sends the array in binary, where the text format would escape every string
        casts.append(f"CAST(%(c{position})b AS {column.type.compile(dialect)}[])")
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"SELECT * FROM unnest({', '.join(casts)})"
    )
    if skip_conflicts_on:
        sql += f" ON CONFLICT ({', '.join(quote(name) for name in skip_conflicts_on)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(name) for name in returning)}"
    result = db.session.connection().exec_driver_sql(sql, arrays)
    return result.all() if returning else []


def copy_rows(table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Inserts `rows` (dicts with the same keys, values as the ORM takes them) with PostgreSQL's COPY, which
    writes a page of rows at a time where INSERT writes each row: for rows that cannot conflict (their ids
    taken by take_ids). Other databases get an ordinary insert."""
    if not rows:
        return
    dialect = _dialect()
    if dialect.name != "postgresql":
        insert_rows(table, rows)
        return
    quote = dialect.identifier_preparer.quote
    rows = _with_defaults(table, rows)
    names = list(rows[0])
    processors = [_bind_processor(table.c[name], dialect) for name in names]
    types = [_COPY_TYPES.get(table.c[name].type.compile(dialect).split("(")[0]) for name in names]
    binary = all(types)  # else the text format, which any column takes
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(statement + (" (FORMAT BINARY)" if binary else "")) as copy:
        if binary:
            copy.set_types(types)
        columns = list(zip(names, processors, strict=True))
        for row in rows:
            copy.write_row(
                [row[name] if process is None else process(row[name]) for name, process in columns]
            )


# Columns whose values COPY can send in binary, by the type's SQL name: the binary input of varchar, text
# and json is the text itself, where the text format escapes every string (jsonb wants a version byte first).
_COPY_TYPES = {
    "VARCHAR": "text",
    "TEXT": "text",
    "JSON": "text",
    "INTEGER": "int4",
    "BIGINT": "int8",
    "BOOLEAN": "bool",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP WITHOUT TIME ZONE": "timestamp",
}


def _with_defaults(table: sa.Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """The rows with the Python-side defaults of the columns they leave out (as an ORM insert applies them;
    COPY and the unnest insert bypass SQLAlchemy). Server-side defaults and NULL take care of the rest."""
    defaults = {
        column.name: column.default
        for column in table.columns
        if column.name not in rows[0] and column.default is not None and not column.default.is_sequence
    }
    if not defaults:
        return rows
    for name, default in defaults.items():
        if default.is_clause_element:
            raise ValueError(f"{table.name}.{name} has a SQL default: give its value")
    return [
        {
            **row,
            **{
                name: default.arg(None) if default.is_callable else default.arg
                for name, default in defaults.items()
            },
        }
        for row in rows
    ]


def _bind_processor(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any] | None:
    """What turns an ORM value into the driver's: enum members into their values, JSON into text …"""
    if isinstance(column.type, sa.JSON):
        return lambda value: None if value is None else json.dumps(value)
    process = column.type.bind_processor(dialect)
    if process is None:
        return None
    # The same few values over and over (a status, the sweep's timestamp): each converted once.
    converted: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return converted[value]
        except KeyError:
            converted[value] = result = process(value)
            return result
        except TypeError:  # unhashable
            return process(value)

    return convert


def _dialect() -> sa.Dialect:
    return db.session.get_bind().dialect
