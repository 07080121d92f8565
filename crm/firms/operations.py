"""The firm registry: register and edit firms, their contacts and yearly financials; search. Never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.audit.operations import apply_changes, diff, log_personal_data_access, record_audit
from crm.auth.models import STAFF_ROLES, Role, User
from crm.core.db import utcnow
from crm.core.exceptions import Conflict, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.extensions import db
from crm.firms import ksic, regions
from crm.firms.identifiers import (
    InvalidIdentifier,
    hangul_initials,
    is_initials_query,
    normalize_brn,
    normalize_corp_no,
)
from crm.firms.models import BusinessStatus, Contact, Firm, FirmFinancial, FirmLink, LinkKind

FIRST_FINANCIAL_YEAR = 1950

BRN_PROBLEMS = {
    "not_digits": _l("Enter the business registration number in digits, with or without dashes."),
    "wrong_length": _l("A business registration number has 10 digits, e.g. 124-81-00998."),
    "checksum": _l("This business registration number is not valid (the check digit does not match)."),
}
CORP_NO_PROBLEMS = {
    "not_digits": _l("Enter the corporate registration number in digits, with or without a dash."),
    "wrong_length": _l("A corporate registration number has 13 digits, e.g. 110111-0062432."),
    "checksum": _l("This corporate registration number is not valid (the check digit does not match)."),
}
DUPLICATE_BRN = _l("A firm with this business registration number is already registered.")


def brn_problem(value: str) -> Any | None:
    """The message for a malformed BRN, or None; shared by the form and the operation."""
    try:
        normalize_brn(value)
    except InvalidIdentifier as error:
        return BRN_PROBLEMS[error.reason]
    return None


def corp_no_problem(value: str) -> Any | None:
    try:
        normalize_corp_no(value)
    except InvalidIdentifier as error:
        return CORP_NO_PROBLEMS[error.reason]
    return None


def sigungu_problem(sigungu: str | None, sido: str | None) -> Any | None:
    if not sigungu:
        return None
    if not regions.is_valid_sigungu(sigungu):
        return _l("Choose a 시군구 from the list.")
    if sido and not regions.is_valid_sigungu(sigungu, sido):
        return _l("This 시군구 is not in the chosen 시도.")
    return None


def ksic_problem(code: str | None) -> Any | None:
    if code and not ksic.is_valid_ksic(code):
        return _l("Enter a KSIC code of the official list, e.g. 26110.")
    return None


def founded_on_problem(founded_on: date | None) -> Any | None:
    if founded_on is not None and founded_on > today_kst():
        return _l("The founding date cannot be in the future.")
    return None


@dataclass
class FirmData:
    name: str
    brn: str = ""  # read only at registration: a BRN never changes
    corp_no: str = ""
    ceo_name: str = ""
    founded_on: date | None = None
    address: str = ""
    sido_code: str = ""
    sigungu_code: str = ""
    ksic_code: str = ""
    ksic_revision: int | None = None
    employees: int | None = None
    sme_certificate_expires_on: date | None = None
    business_status: BusinessStatus = BusinessStatus.active
    is_supplier: bool = False
    solutions_offered: str = ""


@dataclass
class ContactData:
    name: str
    position: str = ""
    phone: str = ""
    email: str = ""
    is_primary: bool = False
    consent_privacy: bool = False
    consent_admin_info: bool = False
    consent_marketing: bool = False


# --- permissions ------------------------------------------------------------------------------------


def _require_staff(actor: User) -> None:
    if actor.role not in STAFF_ROLES:
        raise RuleViolation("forbidden", _l("Your role does not allow this action."))


def _require_visible(firm: Firm, actor: User) -> None:
    _require_staff(actor)
    visible = db.session.scalar(sa.select(Firm.id).where(Firm.id == firm.id, Firm.visible_to(actor)))
    if visible is None:
        raise RuleViolation("not_visible", _l("You may not see this firm."))


def _require_contacts_visible(firm: Firm, actor: User) -> None:
    _require_visible(firm, actor)
    if not firm.contacts_visible_to(actor):
        raise RuleViolation(
            "contacts_hidden", _l("Only the institutions working with this firm may see its contacts.")
        )


# --- firms ------------------------------------------------------------------------------------------


def firm_values_and_problems(data: FirmData) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Normalised column values (everything but the BRN) and the problems found."""
    problems: dict[str, list[Any]] = {}
    name = (data.name or "").strip()
    if not name:
        problems["name"] = [_l("Enter the firm's name.")]

    corp_no = None
    if (data.corp_no or "").strip():
        if message := corp_no_problem(data.corp_no):
            problems["corp_no"] = [message]
        else:
            corp_no = normalize_corp_no(data.corp_no)

    sido = (data.sido_code or "").strip() or None
    sigungu = (data.sigungu_code or "").strip() or None
    if sido is not None and sido not in regions.SIDO:
        problems["sido_code"] = [_l("Choose a 시도 from the list.")]
    if sido is None and sigungu is not None and regions.is_valid_sigungu(sigungu):
        sido = sigungu[:2]  # the first two digits of a 시군구 code are its 시도
    if message := sigungu_problem(sigungu, sido):
        problems["sigungu_code"] = [message]

    ksic_code = (data.ksic_code or "").strip() or None
    revision = data.ksic_revision
    if ksic_code is not None:
        if message := ksic_problem(ksic_code):
            problems["ksic_code"] = [message]
        if revision is None:
            revision = max(ksic.KSIC_REVISIONS)
    if revision is not None and revision not in ksic.KSIC_REVISIONS:
        problems["ksic_revision"] = [_l("Choose KSIC revision 10 or 11.")]
    if ksic_code is None:
        revision = None

    if data.employees is not None and data.employees < 0:
        problems["employees"] = [_l("The number of employees cannot be negative.")]
    if message := founded_on_problem(data.founded_on):
        problems["founded_on"] = [message]

    values = {
        "name": name,
        "name_initials": hangul_initials(name),
        "corp_no": corp_no,
        "ceo_name": (data.ceo_name or "").strip(),
        "founded_on": data.founded_on,
        "address": (data.address or "").strip(),
        "sido_code": sido,
        "sigungu_code": sigungu,
        "ksic_code": ksic_code,
        "ksic_revision": revision,
        "employees": data.employees,
        "sme_certificate_expires_on": data.sme_certificate_expires_on,
        "business_status": BusinessStatus(data.business_status),
        "is_supplier": bool(data.is_supplier),
        "solutions_offered": (data.solutions_offered or "").strip() if data.is_supplier else "",
    }
    return values, problems


def _link_actor(firm: Firm, actor: User, grants_contacts: bool = True) -> FirmLink | None:
    """The actor's consortium (and institution, for a coordinator) registered this firm."""
    consortium_id = actor.scope_consortium_id
    if consortium_id is None:
        return None
    link = FirmLink(
        firm=firm,
        consortium_id=consortium_id,
        institution_id=actor.institution_id if actor.role is Role.coordinator else None,
        kind=LinkKind.registered,
        grants_contacts=grants_contacts,
    )
    db.session.add(link)
    db.session.flush()
    record_audit(
        "firm.link",
        firm,
        {
            "consortium_id": link.consortium_id,
            "institution_id": link.institution_id,
            "kind": link.kind,
            "grants_contacts": grants_contacts,
        },
        actor=actor,
    )
    return link


def _duplicate(existing: Firm, actor: User) -> Conflict:
    """The BRN is taken. BRNs are public registry data, so staff of a consortium that cannot see the firm
    yet get a link to its company data (not its contacts), and the "open it" link they are shown works."""
    if actor.role is not Role.admin and actor.scope_consortium_id is not None:
        already = db.session.scalar(
            sa.select(FirmLink.id).where(
                FirmLink.firm_id == existing.id, FirmLink.consortium_id == actor.scope_consortium_id
            )
        )
        if already is None:
            _link_actor(existing, actor, grants_contacts=False)
    return Conflict(DUPLICATE_BRN, existing_id=existing.id, fields={"brn": [DUPLICATE_BRN]})


def _existing_by_brn(brn: str) -> Firm | None:
    return db.session.scalar(sa.select(Firm).where(Firm.brn == brn))


def register_firm(data: FirmData, actor: User) -> Firm:
    """Adds a firm; a BRN that is already registered raises Conflict and creates nothing (see _duplicate).

    The caller commits even on Conflict, so the link that makes the existing firm reachable is kept."""
    _require_staff(actor)
    if actor.role is not Role.admin and actor.scope_consortium_id is None:
        raise RuleViolation("no_scope", _l("Your account is not attached to a consortium."))
    problems: dict[str, list[Any]] = {}
    brn = None
    if message := brn_problem(data.brn):
        problems["brn"] = [message]
    else:
        brn = normalize_brn(data.brn)
        if (existing := _existing_by_brn(brn)) is not None:
            raise _duplicate(existing, actor)
    values, value_problems = firm_values_and_problems(data)
    problems.update(value_problems)
    if problems:
        raise ValidationFailed(problems)

    firm = Firm(brn=brn, registered_by_id=actor.id, **values)
    try:
        # A savepoint, so a concurrent registration of the same BRN turns into a Conflict, not a 500.
        with db.session.begin_nested():
            db.session.add(firm)
            db.session.flush()
    except sa.exc.IntegrityError:
        existing = _existing_by_brn(brn)
        if existing is None:
            raise
        raise _duplicate(existing, actor) from None
    record_audit("firm.create", firm, {"brn": brn, **values}, actor=actor)
    _link_actor(firm, actor)
    return firm


def update_firm(firm: Firm, data: FirmData, actor: User) -> Firm:
    """Changes everything but the BRN, which identifies the firm for good."""
    _require_visible(firm, actor)
    values, problems = firm_values_and_problems(data)
    if problems:
        raise ValidationFailed(problems)
    if values.get("business_status") != firm.business_status:
        values["business_status_checked_at"] = utcnow()
    apply_changes(firm, values, "firm.update", actor)
    return firm


def set_financials(
    firm: Firm,
    year: int,
    revenue_krw: int | None,
    assets_krw: int | None,
    exports_krw: int | None,
    actor: User,
) -> FirmFinancial:
    """Adds or replaces one fiscal year's figures."""
    _require_visible(firm, actor)
    problems: dict[str, list[Any]] = {}
    last = today_kst().year + 1
    if year is None or not FIRST_FINANCIAL_YEAR <= year <= last:
        problems["year"] = [
            _l("Enter a year between %(first)s and %(last)s.", first=FIRST_FINANCIAL_YEAR, last=last)
        ]
    for name, amount in (
        ("revenue_krw", revenue_krw),
        ("assets_krw", assets_krw),
        ("exports_krw", exports_krw),
    ):
        if amount is not None and amount < 0:
            problems[name] = [_l("An amount cannot be negative.")]
    if problems:
        raise ValidationFailed(problems)
    values = {"revenue_krw": revenue_krw, "assets_krw": assets_krw, "exports_krw": exports_krw}
    row = db.session.scalar(
        sa.select(FirmFinancial).where(FirmFinancial.firm_id == firm.id, FirmFinancial.year == year)
    )
    if row is None:
        row = FirmFinancial(firm=firm, year=year, **values)
        db.session.add(row)
        changes = {key: [None, value] for key, value in values.items()}
    else:
        changes = diff(row, values)
        for key, value in values.items():
            setattr(row, key, value)
    db.session.flush()
    if changes:
        record_audit("firm.financials", firm, {"year": year, **changes}, actor=actor)
    return row


# --- contacts ---------------------------------------------------------------------------------------


def contacts_for_page(firm: Firm, actor: User, purpose: str = "firm page") -> list[Contact] | None:
    """The contacts the actor may see, or None when hidden; each time staff see them it is access-logged."""
    if not firm.contacts_visible_to(actor):
        return None
    contacts = list(firm.contacts)
    if contacts and actor.role in STAFF_ROLES:
        log_personal_data_access("view_contacts", firm, purpose=purpose, actor=actor)
    return contacts


def log_brn_view(firm: Firm, actor: User, purpose: str = "firm page") -> None:
    """A sole proprietor's (개인사업자) BRN identifies a person: staff seeing it in full are access-logged."""
    if firm.is_sole_proprietor and actor.role in STAFF_ROLES:
        log_personal_data_access("view_brn", firm, purpose=purpose, actor=actor)


def open_contact_for_edit(contact: Contact, actor: User) -> Contact:
    """The edit form shows one contact's personal data: that view is access-logged too."""
    _require_contacts_visible(contact.firm, actor)
    log_personal_data_access("view_contact", contact, purpose="contact edit", actor=actor)
    return contact


def contact_values(data: ContactData, contact: Contact | None) -> dict[str, Any]:
    problems: dict[str, list[Any]] = {}
    name = (data.name or "").strip()
    if not name:
        problems["name"] = [_l("Enter the contact's name.")]
    email = (data.email or "").strip().lower()
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        problems["email"] = [_l("Enter a valid e-mail address.")]
    if problems:
        raise ValidationFailed(problems)

    def consent(given: bool, previous: Any) -> Any:
        # Keep the original time of a consent that is still given; a new one is dated now.
        return (previous or utcnow()) if given else None

    return {
        "name": name,
        "position": (data.position or "").strip(),
        "phone": (data.phone or "").strip(),
        "email": email,
        "is_primary": bool(data.is_primary),
        "consent_privacy_at": consent(data.consent_privacy, contact and contact.consent_privacy_at),
        "consent_admin_info_at": consent(data.consent_admin_info, contact and contact.consent_admin_info_at),
        "consent_marketing_at": consent(data.consent_marketing, contact and contact.consent_marketing_at),
    }


def keep_one_primary(firm: Firm, keep: Contact) -> None:
    for other in firm.contacts:
        if other is not keep and other.is_primary:
            other.is_primary = False


def add_contact(firm: Firm, data: ContactData, actor: User) -> Contact:
    _require_contacts_visible(firm, actor)
    contact = Contact(firm=firm, **contact_values(data, None))
    db.session.add(contact)
    db.session.flush()
    if contact.is_primary:
        keep_one_primary(firm, contact)
    # The audit trail names the fields, not the personal data itself.
    record_audit("contact.create", contact, {"firm_id": firm.id}, actor=actor)
    return contact


def update_contact(contact: Contact, data: ContactData, actor: User) -> Contact:
    _require_contacts_visible(contact.firm, actor)
    values = contact_values(data, contact)
    changed = sorted(diff(contact, values))
    for key, value in values.items():
        setattr(contact, key, value)
    if contact.is_primary:
        keep_one_primary(contact.firm, contact)
    db.session.flush()
    if changed:
        record_audit("contact.update", contact, {"firm_id": contact.firm_id, "fields": changed}, actor=actor)
    return contact


def delete_contact(contact: Contact, actor: User) -> None:
    _require_contacts_visible(contact.firm, actor)
    record_audit("contact.delete", contact, {"firm_id": contact.firm_id}, actor=actor)
    db.session.delete(contact)
    db.session.flush()


# --- search -----------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-]")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_or_brn_matches(q: str) -> sa.ColumnElement[bool]:
    """Part of the firm's name, or (for three or more digits, dashes and spaces ignored) part of its BRN."""
    pattern = f"%{_escape_like(q)}%"
    # ILIKE lower-cases every name it reads, several times the cost of LIKE on Hangul text (a full scan of
    # 100,000 names where no trigram index applies); Hangul and digits have no case, so LIKE finds the same.
    has_case = q.lower() != q.upper()
    condition = Firm.name.ilike(pattern, escape="\\") if has_case else Firm.name.like(pattern, escape="\\")
    digits = _SEPARATORS.sub("", q)
    if digits.isascii() and digits.isdigit() and len(digits) >= 3:
        condition = sa.or_(condition, Firm.brn.contains(digits, autoescape=True))
    return condition


def ksic_divisions(section: str) -> list[str]:
    """The two-digit divisions (01–99) of a KSIC section letter."""
    return sorted(division for division, letter in ksic.DIVISIONS.items() if letter == section)


def search_firms(
    user: User, q: str = "", sido: str = "", sigungu: str = "", ksic_filter: str = ""
) -> sa.Select:
    """Firms the user may see, matching the query and filters, ordered by name. Unknown filter values are
    ignored rather than answered with an empty list."""
    statement = sa.select(Firm).where(Firm.visible_to(user))
    q = (q or "").strip()
    if q:
        if is_initials_query(q):
            statement = statement.where(Firm.name_initials.contains(q.replace(" ", ""), autoescape=True))
        else:
            statement = statement.where(name_or_brn_matches(q))
    if sido and sido in regions.SIDO:
        statement = statement.where(Firm.sido_code == sido)
    if sigungu and regions.is_valid_sigungu(sigungu):
        statement = statement.where(Firm.sigungu_code == sigungu)
    ksic_filter = (ksic_filter or "").strip().upper()
    if re.fullmatch(r"\d{1,5}", ksic_filter):
        statement = statement.where(Firm.ksic_code.startswith(ksic_filter, autoescape=True))
    elif re.fullmatch(r"[A-U]", ksic_filter):
        # A section's divisions are consecutive (C = 10–34), so a range of the indexed 5-digit codes.
        divisions = ksic_divisions(ksic_filter)
        statement = statement.where(Firm.ksic_code.between(divisions[0], divisions[-1] + "999"))
    return statement.order_by(Firm.name, Firm.id)
