"""Page-number pagination over a select, with the query-string helpers templates need."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_sqlalchemy.pagination import Pagination

from crm.extensions import db


def paginate(statement: Any, per_page: int | None = None) -> Pagination:
    per_page = per_page or current_app.config["PAGE_SIZE"]
    return db.paginate(
        statement,
        page=request.args.get("page", 1, type=int),
        per_page=per_page,
        max_per_page=200,
        error_out=False,
    )


def url_args(**changes: Any) -> dict[str, Any]:
    """The current query string with some keys replaced, for page links and filters."""
    args = request.args.to_dict()
    args.update({k: v for k, v in changes.items() if v is not None})
    return args
