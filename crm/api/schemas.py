"""Schemas shared by every part of the API (the objects of each feature live with their endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# The id columns are 32-bit integers on PostgreSQL: a larger id exists nowhere and must never reach a query.
MAX_ID = 2**31 - 1


def storable_text(value: str) -> str:
    """Text PostgreSQL can store: no NUL character and no lone surrogate (JSON allows both)."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("invalid characters") from None
    return value


StorableText = Annotated[str, AfterValidator(storable_text)]
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, so a typo is a 422 instead of a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None
    existing_id: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class UserOut(BaseModel):
    id: int
    email: str
    role: str


class TokenIn(Strict):
    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(default="", max_length=100)
    # The current TOTP (or a recovery) code; required for accounts that use two-step sign-in.
    otp: str | None = Field(default=None, max_length=20)


class TokenOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserOut


class TransitionIn(Strict):
    to: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=5000)
