"""Stored files. The bytes live outside `static/` under generated names; rows keep who, what and a SHA-256."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User


class Document(db.Model):
    """One version of one document of an owner (an application now; engagements later). Replacing a
    document adds a new row and marks the old one superseded, so earlier versions stay downloadable."""

    __tablename__ = "documents"
    __table_args__ = (
        sa.CheckConstraint("size >= 0", name="size_not_negative"),
        sa.CheckConstraint("application_id IS NOT NULL OR engagement_id IS NOT NULL", name="has_owner"),
        sa.Index("ix_documents_application_kind", "application_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("applications.id", ondelete="CASCADE"))
    engagement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(50))
    filename: Mapped[str] = mapped_column(sa.String(255))  # as uploaded, for the download name only
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)  # generated; never user input
    content_type: Mapped[str] = mapped_column(sa.String(120))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    uploaded_by: Mapped[User | None] = relationship()

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None
