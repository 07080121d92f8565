"""Language choice: Korean first, English second."""

from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():  # CLI commands and workers write in the default language
        return default
    if request.path.startswith("/api/") and request.headers.get("Accept-Language"):
        return request.accept_languages.best_match(languages, default=default)
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = request.cookies.get("lang")
    if chosen in languages:
        return chosen
    return request.accept_languages.best_match(languages, default=default)


def select_timezone() -> str:
    return current_app.config["DISPLAY_TIMEZONE"]
