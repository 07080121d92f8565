"""Pages of the milestones feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("milestones", __name__)
