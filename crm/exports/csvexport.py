"""CSV for every list: `?format=csv` on a list page streams all of its rows (not just the page) with the
page's filters and visibility, in the reader's language, with personal data masked. `&personal=1` asks for
the personal data: a reason form first (GET), then the file (POST with the reason), logged as an access to
personal data (개인정보 접근기록) and audited.

A list view uses it after building its filtered statement::

    if wants_csv():
        return csv_response("firms", statement, COLUMNS, title=_l("Firms"))
"""

from __future__ import annotations

import csv
import enum
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.core.enums import LabelledEnum
from crm.core.exceptions import OperationError
from crm.core.forms import render_form, show_operation_error
from crm.core.time import to_kst, today_kst
from crm.exports import operations
from crm.exports.forms import ReasonForm
from crm.extensions import db

BATCH_SIZE = 500
# Query-string keys that steer the export rather than filter the list.
CONTROL_ARGS = frozenset({"format", "personal", "page"})

# Kinds of personal data, each with its own mask.
NAME = "name"
NAMES = "names"  # free text listing people, e.g. an activity's participants
EMAIL = "email"
PHONE = "phone"
ADDRESS = "address"  # an e-mail address or a phone number (a notice recipient)


@dataclass(frozen=True)
class Column:
    """One CSV column. `value` takes the result row: the entity itself for `select(Model)`, else the row.
    A `personal` column is masked unless the export is unmasked and `visible(row)` (when given) allows it."""

    title: Any
    value: Callable[[Any], Any]
    personal: str | None = None
    visible: Callable[[Any], bool] | None = None


def column(title: Any, value: str | Callable[[Any], Any]) -> Column:
    """A plain column; `value` is an attribute path ("firm.name") or a function of the row."""
    return Column(title, attrgetter(value) if isinstance(value, str) else value)


def personal(
    title: Any,
    value: str | Callable[[Any], Any],
    kind: str,
    visible: Callable[[Any], bool] | None = None,
) -> Column:
    return Column(title, attrgetter(value) if isinstance(value, str) else value, kind, visible)


# --- masking ----------------------------------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """'홍길동' → '홍*동', '홍길' → '홍*', 'John Smith' → 'J**n S***h': first and last letter of each word."""
    words = []
    for word in (name or "").split():
        if len(word) <= 2:
            words.append(word[0] + "*" * (len(word) - 1) if len(word) == 2 else "*")
        else:
            words.append(word[0] + "*" * (len(word) - 2) + word[-1])
    return " ".join(words)


def mask_names(text: str | None) -> str:
    """Each name of a list such as '김대표, 이과장 / 박책임' masked; separators kept."""
    return re.sub(r"[^\s,;/·()\[\]]+", lambda match: mask_name(match.group(0)), text or "")


def mask_email(email: str | None) -> str:
    """'hong@example.com' → 'h***@example.com': the domain stays, so the organisation still shows."""
    email = (email or "").strip()
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return mask_name(email)
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """'010-1234-5678' → '010-****-5678': the first three and last four digits, separators kept; short
    numbers keep only their last two digits."""
    phone = (phone or "").strip()
    digits = sum(ch.isdigit() for ch in phone)
    head, tail = (3, 4) if digits >= 9 else (0, min(2, max(digits - 1, 0)))
    out, seen = [], 0
    for ch in phone:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= head or seen > digits - tail else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_address(value: str | None) -> str:
    """A recipient: an e-mail address or a phone number."""
    return mask_email(value) if "@" in (value or "") else mask_phone(value)


MASKS: dict[str, Callable[[str | None], str]] = {
    NAME: mask_name,
    NAMES: mask_names,
    EMAIL: mask_email,
    PHONE: mask_phone,
    ADDRESS: mask_address,
}


# --- cells ------------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as spreadsheet users expect it: dates in KST, money as a plain integer, enums by their title
    in the reader's language. Text that a spreadsheet would run as a formula is defused with a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, LabelledEnum):
        return value.title
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return f"{to_kst(value):%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def row_values(columns: Sequence[Column], item: Any, unmasked: bool) -> list[str]:
    values = []
    for col in columns:
        raw = col.value(item)
        if col.personal is None or (unmasked and (col.visible is None or col.visible(item))):
            values.append(cell(raw))
        else:
            values.append(cell(MASKS[col.personal](None if raw is None else str(raw))))
    return values


def stream_rows(statement: sa.Select, columns: Sequence[Column], unmasked: bool) -> Iterator[bytes]:
    """UTF-8 with a BOM (so Excel reads the Korean), the header, then the rows a batch at a time: the
    database cursor and the ORM hand over `BATCH_SIZE` rows at once, so memory stays flat."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(col.title) for col in columns])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    result = db.session.execute(statement.execution_options(yield_per=BATCH_SIZE))
    for batch in result.partitions():
        buffer.seek(0)
        buffer.truncate()
        for row in batch:
            writer.writerow(row_values(columns, row[0] if len(row) == 1 else row, unmasked))
        yield buffer.getvalue().encode("utf-8")


# --- the request side -------------------------------------------------------------------------------------


def wants_csv() -> bool:
    """True when the list is asked for as CSV. List routes accept POST only for that (the reason form posts
    back to the list's own URL, filters included); any other POST is refused."""
    if request.args.get("format") == "csv":
        return True
    if request.method == "POST":
        abort(405, valid_methods=["GET"])
    return False


def list_filters() -> dict[str, list[str]]:
    """The list's filters as the page has them, for links and for the audit trail."""
    return {k: v for k, v in request.args.to_dict(flat=False).items() if k not in CONTROL_ARGS}


def list_url(**extra: Any) -> str:
    return url_for(request.endpoint, **(request.view_args or {}), **list_filters(), **extra)


def count_rows(statement: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())) or 0


def filename(name: str) -> str:
    return f"{name}-{today_kst():%Y%m%d}.csv"


def csv_file(name: str, statement: sa.Select, columns: Sequence[Column], unmasked: bool) -> Response:
    response = Response(stream_with_context(stream_rows(statement, columns, unmasked)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename(name)}"'
    # A file of personal data must not linger in shared caches or the browser's.
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_response(
    name: str,
    statement: sa.Select,
    columns: Sequence[Column],
    *,
    title: Any,
    may_unmask: bool = True,
    subject: Any = None,
    file_name: str | None = None,
) -> Any:
    """The list as CSV. `name` is the access log's name for the list ("firms") and, unless `file_name` says
    otherwise, the file's; `may_unmask` says whether this user may see the list's personal data at all (rows
    can narrow it further through their columns' `visible`); `subject` is what the access log names (the
    notice, the session …), the user's own account when the list has none."""
    personal_columns = [col for col in columns if col.personal]
    if request.args.get("personal") != "1" or not personal_columns:
        if request.method == "POST":
            abort(405, valid_methods=["GET"])
        return csv_file(file_name or name, statement, columns, unmasked=False)
    if not may_unmask:
        abort(403)
    form = ReasonForm()
    actor = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            operations.export_personal_data(
                name,
                subject if subject is not None else actor,
                form.reason.data,
                filters=list_filters(),
                columns=[str(col.title) for col in personal_columns],
                rows=count_rows(statement),
                may_unmask=may_unmask,
                actor=actor,
            )
        except OperationError as error:
            show_operation_error(form, error)
        else:
            db.session.commit()
            return csv_file(file_name or name, statement, columns, unmasked=True)
    return render_form(
        "exports/reason.html",
        form=form,
        title=title,
        personal_columns=[str(col.title) for col in personal_columns],
        rows=count_rows(statement),
        action=list_url(format="csv", personal="1"),
        masked_url=list_url(format="csv"),
        back_url=list_url(),
    )
