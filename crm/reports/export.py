"""CSV downloads of the reports: UTF-8 with a byte-order mark so Excel opens Korean text, a header row, and
plain numbers (no thousands separators, no currency signs)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

from crm.core.time import today_kst


def plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def csv_response(name: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(title) for title in header])
    for row in rows:
        writer.writerow([plain(value) for value in row])
    filename = f"{name}-{today_kst().isoformat()}.csv"
    return Response(
        "\ufeff" + buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
