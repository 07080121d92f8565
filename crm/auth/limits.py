"""Rate-limit keys and limits for sign-in, password reset and uploads (ASVS 2.2.1, 11.1.4).

Limits are read from the configuration at request time so a deployment (or a test) can tighten them.
"""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

DEFAULTS = {
    "LOGIN_RATE_LIMIT_IP": "30 per minute",
    # Per address, whichever IP it comes from: spreading guesses over many machines does not help.
    "LOGIN_RATE_LIMIT_EMAIL": "10 per minute;50 per hour",
    "PASSWORD_RESET_RATE_LIMIT": "3 per minute;20 per hour",
    # Per address too, so nobody floods one inbox with reset mails from many machines.
    "PASSWORD_RESET_RATE_LIMIT_EMAIL": "3 per hour",
    "UPLOAD_RATE_LIMIT": "30 per minute;300 per hour",
}


def configured(name: str):
    def limit() -> str:
        return current_app.config.get(name) or DEFAULTS[name]

    return limit


def ip_key() -> str:
    return request.remote_addr or ""


def email_key() -> str:
    from crm.auth.operations import normalize_email

    return "email:" + normalize_email(request.form.get("email", ""))


def user_key() -> str:
    # Uploads come from signed-in users; counting per account keeps a shared office IP from being blocked.
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return request.remote_addr or ""
