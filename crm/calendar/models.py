"""A personal iCal feed: the secret in the feed's address is the only credential a calendar app has, so only
its SHA-256 is stored; the address is shown once when the feed is made. A user has at most one live feed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db


class CalendarToken(db.Model):
    __tablename__ = "calendar_tokens"
    __table_args__ = (
        # One live feed per user, even when two browsers create one at the same moment.
        sa.Index(
            "uq_calendar_tokens_live_user",
            "user_id",
            unique=True,
            postgresql_where=sa.text("revoked_at IS NULL"),
            sqlite_where=sa.text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<CalendarToken {self.id} user={self.user_id} {'live' if self.is_live else 'revoked'}>"
