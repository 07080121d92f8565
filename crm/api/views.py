"""Importing this module registers every API route on the blueprint."""

from __future__ import annotations

from crm.api import auth  # noqa: F401
from crm.api.core import bp

__all__ = ["bp"]
