from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import TimestampMixin, UTCDateTime, enum_type, utcnow
from crm.core.enums import LabelledEnum
from crm.extensions import db
from crm.firms import ksic, regions
from crm.firms.identifiers import format_brn, format_corp_no, is_sole_proprietor_brn, mask_brn
from crm.privacy.retention import contact_retention_until

if TYPE_CHECKING:
    from crm.organisation.models import Consortium, Institution


class BusinessStatus(LabelledEnum):
    """국세청 사업자 상태: 계속사업자 / 휴업자 / 폐업자."""

    active = "active"
    suspended = "suspended"
    closed = "closed"

    @classmethod
    def _titles(cls):
        return {cls.active: _l("Active"), cls.suspended: _l("Suspended"), cls.closed: _l("Closed")}


class LinkKind(LabelledEnum):
    """Why a firm is related to a consortium; any link lets that consortium's staff see company data."""

    registered = "registered"
    applied = "applied"
    engaged = "engaged"

    @classmethod
    def _titles(cls):
        return {cls.registered: _l("Registered"), cls.applied: _l("Applied"), cls.engaged: _l("Engaged")}


class Firm(TimestampMixin, db.Model):
    __tablename__ = "firms"
    __table_args__ = (
        sa.CheckConstraint("employees IS NULL OR employees >= 0", name="employees_not_negative"),
        # The list's order and its keyset cursor (crm.core.pagination): a page after (name, id) starts
        # where the index is entered, however deep it is.
        sa.Index("ix_firms_name_id", "name", "id"),
        # Search by part of the name, of the 초성 or of the BRN (LIKE '%…%', three characters or more) on
        # PostgreSQL; needs the pg_trgm extension. SQLite gets plain indexes it does not use for this.
        *(
            sa.Index(
                f"ix_firms_{column}_trgm",
                column,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )
            for column in ("name", "name_initials", "brn")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brn: Mapped[str] = mapped_column(sa.String(10), unique=True)  # 사업자등록번호, 10 digits
    corp_no: Mapped[str | None] = mapped_column(sa.String(13))  # 법인등록번호, 13 digits
    name: Mapped[str] = mapped_column(sa.String(200))
    name_initials: Mapped[str] = mapped_column(sa.String(200), default="")  # 초성 for search
    ceo_name: Mapped[str] = mapped_column(sa.String(100), default="")
    founded_on: Mapped[date | None]
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    sido_code: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    sigungu_code: Mapped[str | None] = mapped_column(sa.String(5), index=True)
    ksic_code: Mapped[str | None] = mapped_column(sa.String(5), index=True)
    ksic_revision: Mapped[int | None]
    employees: Mapped[int | None]
    sme_certificate_expires_on: Mapped[date | None]
    business_status: Mapped[BusinessStatus] = mapped_column(
        enum_type(BusinessStatus, "business_status"), default=BusinessStatus.active, server_default="active"
    )
    business_status_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_supplier: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    solutions_offered: Mapped[str] = mapped_column(sa.Text, default="")
    registered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", use_alter=True))

    contacts: Mapped[list[Contact]] = relationship(back_populates="firm", order_by="Contact.id")
    financials: Mapped[list[FirmFinancial]] = relationship(
        back_populates="firm", order_by="FirmFinancial.year.desc()"
    )
    links: Mapped[list[FirmLink]] = relationship(back_populates="firm")

    @property
    def brn_display(self) -> str:
        return format_brn(self.brn)

    @property
    def is_sole_proprietor(self) -> bool:
        return is_sole_proprietor_brn(self.brn)

    @property
    def brn_masked(self) -> str:
        """For lists and exports: a sole proprietor's BRN is personal data, in full only on the firm page."""
        return mask_brn(self.brn)

    @property
    def corp_no_display(self) -> str:
        return format_corp_no(self.corp_no) if self.corp_no else ""

    @property
    def region_name(self) -> str:
        """The region as "울산광역시 남구", or the 시도 alone when no 시군구 is recorded."""
        return regions.sigungu_full_name(self.sigungu_code) or regions.sido_name(self.sido_code) or ""

    @property
    def ksic_section(self) -> str | None:
        return ksic.section_of(self.ksic_code)

    @property
    def ksic_section_name(self) -> str:
        return ksic.section_name(self.ksic_section) or ""

    @property
    def latest_financial(self) -> FirmFinancial | None:
        return self.financials[0] if self.financials else None

    @property
    def revenue_krw(self) -> int | None:
        latest = self.latest_financial
        return latest.revenue_krw if latest else None

    @classmethod
    def visible_to(cls, user: Any) -> sa.ColumnElement[bool]:
        """Company data visibility (DESIGN.md §2): admins all; a consortium's managers and coordinators every
        firm related to it; a firm user its own firm; nobody else any."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return sa.true()
        if user.role in (Role.consortium_manager, Role.coordinator) and user.scope_consortium_id:
            return sa.exists().where(
                FirmLink.firm_id == cls.id, FirmLink.consortium_id == user.scope_consortium_id
            )
        if user.role is Role.firm_user and user.firm_id:
            return cls.id == user.firm_id
        return sa.false()

    def contacts_visible_to(self, user: Any) -> bool:
        """Personal data visibility (DESIGN.md §2), stricter than company data: admins; a consortium manager
        when a contact-sharing link ties the firm to its consortium; a coordinator only when such a link names
        its own institution; a firm user for its own firm; nobody else."""
        from crm.auth.models import Role

        if user.role is Role.admin:
            return True
        if user.role is Role.firm_user:
            return user.firm_id is not None and user.firm_id == self.id
        sharing = [link for link in self.links if link.grants_contacts]
        if user.role is Role.consortium_manager and user.scope_consortium_id:
            return any(link.consortium_id == user.scope_consortium_id for link in sharing)
        if user.role is Role.coordinator and user.institution_id:
            return any(link.institution_id == user.institution_id for link in sharing)
        return False

    def sme_certificate_valid_on(self, day: date) -> bool:
        return self.sme_certificate_expires_on is not None and self.sme_certificate_expires_on >= day

    def __str__(self) -> str:
        return self.name


class FirmFinancial(db.Model):
    """One fiscal year's figures, in 원."""

    __tablename__ = "firm_financials"
    __table_args__ = (sa.UniqueConstraint("firm_id", "year", name="uq_firm_financials_firm_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    revenue_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    assets_krw: Mapped[int | None] = mapped_column(sa.BigInteger)
    exports_krw: Mapped[int | None] = mapped_column(sa.BigInteger)

    firm: Mapped[Firm] = relationship(back_populates="financials")


class Contact(TimestampMixin, db.Model):
    """A person at a firm. Personal data: masked where not needed, every staff view logged."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[str] = mapped_column(sa.String(100), default="")
    phone: Mapped[str] = mapped_column(sa.String(30), default="")
    email: Mapped[str] = mapped_column(sa.String(254), default="")
    is_primary: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A consent is given at the timestamp, or absent (None).
    consent_privacy_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_admin_info_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_marketing_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when written and whenever the privacy consent changes (crm.privacy.retention); the purge deletes
    # the contact after this day.
    retention_until: Mapped[date | None] = mapped_column(sa.Date, index=True)

    firm: Mapped[Firm] = relationship(back_populates="contacts")


@sa.event.listens_for(Contact, "before_insert")
def _contact_retention_on_insert(_mapper: Any, _connection: Any, contact: Contact) -> None:
    if contact.retention_until is None:
        contact.retention_until = contact_retention_until(contact.consent_privacy_at)


@sa.event.listens_for(Contact, "before_update")
def _contact_retention_on_update(_mapper: Any, _connection: Any, contact: Contact) -> None:
    consent = sa.inspect(contact).attrs.consent_privacy_at.history
    retention = sa.inspect(contact).attrs.retention_until.history
    if consent.has_changes() and not retention.has_changes():
        contact.retention_until = contact_retention_until(contact.consent_privacy_at)


class FirmLink(db.Model):
    """A firm related to a consortium (registered by its staff, applied to it, or engaged by it)."""

    __tablename__ = "firm_links"
    __table_args__ = (
        sa.UniqueConstraint(
            "firm_id", "consortium_id", "institution_id", "kind", name="uq_firm_links_firm_consortium_kind"
        ),
        sa.Index("ix_firm_links_consortium_firm", "consortium_id", "firm_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    firm_id: Mapped[int] = mapped_column(sa.ForeignKey("firms.id", ondelete="CASCADE"))
    consortium_id: Mapped[int] = mapped_column(sa.ForeignKey("consortia.id"))
    # The institution behind the link (who registered it, whose programme it applied to or is engaged in):
    # coordinators see contacts only of firms linked to their own institution.
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    kind: Mapped[LinkKind] = mapped_column(enum_type(LinkKind, "link_kind"))
    # False for the link added when staff of another consortium try to register a BRN that already exists:
    # it lets them open the firm's company data (public registry facts) but not the contacts others entered.
    grants_contacts: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    firm: Mapped[Firm] = relationship(back_populates="links")
    consortium: Mapped[Consortium] = relationship()
    institution: Mapped[Institution | None] = relationship()
