"""The API's plumbing: the blueprint, Bearer authentication, the error format, JSON bodies validated by
pydantic models, cursor pagination, and the registry the OpenAPI document is generated from."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, ValidationError

from crm.api.models import ApiToken
from crm.api.schemas import MAX_ID
from crm.auth.models import User, hash_token
from crm.core.access import allow, public, signed_in
from crm.core.db import utcnow
from crm.core.exceptions import OperationError
from crm.core.pagination import InvalidCursor, count_rows, read_window
from crm.extensions import csrf, db, login_manager

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # Bearer requests carry no cookie to forge; cookie sessions cannot write (below)

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


# --- Errors ---------------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: Any, fields: dict[str, list[Any]] | None = None, **extra: Any
    ):
        super().__init__(str(message))
        self.status, self.code, self.message, self.fields, self.extra = status, code, message, fields, extra


def error_body(
    code: str, message: Any, fields: dict[str, list[Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": str(message)}
    if fields:
        error["fields"] = {name: [str(m) for m in messages] for name, messages in fields.items()}
    error.update({key: value for key, value in extra.items() if value is not None})
    return {"error": error}


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return jsonify(error_body(error.code, error.message, error.fields, **error.extra)), error.status


@bp.errorhandler(OperationError)
def _operation_error(error: OperationError):
    """Operations raise the product's errors; the API shows them in the contract's format."""
    db.session.rollback()
    extra = {
        key: value for key, value in error.extra.items() if key in ("existing_id", "conflicts", "problems")
    }
    return jsonify(error_body(error.code, error.message, error.fields or None, **extra)), error.status


def invalid(name: str, message: Any) -> ApiError:
    """422 validation_error naming one field (a query parameter or a body field)."""
    return ApiError(422, "validation_error", _("Some fields need attention."), fields={name: [message]})


def query_enum(name: str, allowed: type[Any]) -> Any | None:
    """A query parameter that must be one of an enum's values; None when absent."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return allowed(raw)
    except ValueError:
        raise invalid(
            name, _("Choose one of: %(values)s.", values=", ".join(m.value for m in allowed))
        ) from None


def not_found() -> ApiError:
    return ApiError(404, "not_found", _("The page or record does not exist, or you may not see it."))


def forbidden() -> ApiError:
    return ApiError(403, "forbidden", _("Your role does not allow this page or action."))


# --- Authentication ---------------------------------------------------------------------------------------


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def token_from_request() -> ApiToken | None:
    secret = _bearer()
    if secret is None:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or not token.is_live():
        return None
    return token


@login_manager.request_loader
def _load_user_from_bearer(req: Any) -> User | None:
    """Only under /api/: a valid Bearer token signs the request in, for this request only."""
    if not req.path.startswith("/api/"):
        return None
    token = token_from_request()
    if token is None:
        return None
    g.api_token = token
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        token.last_used_at = now
        db.session.commit()
    return token.user


@bp.before_request
def _writes_need_a_token():
    """Cookie sessions may read; only a Bearer token writes (so no cross-site request can)."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint in PUBLIC_WRITES:
        return None
    if _bearer() is not None and token_from_request() is None:
        return None  # the access check answers 401
    if getattr(g, "api_token", None) is None and current_user.is_authenticated:
        raise ApiError(401, "unauthorized", _("Write requests need an API token (Authorization: Bearer …)."))
    return None


PUBLIC_WRITES = {"api.create_token"}


# --- Bodies and queries -----------------------------------------------------------------------------------


def body(model: type[M]) -> M:
    """The JSON body parsed into `model`: 400 for malformed JSON, 422 with `fields` for bad values."""
    data = request.get_json(silent=True)
    if data is None:
        raw = request.get_data(cache=True)
        if raw.strip():
            raise ApiError(400, "bad_request", _("The request body is not valid JSON."))
        data = {}
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", _("The request body must be a JSON object."))
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(
            422, "validation_error", _("Some fields need attention."), fields=validation_fields(error)
        ) from None


def validation_fields(error: ValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, []).append(_validation_message(problem))
    return fields


def _validation_message(problem: dict[str, Any]) -> str:
    kind = problem.get("type", "")
    if kind == "missing":
        return _("This field is required.")
    if kind == "extra_forbidden":
        return _("This field is not accepted here.")
    if kind.startswith(("int_", "float_")):
        return _("Enter a number.")
    if kind.startswith("date"):
        return _("Enter a date as YYYY-MM-DD.")
    if kind.startswith("string"):
        return _("Enter text of the allowed length.")
    return _("This value is not valid.")


def query_int(
    name: str, default: int | None = None, minimum: int = 1, maximum: int | None = None
) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            422, "validation_error", _("Some fields need attention."), fields={name: [_("Enter a number.")]}
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ApiError(
            422,
            "validation_error",
            _("Some fields need attention."),
            fields={name: [_("Enter a number from %(low)s to %(high)s.", low=minimum, high=maximum or "∞")]},
        )
    return value


# --- Pagination ---------------------------------------------------------------------------------------------


def page_of(statement: sa.Select, serialize: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """`{"items", "next_cursor", "total"}` for `?limit=` (default 50, max 200) and the opaque `?cursor=`.
    The cursor marks the last row served, so a later page costs what the first does (keyset pagination)."""
    limit = query_int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    try:
        window = read_window(statement, limit, after=request.args.get("cursor") or None)
    except InvalidCursor:
        raise ApiError(
            422,
            "validation_error",
            _("Some fields need attention."),
            fields={"cursor": [_("This cursor is not valid.")]},
        ) from None
    return {
        "items": [serialize(row) for row in window.items],
        "next_cursor": window.next_cursor,
        "total": count_rows(statement),
    }


# --- The registry behind the OpenAPI document ----------------------------------------------------------


@dataclass
class Operation:
    method: str
    path: str  # OpenAPI style: /firms/{id}
    endpoint: str
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    response: Any = None  # a pydantic model, ("list", model), "file", or None for 204
    status: int = 200
    errors: tuple[int, ...] = ()
    query: list[dict[str, Any]] = field(default_factory=list)
    multipart: dict[str, Any] | None = None
    public: bool = False


OPERATIONS: list[Operation] = []


def api_route(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    roles: Iterable[Any] | None = None,
    request_model: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    query: list[dict[str, Any]] | None = None,
    multipart: dict[str, Any] | None = None,
    public_route: bool = False,
) -> Callable[[F], F]:
    """Registers a view under /api/v1 with its access rule and its schemas for the OpenAPI document."""
    # Ids beyond the database's integer range are simply not found (not a database error).
    flask_path = path.replace("{id}", f"<int(min=1, max={MAX_ID}):id>")

    def decorator(view: F) -> F:
        if public_route:
            view = public(view)
        elif roles is None:
            view = signed_in(view)
        else:
            view = allow(*roles)(view)
        bp.add_url_rule(flask_path, view.__name__, view, methods=[method])
        OPERATIONS.append(
            Operation(
                method=method.lower(),
                path=path,
                endpoint=f"api.{view.__name__}",
                summary=summary,
                tag=tag,
                request=request_model,
                response=response,
                status=status,
                errors=errors,
                query=query or [],
                multipart=multipart,
                public=public_route,
            )
        )
        return view

    return decorator


def query_param(
    name: str, kind: str = "string", description: str = "", enum: list[str] | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if enum:
        schema["enum"] = enum
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


PAGING = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    },
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
]


def json_response(payload: Any, status: int = 200):
    return jsonify(payload), status


def app_config(name: str) -> Any:
    return current_app.config[name]
