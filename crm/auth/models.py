from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.firms.models import Firm
    from crm.organisation.models import Consortium, Institution


class Role(LabelledEnum):
    admin = "admin"
    consortium_manager = "consortium_manager"
    coordinator = "coordinator"
    evaluator = "evaluator"
    national_viewer = "national_viewer"
    firm_user = "firm_user"

    @classmethod
    def _titles(cls):
        return {
            cls.admin: _l("Administrator"),
            cls.consortium_manager: _l("Consortium manager"),
            cls.coordinator: _l("Coordinator"),
            cls.evaluator: _l("Evaluator"),
            cls.national_viewer: _l("National viewer"),
            cls.firm_user: _l("Firm user"),
        }


STAFF_ROLES = frozenset({Role.admin, Role.consortium_manager, Role.coordinator})
CASE_ROLES = frozenset({Role.consortium_manager, Role.coordinator})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class User(TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, "role"))
    consortium_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consortia.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    firm_id: Mapped[int | None] = mapped_column(sa.ForeignKey("firms.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(5))  # None: follow the browser
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Portal accounts sign up themselves and must prove the address; staff accounts are made by an admin.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Two-step sign-in (crm/auth/mfa.py): the base32 TOTP secret, set at enrolment and confirmed by a code.
    mfa_secret: Mapped[str | None] = mapped_column(sa.String(64))
    mfa_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last TOTP time step accepted, so an observed code cannot be replayed within its window.
    mfa_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # SHA-256 hashes of the unused recovery codes; a used code is removed from the list.
    mfa_recovery_hashes: Mapped[list | None] = mapped_column(sa.JSON)

    consortium: Mapped[Consortium | None] = relationship()
    institution: Mapped[Institution | None] = relationship()
    firm: Mapped[Firm | None] = relationship(foreign_keys=[firm_id])

    # Flask-Login protocol; `is_active` is the column above.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def scope_consortium_id(self) -> int | None:
        """The consortium whose case work this user may see (a coordinator's comes from its institution)."""
        if self.role is Role.coordinator and self.institution is not None:
            return self.institution.consortium_id
        if self.role is Role.consortium_manager:
            return self.consortium_id
        return None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"


class UserSession(db.Model):
    """One signed-in browser. The cookie carries a random key whose hash is stored here, so ending the
    row (logout, password change, deactivation) refuses that cookie even if someone kept a copy."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(255))

    user: Mapped[User] = relationship()

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(32)


class LoginFailure(db.Model):
    """Failed sign-ins by e-mail, whether or not the account exists, so lockout reveals nothing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45))


class EmailToken(db.Model):
    """A single-use, expiring link sent by e-mail (address verification). Only the hash is stored."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(30))  # "verify_email"
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
