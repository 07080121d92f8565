"""applications pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("applications", __name__)
