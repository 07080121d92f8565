from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, enum_type
from crm.core.enums import LabelledEnum
from crm.extensions import db

if TYPE_CHECKING:
    from crm.programmes.models import ProgrammeYear


class InstitutionRole(LabelledEnum):
    lead = "lead"
    performing = "performing"
    support = "support"

    @classmethod
    def _titles(cls):
        return {
            cls.lead: _l("Lead institution"),
            cls.performing: _l("Performing institution"),
            cls.support: _l("Supporting institution"),
        }


class Consortium(TimestampMixin, db.Model):
    """A regional AI 사업단."""

    __tablename__ = "consortia"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    sido_code: Mapped[str] = mapped_column(sa.String(2), index=True)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    institutions: Mapped[list[Institution]] = relationship(
        back_populates="consortium", order_by="Institution.id"
    )
    programme_years: Mapped[list[ProgrammeYear]] = relationship(
        back_populates="consortium", order_by="ProgrammeYear.ordinal"
    )

    @property
    def lead_institution(self) -> Institution | None:
        return next((i for i in self.institutions if i.role is InstitutionRole.lead), None)

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Admins see every consortium; its managers and coordinators only their own."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return sa.true()
        if user.role in (Role.consortium_manager, Role.coordinator) and user.scope_consortium_id:
            return cls.id == user.scope_consortium_id
        return sa.false()

    def can_manage(self, user: Any) -> bool:
        """Admins manage any consortium's institutions and years; a manager only its own."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return True
        return user.role is Role.consortium_manager and user.scope_consortium_id == self.id

    def __str__(self) -> str:
        return self.name


class Institution(TimestampMixin, db.Model):
    """An institution in a consortium: the lead (주관), a performing (수행) or a supporting (지원) one."""

    __tablename__ = "institutions"
    __table_args__ = (sa.UniqueConstraint("consortium_id", "name", name="uq_institutions_consortium_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consortium_id: Mapped[int] = mapped_column(sa.ForeignKey("consortia.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[InstitutionRole] = mapped_column(enum_type(InstitutionRole, "institution_role"))

    consortium: Mapped[Consortium] = relationship(back_populates="institutions")

    def __str__(self) -> str:
        return self.name
