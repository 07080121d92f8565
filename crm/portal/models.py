"""A portal account's request to act for an existing firm; staff of a related consortium decide it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.auth.models import User
    from crm.firms.models import Firm


class ClaimStatus(LabelledEnum):
    pending = "pending"
    approved = "approved"
    refused = "refused"

    @classmethod
    def _titles(cls):
        return {
            cls.pending: _l("Awaiting approval"),
            cls.approved: _l("Approved"),
            cls.refused: _l("Refused"),
        }


CLAIM_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.pending: frozenset({ClaimStatus.approved, ClaimStatus.refused}),
    ClaimStatus.approved: frozenset(),
    ClaimStatus.refused: frozenset(),
}


class FirmClaim(db.Model):
    __tablename__ = "firm_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    status: Mapped[ClaimStatus] = mapped_column(
        enum_type(ClaimStatus, "claim_status"), default=ClaimStatus.pending
    )
    message: Mapped[str] = mapped_column(sa.Text, default="")  # what the applicant says about itself
    # What the claimant typed at sign-up for the contact record it becomes once approved.
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    consent_admin_info_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_marketing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    firm: Mapped[Firm] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins all; a consortium's managers and coordinators the claims on firms related to it."""
        from crm.auth.models import Role
        from crm.firms.models import FirmLink

        if user.role is Role.admin:
            return sa.true()
        if user.role in (Role.consortium_manager, Role.coordinator) and user.scope_consortium_id:
            return cls.firm_id.in_(
                sa.select(FirmLink.firm_id).where(FirmLink.consortium_id == user.scope_consortium_id)
            )
        return sa.false()
