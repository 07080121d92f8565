"""Logs: a request id on every request, one log record per request, and with `LOG_FORMAT=json` one JSON
object per line on stderr for the web processes, the Celery worker and beat.

The JSON formatter is the standard library's `logging.Formatter` with a fixed list of fields rather than
python-json-logger: that library copies every `extra` attribute of a record into the line, and a fixed
list is what keeps personal data out (a careless `extra={"form": ...}` cannot leak). The fields:

    time (ISO 8601, UTC), level, logger, message, and when known
    request_id, method, path, status, duration_ms, user_id   (web requests)
    task_name, task_id                                        (Celery tasks)
    exception                                                 (the traceback)

Never logged: query strings (a firm search holds names, 사업자등록번호 or phone digits), request bodies,
headers other than X-Request-ID, e-mail addresses, and tokens in paths (`/password/reset/<token>` and the
like are written with the token replaced).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler

REQUEST_ID_HEADER = "X-Request-ID"
# A request id from the proxy is kept only if it looks like one; anything else could forge log lines.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Route arguments whose value is a secret (password reset, e-mail verification, calendar feed).
_SECRET_ARGUMENT = re.compile(r"token|secret|key", re.IGNORECASE)
REDACTED = "[redacted]"

REQUEST_LOGGER = logging.getLogger("crm.request")

# The only record attributes a JSON line carries besides time, level, logger and message.
CONTEXT_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id", "task_name", "task_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # Korean messages stay readable; default=str keeps a stray object from breaking the line.
        return json.dumps(line, ensure_ascii=False, default=str)


class ContextFilter(logging.Filter):
    """Adds the current request's id and user, or the current Celery task, to records logged inside them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if getattr(record, "request_id", None) is None:
                record.request_id = g.get("request_id")
            if getattr(record, "user_id", None) is None:
                record.user_id = signed_in_user_id()
        else:
            task = _current_task()
            if task is not None and getattr(record, "task_id", None) is None:
                record.task_name = task.name
                record.task_id = task.request.id
        return True


def _current_task() -> Any:
    from celery import current_task

    task = current_task._get_current_object()
    return task if task is not None and getattr(task.request, "id", None) else None


def signed_in_user_id() -> int | None:
    """The user already loaded for this request; never loads one (that would be a query per log line)."""
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "id", None)


def loggable_path() -> str:
    """The path without the query string, with secrets among the route's arguments replaced."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if _SECRET_ARGUMENT.search(name) and value:
            path = path.replace(str(value), REDACTED)
    return path


def _handler_is_ours(handler: logging.Handler) -> bool:
    return getattr(handler, "_axcrm_json", False)


def configure_json_logging(level: str | int = "INFO") -> None:
    """Root logger → one JSON object per line on stderr. Safe to call again (tests, worker start-up)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if _handler_is_ours(handler):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._axcrm_json = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # Python warnings (deprecations, Celery's running-as-root notice) would otherwise be plain stderr text.
    logging.captureWarnings(True)


def celery_setup_logging(loglevel: int | str | None = None, **_kwargs: Any) -> None:
    """Receiver of Celery's `setup_logging` signal: with it connected, Celery leaves logging to us."""
    configure_json_logging(loglevel or "INFO")


def _start_request() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g._log_started = time.perf_counter()


def _log_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.pop("_log_started", None)
    if started is not None and REQUEST_LOGGER.isEnabledFor(logging.INFO):
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        path = loggable_path()
        REQUEST_LOGGER.info(
            "%s %s %s",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "request_id": g.get("request_id"),
                "user_id": signed_in_user_id(),
            },
        )
    return response


def register_logging(app: Flask) -> None:
    """Call right after the metrics hooks so the request id exists before any other hook logs."""
    if app.config.get("LOG_FORMAT") == "json":
        configure_json_logging(app.config.get("LOG_LEVEL", "INFO"))
        # Flask's own handler would print every app.logger line a second time, in plain text.
        app.logger.removeHandler(default_handler)
    app.before_request(_start_request)
    app.after_request(_log_request)
