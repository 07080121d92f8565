"""Importing this module registers every API route on the blueprint."""

from __future__ import annotations

from crm.api import (  # noqa: F401
    applications,
    auth,
    engagements,
    firms,
    notices,
    programmes,
)
from crm.api.core import bp

__all__ = ["bp"]
