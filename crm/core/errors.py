"""Error pages in the user's language; JSON errors under /api/; no stack trace outside debug."""

from __future__ import annotations

import uuid

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from crm.extensions import db


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (
            _("Bad request"),
            _("The request could not be understood. Check what you entered and try again."),
        ),
        401: (_("Sign-in required"), _("Please sign in to continue.")),
        403: (_("Not allowed"), _("Your role does not allow this page or action.")),
        404: (_("Not found"), _("The page or record does not exist, or you may not see it.")),
        405: (_("Not allowed"), _("This address does not accept that kind of request.")),
        413: (_("Too large"), _("The upload is larger than allowed.")),
        429: (_("Too many requests"), _("Too many attempts. Please wait a moment and try again.")),
        500: (_("Something went wrong"), _("An unexpected error occurred. It has been logged.")),
    }


API_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


def _render(status: int, error_id: str | None = None, detail: str | None = None):
    title, message = _messages().get(status, (_("Error"), _("The request failed.")))
    if request.path.startswith("/api/"):
        body = {"error": {"code": API_CODES.get(status, "error"), "message": detail or message}}
        if error_id:
            body["error"]["error_id"] = error_id
        return jsonify(body), status
    try:
        page = render_template(
            "errors/error.html", status=status, title=title, message=detail or message, error_id=error_id
        )
    except Exception:  # the error page itself must never fail: fall back to plain, escaped text
        current_app.logger.exception("error page for %s failed to render", status)
        page = f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(str(message))}</p>"
    return page, status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _render(
            400,
            detail=_(
                "The form expired or was not sent from this site. Reload the page and try "
                "again; what you typed was not saved."
            ),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return _render(error.code)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if app.debug or (app.testing and not app.config.get("CRM_RENDER_500_IN_TESTS")):
            raise error  # tests see the real traceback; one test renders the page with the flag set
        db.session.rollback()
        error_id = uuid.uuid4().hex[:12]
        app.logger.exception("unhandled error %s on %s %s", error_id, request.method, request.path)
        return _render(500, error_id=error_id)
