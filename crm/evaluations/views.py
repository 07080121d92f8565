"""evaluations pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("evaluations", __name__)
