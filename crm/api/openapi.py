"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from crm.api.core import OPERATIONS, Operation
from crm.api.schemas import MAX_ID, ErrorBody

REF = "#/components/schemas/{model}"
ERROR_TEXT = {
    400: "Malformed JSON (bad_request)",
    401: "No or invalid token (unauthorized)",
    403: "The role may never do this (forbidden)",
    404: "Absent or not visible to you (not_found)",
    409: "Duplicate (conflict, with existing_id) or illegal_transition",
    413: "Upload too large (too_large)",
    422: "validation_error with fields, or a rule code",
    429: "Too many requests (rate_limited)",
}


def _models() -> list[type[BaseModel]]:
    models: list[type[BaseModel]] = [ErrorBody]
    for operation in OPERATIONS:
        for candidate in (operation.request, _response_model(operation)):
            if candidate is not None and candidate not in models:
                models.append(candidate)
    return models


def _response_model(operation: Operation) -> type[BaseModel] | None:
    response = operation.response
    if isinstance(response, tuple):
        return response[1]
    return response if isinstance(response, type) and issubclass(response, BaseModel) else None


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _success(operation: Operation) -> dict[str, Any]:
    response = operation.response
    if response is None:
        return {"description": "No content"}
    if response == "file":
        return {
            "description": "The file, as an attachment",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    if isinstance(response, tuple):
        schema = {
            "type": "object",
            "required": ["items", "next_cursor", "total"],
            "properties": {
                "items": {"type": "array", "items": _ref(response[1])},
                "next_cursor": {"type": ["string", "null"]},
                "total": {"type": "integer", "minimum": 0},
            },
        }
    elif isinstance(response, dict):
        schema = response
    else:
        schema = _ref(response)
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _operation(operation: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": operation.endpoint.replace(".", "_"),
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": list(operation.query),
        "responses": {str(operation.status): _success(operation)},
    }
    if "{id}" in operation.path:
        spec["parameters"].insert(
            0,
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            },
        )
    if operation.request is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.request)}},
        }
    if operation.multipart is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": operation.multipart}},
        }
    errors = set(operation.errors)
    if not operation.public:
        errors |= {401}
    if "{id}" in operation.path:
        errors |= {404}
    if operation.request is not None or operation.multipart is not None:
        errors |= {400, 422}
    if any(p.get("in") == "query" for p in operation.query):
        errors |= {422}
    for status in sorted(errors):
        spec["responses"][str(status)] = {
            "description": ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    if operation.public:
        spec["security"] = []
    return spec


def document(server_url: str = "/") -> dict[str, Any]:
    _keys, definitions = models_json_schema(
        [(model, "validation" if _is_request(model) else "serialization") for model in _models()],
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault("/api/v1" + operation.path, {})[operation.method] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AX CRM API",
            "version": "1.0.0",
            "description": "The JSON API of AX CRM (../shared/API.md). Errors: "
            '{"error": {"code", "message", "fields"?, "existing_id"?}}; '
            'lists: {"items", "next_cursor", "total"}.',
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


def _is_request(model: type[BaseModel]) -> bool:
    return any(operation.request is model for operation in OPERATIONS)
