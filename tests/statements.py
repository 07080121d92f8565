"""Counting the SQL statements a piece of code sends, for the query-count guards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")


@contextmanager
def recorded_statements(engine: sa.Engine | None = None) -> Iterator[list[str]]:
    """The statements sent through `engine` (the app's by default) while the block runs, without the
    transaction control the test fixtures add (savepoints, commits), so a count means the same on SQLite
    and PostgreSQL."""
    if engine is None:
        from crm.extensions import db

        engine = db.engine
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
