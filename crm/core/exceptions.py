"""Errors operations raise; views turn them into form errors or flashes, the API into its error format."""

from __future__ import annotations

from typing import Any


class OperationError(Exception):
    """A refused operation. `code` is the API error code, `status` its HTTP status."""

    code = "error"
    status = 400

    def __init__(self, message: Any, fields: dict[str, list[Any]] | None = None, **extra: Any) -> None:
        super().__init__(str(message))
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class ValidationFailed(OperationError):
    """Field-specific problems: {field name: [message, …]}."""

    code = "validation_error"
    status = 422

    def __init__(self, fields: dict[str, list[Any]], message: Any = None) -> None:
        from flask_babel import lazy_gettext as _l

        super().__init__(message or _l("Some fields need attention."), fields)


class Conflict(OperationError):
    """A duplicate: `existing_id` points at what is already there."""

    code = "conflict"
    status = 409

    def __init__(
        self, message: Any, existing_id: int | None = None, fields: dict[str, list[Any]] | None = None
    ):
        super().__init__(message, fields, existing_id=existing_id)
        self.existing_id = existing_id


class RuleViolation(OperationError):
    """A business rule says no (ineligible, duplicate_support, over_budget, funding_split …)."""

    status = 422

    def __init__(self, code: str, message: Any, fields: dict[str, list[Any]] | None = None, **extra: Any):
        super().__init__(message, fields, **extra)
        self.code = code


class NotPermitted(OperationError):
    """The actor's role or scope does not allow this change (views normally refuse earlier, with 403/404)."""

    code = "forbidden"
    status = 403

    def __init__(self, message: Any = None) -> None:
        from flask_babel import lazy_gettext as _l

        super().__init__(message or _l("You may not make this change."))


class TooLarge(OperationError):
    """An upload over the size limit: 413, whatever the request's own limit let through."""

    code = "too_large"
    status = 413

    def __init__(self, message: Any, fields: dict[str, list[Any]] | None = None) -> None:
        super().__init__(message, fields)
