"""Security headers on every response and the reverse-proxy switch.

The headers are set in an `after_request` hook: Flask runs it for error-handler responses too (404, 500,
JSON errors under /api/), so no page leaves without them. The CSP allows no inline script, which is why
behaviour lives in static/js/app.js and templates carry data-* attributes instead of on…= handlers.
"""

from __future__ import annotations

from flask import Flask, Response, current_app

# Styles still allow 'unsafe-inline': several templates and server-drawn SVG charts use style="…"
# attributes, and inline styles cannot run code, unlike inline script.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
        "form-action 'self'",
    )
)
HSTS_ONE_YEAR = "max-age=31536000; includeSubDomains"

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    # Only where the site is served over HTTPS; HSTS on a plain-HTTP development server would lock
    # browsers out of localhost for a year.
    if current_app.config.get("HSTS_ENABLED"):
        response.headers.setdefault("Strict-Transport-Security", HSTS_ONE_YEAR)
    return response


def apply_proxy_fix(app: Flask) -> None:
    """Behind a reverse proxy (TRUSTED_PROXIES=n) take client IP, scheme and host from its X-Forwarded-*
    headers; without the flag those headers are ignored so nobody can spoof them directly."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def register_security(app: Flask) -> None:
    app.after_request(add_security_headers)
    apply_proxy_fix(app)
