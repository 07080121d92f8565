"""Pages of the diagnosis feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("diagnosis", __name__)
