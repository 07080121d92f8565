"""Pages of the training feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("training", __name__)
