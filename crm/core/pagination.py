"""Pagination over a select: page numbers for short lists, keyset pages for long ones (a deep page costs
what the first does), the opaque cursors those pages and the API share, and the query-string helpers
templates need.

A keyset page reads "the next `limit` rows after this row" in the statement's own ORDER BY, so the database
walks its index from the cursor instead of counting off every row before it as OFFSET does. That needs an
ORDER BY of NOT NULL columns ending with the primary key (a total order); other statements page by offset,
behind the same cursors."""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.sql import operators

from crm.extensions import db

MAX_PER_PAGE = 200


def paginate(statement: Any, per_page: int | None = None) -> Pagination:
    per_page = per_page or current_app.config["PAGE_SIZE"]
    return db.paginate(
        statement,
        page=request.args.get("page", 1, type=int),
        per_page=per_page,
        max_per_page=MAX_PER_PAGE,
        error_out=False,
    )


def url_args(*drop: str, **changes: Any) -> dict[str, Any]:
    """The current query string without the keys in `drop` and with some keys replaced, for page links and
    filters."""
    args = {key: value for key, value in request.args.to_dict().items() if key not in drop}
    args.update({k: v for k, v in changes.items() if v is not None})
    return args


# --- Cursors ------------------------------------------------------------------------------------------------


class InvalidCursor(ValueError):
    """A cursor this list did not hand out: edited, cut short, or taken from a list sorted another way."""


@dataclass(frozen=True)
class SortKey:
    column: sa.ColumnElement[Any]
    descending: bool


def sort_keys(statement: sa.Select) -> list[SortKey] | None:
    """The statement's ORDER BY as columns with their direction, or None when it cannot be paged by key: a
    term that is an expression or a nullable column (NULLs do not compare), or no primary key last (ties)."""
    keys = []
    # Select keeps its ORDER BY only in this attribute; there is no public accessor.
    for term in statement._order_by_clauses:
        descending = False
        if isinstance(term, sa.UnaryExpression) and term.modifier in (operators.desc_op, operators.asc_op):
            descending = term.modifier is operators.desc_op
            term = term.element
        if not isinstance(term, sa.Column) or term.nullable:
            return None
        keys.append(SortKey(term, descending))
    if not keys or not keys[-1].column.primary_key:
        return None
    return keys


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _encode(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_cursor(values: Sequence[Any]) -> str:
    """The cursor of a row, from the values of its sort key."""
    return _encode({"k": [_plain(value) for value in values]})


def offset_cursor(offset: int) -> str:
    return _encode({"o": offset})


_MAX_OFFSET = 10**9
_INT_RANGE = {sa.SmallInteger: 2**15, sa.BigInteger: 2**63}


def _typed(value: Any, key: SortKey) -> Any:
    """A cursor value checked against its column, so that a forged cursor is refused here rather than sent
    to the database, which would answer with an error (an id out of range, a NUL in text), not a page."""
    try:
        expected = key.column.type.python_type
    except NotImplementedError:  # a custom type without a Python type: compare as given
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        parse = {"t": datetime.fromisoformat, "d": date.fromisoformat}.get(tag)
        if parse is None or not isinstance(text, str):
            raise InvalidCursor
        try:
            value = parse(text)
        except ValueError:
            raise InvalidCursor from None
        if isinstance(value, datetime) and value.tzinfo is None:
            raise InvalidCursor
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        try:
            return expected(value)
        except (ValueError, TypeError):
            raise InvalidCursor from None
    if (expected is date and isinstance(value, datetime)) or (
        isinstance(value, bool) and expected is not bool
    ):
        raise InvalidCursor
    if expected is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, expected):
        raise InvalidCursor
    if isinstance(value, int) and not isinstance(value, bool):
        bound = next((b for kind, b in _INT_RANGE.items() if isinstance(key.column.type, kind)), 2**31)
        if not -bound <= value < bound:
            raise InvalidCursor
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidCursor
    if isinstance(value, str) and "\x00" in value:
        raise InvalidCursor
    return value


def read_cursor(raw: str, keys: list[SortKey] | None) -> list[Any] | int:
    """A cursor's key values (for a list paged by key) or its offset; InvalidCursor for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidCursor from None
    if not isinstance(payload, dict) or len(payload) != 1:
        raise InvalidCursor
    # Offset cursors come from lists that cannot be paged by key and from links made before keyset paging.
    offset = payload.get("o")
    if isinstance(offset, int) and not isinstance(offset, bool) and 0 <= offset <= _MAX_OFFSET:
        return offset
    values = payload.get("k")
    if keys is None or not isinstance(values, list) or len(values) != len(keys):
        raise InvalidCursor
    return [_typed(value, key) for value, key in zip(values, keys, strict=True)]


# --- Reading one page ---------------------------------------------------------------------------------------


def _beyond(keys: list[SortKey], values: list[Any], backwards: bool) -> sa.ColumnElement[bool]:
    """The rows after `values` in the list's order, or before them when `backwards`."""
    bounds = [sa.literal(value, key.column.type) for value, key in zip(values, keys, strict=True)]
    directions = {key.descending for key in keys}
    if len(directions) == 1:
        # One direction: a row comparison, which PostgreSQL answers from an index on the same columns.
        smaller = directions.pop() != backwards
        columns = sa.tuple_(*(key.column for key in keys)) if len(keys) > 1 else keys[0].column
        bound = sa.tuple_(*bounds) if len(keys) > 1 else bounds[0]
        return columns < bound if smaller else columns > bound
    terms = []
    for index, key in enumerate(keys):
        smaller = key.descending != backwards
        step = key.column < bounds[index] if smaller else key.column > bounds[index]
        terms.append(
            sa.and_(*(k.column == b for k, b in zip(keys[:index], bounds[:index], strict=True)), step)
        )
    return sa.or_(*terms)


@dataclass
class Window:
    """One page of rows with the cursors of the pages either side (None where there is none)."""

    items: list[Any]
    next_cursor: str | None
    prev_cursor: str | None


def _single_entity_by_key(statement: sa.Select, keys: list[SortKey]) -> bool:
    """Whether the statement reads one mapped class whose (one-column) primary key ends the sort key."""
    described = statement.column_descriptions
    entity = described[0].get("entity") if len(described) == 1 else None
    if entity is None:
        return False
    primary_key = sa.inspect(entity).primary_key
    last = keys[-1].column
    return len(primary_key) == 1 and last.table is primary_key[0].table and last.name == primary_key[0].name


def _rows(statement: sa.Select, keys: list[SortKey] | None, limit: int, offset: int = 0) -> tuple[list, list]:
    """Up to `limit` rows and the sort-key values of each (empty lists without keys)."""
    width = len(statement.column_descriptions)
    if keys is not None and _single_entity_by_key(statement, keys):
        # The page's ids first, then only those rows: the walk along the sort index past rows that another
        # condition rejects (a consortium's firms among all firms by name) reads the index, not the table.
        ids = statement.with_only_columns(keys[-1].column, maintain_column_froms=True).limit(limit)
        statement = statement.where(keys[-1].column.in_(ids.offset(offset) if offset else ids))
        offset = 0
    if keys is not None:
        statement = statement.add_columns(*(key.column for key in keys))
    if offset:
        statement = statement.offset(offset)
    rows = db.session.execute(statement.limit(limit)).all()
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]
    return items, [list(row[width:]) for row in rows] if keys is not None else []


def read_window(
    statement: sa.Select,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    offset: int = 0,
) -> Window:
    """The page after the `after` cursor, the one before the `before` cursor, or the one at `offset` rows
    in. Raises InvalidCursor for a cursor this list did not hand out."""
    keys = sort_keys(statement)
    raw = after or before
    position: list[Any] | int = read_cursor(raw, keys) if raw else offset
    if isinstance(position, int):
        items, values = _rows(statement, keys, limit + 1, position)
        more = len(items) > limit
        items, values = items[:limit], values[:limit]
        if keys is None:
            return Window(
                items,
                offset_cursor(position + limit) if more else None,
                offset_cursor(max(position - limit, 0)) if position > 0 else None,
            )
        return Window(
            items,
            key_cursor(values[-1]) if more else None,
            key_cursor(values[0]) if position > 0 and items else None,
        )
    assert keys is not None
    if after:
        items, values = _rows(statement.where(_beyond(keys, position, backwards=False)), keys, limit + 1)
        more = len(items) > limit
        items, values = items[:limit], values[:limit]
        # The cursor's own row lies before this page, so there is a page before (unless it was deleted).
        return Window(
            items, key_cursor(values[-1]) if more else None, key_cursor(values[0] if items else position)
        )
    reverse = [key.column.asc() if key.descending else key.column.desc() for key in keys]
    backwards = statement.where(_beyond(keys, position, backwards=True)).order_by(None).order_by(*reverse)
    items, values = _rows(backwards, keys, limit + 1)
    if len(items) <= limit:
        # Back at the start: show the first page whole rather than the few rows left before the cursor.
        return read_window(statement, limit)
    items, values = items[:limit][::-1], values[:limit][::-1]
    return Window(items, key_cursor(values[-1]), key_cursor(values[0]))


def count_rows(statement: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())) or 0


# --- Keyset pages for HTML lists ----------------------------------------------------------------------------


@dataclass
class KeysetPage:
    """What the `pager` macro needs for a list paged by cursor: links to the first, previous and next pages
    (`?after=` / `?before=`), and the total when the list counted it."""

    items: list[Any]
    per_page: int
    total: int | None
    next_cursor: str | None
    prev_cursor: str | None
    keyset: bool = True  # tells the macro which links to draw

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        return self.prev_cursor is not None


def keyset_paginate(statement: sa.Select, per_page: int | None = None, with_total: bool = True) -> KeysetPage:
    """The page the query string asks for: `?after=` or `?before=` a cursor, else the first; `?page=N` (links
    made before keyset paging) still opens page N by offset. Raises InvalidCursor for a bad cursor."""
    per_page = min(per_page or current_app.config["PAGE_SIZE"], MAX_PER_PAGE)
    page_number = min(max(request.args.get("page", 1, type=int) or 1, 1), _MAX_OFFSET // per_page)
    window = read_window(
        statement,
        per_page,
        after=request.args.get("after") or None,
        before=request.args.get("before") or None,
        offset=(page_number - 1) * per_page,
    )
    total = count_rows(statement) if with_total else None
    return KeysetPage(window.items, per_page, total, window.next_cursor, window.prev_cursor)
