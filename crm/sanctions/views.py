"""sanctions pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sanctions", __name__)
