"""Pages of the infrastructure feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("infrastructure", __name__)
