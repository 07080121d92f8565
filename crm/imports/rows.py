"""The verdict on one import row: create, update (and what changes), no change, or invalid with every
reason. The same function serves the dry run and the apply, so the apply does what the preview showed
unless the registry changed in between. Validation is the firm registry's own (crm.firms.operations);
this module only turns spreadsheet text into its FirmData and ContactData."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from crm.audit.operations import diff
from crm.auth.models import User
from crm.core.exceptions import ValidationFailed
from crm.extensions import db
from crm.firms.identifiers import normalize_brn
from crm.firms.models import Contact, Firm
from crm.firms.operations import ContactData, FirmData, brn_problem, contact_values, firm_values_and_problems
from crm.imports.mapping import (
    CONTACT_KEYS,
    parse_date,
    parse_whole_number,
    region_from_address,
    resolve_sido,
    resolve_sigungu,
)
from crm.imports.models import RowAction

# The firm columns an import writes (and a revert restores); name_initials follows the name.
FIRM_COLUMNS: tuple[str, ...] = (
    "name",
    "name_initials",
    "corp_no",
    "ceo_name",
    "founded_on",
    "address",
    "sido_code",
    "sigungu_code",
    "ksic_code",
    "ksic_revision",
    "employees",
)
CONTACT_COLUMNS: tuple[str, ...] = ("name", "position", "phone", "email")
# The registry's problem keys → the import field whose column caused them.
_FIRM_PROBLEM_FIELDS = {"sido_code": "sido", "sigungu_code": "sigungu", "ksic_revision": "ksic_code"}
_CONTACT_PROBLEM_FIELDS = {"name": "contact_name", "email": "contact_email"}
LOOKUP_CHUNK = 500
_KSIC = re.compile(r"[A-Ua-u]?\s*(\d{5})")


@dataclass
class Lookup:
    """The registered firms a batch of rows names (with links and contacts loaded), and which of them the
    actor may see: three queries per batch, none per row."""

    firms: dict[str, Firm]
    visible: set[int]


def load_lookup(brns: Iterable[str | None], actor: User) -> Lookup:
    wanted = sorted({brn for brn in brns if brn})
    firms: dict[str, Firm] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        statement = (
            sa.select(Firm)
            .where(Firm.brn.in_(chunk))
            .options(selectinload(Firm.links), selectinload(Firm.contacts))
        )
        firms.update({firm.brn: firm for firm in db.session.scalars(statement)})
    ids = [firm.id for firm in firms.values()]
    visible: set[int] = set()
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        visible.update(
            db.session.scalars(sa.select(Firm.id).where(Firm.id.in_(chunk), Firm.visible_to(actor)))
        )
    return Lookup(firms, visible)


def row_brn(raw: dict[str, str]) -> str | None:
    """The row's BRN as 10 digits, or None when missing or malformed."""
    text = (raw.get("brn") or "").strip()
    if not text or brn_problem(text) is not None:
        return None
    return normalize_brn(text)


def firm_data_of(firm: Firm) -> FirmData:
    """A registered firm's current values as the registry's form data, to change a few of them."""
    return FirmData(
        name=firm.name,
        brn=firm.brn,
        corp_no=firm.corp_no or "",
        ceo_name=firm.ceo_name,
        founded_on=firm.founded_on,
        address=firm.address,
        sido_code=firm.sido_code or "",
        sigungu_code=firm.sigungu_code or "",
        ksic_code=firm.ksic_code or "",
        ksic_revision=firm.ksic_revision,
        employees=firm.employees,
        sme_certificate_expires_on=firm.sme_certificate_expires_on,
        business_status=firm.business_status,
        is_supplier=firm.is_supplier,
        solutions_offered=firm.solutions_offered,
    )


def contact_data_of(contact: Contact) -> ContactData:
    return ContactData(
        name=contact.name,
        position=contact.position,
        phone=contact.phone,
        email=contact.email,
        is_primary=contact.is_primary,
        consent_privacy=contact.consent_privacy_at is not None,
        consent_admin_info=contact.consent_admin_info_at is not None,
        consent_marketing=contact.consent_marketing_at is not None,
    )


def json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def snapshot(obj: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {column: json_value(getattr(obj, column)) for column in columns}


@dataclass
class Verdict:
    action: RowAction
    brn: str | None
    name: str
    reasons: list[list[str]] = field(default_factory=list)  # [[field key, message]]
    notes: list[str] = field(default_factory=list)
    changes: dict[str, list[Any]] = field(default_factory=dict)
    firm: Firm | None = None  # the registered firm of an update
    firm_data: FirmData | None = None
    link_needed: bool = False  # registered by another consortium: linking makes it this one's too
    contact: Contact | None = None  # the existing contact a row updates
    contact_data: ContactData | None = None
    contact_action: str | None = None  # create | update | None


def _length_problems(row: _Row, model: Any, values: dict[str, Any], fields: dict[str, str]) -> None:
    """The registry's forms cap text lengths; an import is not a form, so the columns' own sizes are checked
    here, as reasons, before the database would refuse the whole chunk."""
    columns = model.__table__.c
    for column, field_key in fields.items():
        value, limit = values.get(column), getattr(columns[column].type, "length", None)
        if isinstance(value, str) and limit and len(value) > limit:
            row.problem(field_key, _l("Too long: at most %(max)s characters.", max=limit))


class _Row:
    """A row's cells by field key, and the reasons collected while reading them."""

    def __init__(self, raw: dict[str, str]) -> None:
        self.raw = raw
        self.reasons: list[list[str]] = []

    def text(self, key: str) -> str:
        return (self.raw.get(key) or "").strip()

    def problem(self, key: str, message: Any) -> None:
        self.reasons.append([key, str(message)])


def _typed_values(row: _Row) -> tuple[int | None, date | None]:
    employees = founded_on = None
    if text := row.text("employees"):
        try:
            employees = parse_whole_number(text)
        except ValueError:
            row.problem("employees", _l("Enter the number of employees as a whole number, e.g. 25."))
    if text := row.text("founded_on"):
        try:
            founded_on = parse_date(text)
        except ValueError:
            row.problem("founded_on", _l("Enter the founding date as YYYY-MM-DD, e.g. 2015-03-02."))
    return employees, founded_on


def _region(row: _Row) -> tuple[str | None, str | None]:
    """(시도, 시군구) the row gives, by code or name, or from its address when both columns are blank."""
    sido_text, sigungu_text = row.text("sido"), row.text("sigungu")
    if not sido_text and not sigungu_text:
        return region_from_address(row.text("address")) if row.text("address") else (None, None)
    sido = sigungu = None
    if sido_text:
        sido = resolve_sido(sido_text)
        if sido is None:
            row.problem("sido", _l("Unknown 시도 “%(value)s”.", value=sido_text))
            return None, None
    if sigungu_text:
        sigungu, message = resolve_sigungu(sigungu_text, sido)
        if message is not None:
            row.problem("sigungu", message)
    return sido, sigungu


def _firm_data(row: _Row, existing: Firm | None) -> FirmData:
    """The registry's form data: the firm's current values with the row's non-blank cells over them (a blank
    cell never erases anything)."""
    data = firm_data_of(existing) if existing is not None else FirmData(name="")
    data.brn = row.text("brn")
    for key in ("name", "ceo_name", "address", "corp_no"):
        if text := row.text(key):
            setattr(data, key, text)
    employees, founded_on = _typed_values(row)
    if employees is not None:
        data.employees = employees
    if founded_on is not None:
        data.founded_on = founded_on
    sido, sigungu = _region(row)
    if sigungu is not None:
        data.sido_code, data.sigungu_code = sido or "", sigungu
    elif sido is not None:
        data.sido_code = sido
        if not data.sigungu_code.startswith(sido):  # the old 시군구 lies in another 시도 now
            data.sigungu_code = ""
    if text := row.text("ksic_code"):
        match = _KSIC.fullmatch(text)
        code = match.group(1) if match else text
        if existing is None or code != existing.ksic_code:
            data.ksic_revision = None  # the registry then takes the current revision
        data.ksic_code = code
    return data


def _contact(row: _Row, firm: Firm | None) -> tuple[Contact | None, ContactData | None, str | None]:
    """The contact the row names: an existing one of the firm (same e-mail, else same name) to update, or a
    new one; (None, None, None) when the row has no contact cells or the contact changes nothing."""
    if not any(row.text(key) for key in CONTACT_KEYS):
        return None, None, None
    contacts = list(firm.contacts) if firm is not None else []
    email, name = row.text("contact_email").lower(), row.text("contact_name")
    match = next((c for c in contacts if email and c.email.lower() == email), None) or next(
        (c for c in contacts if name and c.name == name), None
    )
    data = contact_data_of(match) if match is not None else ContactData(name="", is_primary=not contacts)
    for key, attribute in (
        ("contact_name", "name"),
        ("contact_position", "position"),
        ("contact_phone", "phone"),
        ("contact_email", "email"),
    ):
        if text := row.text(key):
            setattr(data, attribute, text)
    try:
        values = contact_values(data, match)
    except ValidationFailed as error:
        for key, messages in error.fields.items():
            for message in messages:
                row.problem(_CONTACT_PROBLEM_FIELDS.get(key, "contact_name"), message)
        return None, None, None
    _length_problems(row, Contact, values, {column: f"contact_{column}" for column in CONTACT_COLUMNS})
    if match is None:
        return None, data, "create"
    if diff(match, {column: values[column] for column in CONTACT_COLUMNS}):
        return match, data, "update"
    return match, None, None


def evaluate(raw: dict[str, str], lookup: Lookup, actor: User, duplicate_of: int | None = None) -> Verdict:
    """The verdict on one row (raw: {field key: cell text}); writes nothing."""
    row = _Row(raw)
    brn = None
    brn_text = row.text("brn")
    if not brn_text:
        row.problem("brn", _l("The business registration number is missing."))
    elif message := brn_problem(brn_text):
        row.problem("brn", message)
    else:
        brn = normalize_brn(brn_text)
        if duplicate_of is not None:
            row.problem("brn", _l("Same business registration number as row %(row)s.", row=duplicate_of))

    existing = lookup.firms.get(brn) if brn else None
    data = _firm_data(row, existing)
    values, problems = firm_values_and_problems(data)
    for key, messages in problems.items():
        for message in messages:
            row.problem(_FIRM_PROBLEM_FIELDS.get(key, key), message)
    _length_problems(row, Firm, values, {"name": "name", "ceo_name": "ceo_name", "address": "address"})

    notes: list[str] = []
    visible = existing is not None and existing.id in lookup.visible
    contact = contact_data = contact_action = None
    if existing is not None and not (visible and existing.contacts_visible_to(actor)):
        if any(row.text(key) for key in CONTACT_KEYS):
            notes.append(
                str(
                    _l(
                        "The contact columns are left out: only the institutions working with this firm "
                        "may see and change its contacts."
                    )
                )
            )
    else:
        contact, contact_data, contact_action = _contact(row, existing)

    name = values["name"] or (existing.name if existing is not None else "")
    verdict = Verdict(RowAction.invalid, brn, name[:200], reasons=row.reasons, notes=notes)
    if row.reasons:
        return verdict
    touched = {column: values[column] for column in FIRM_COLUMNS}
    verdict.firm_data = data
    verdict.contact, verdict.contact_data, verdict.contact_action = contact, contact_data, contact_action
    if existing is None:
        verdict.action = RowAction.create
        verdict.changes = {
            column: [None, json_value(value)]
            for column, value in touched.items()
            if value not in (None, "") and column != "name_initials"
        }
        return verdict
    verdict.firm = existing
    changes = {column: pair for column, pair in diff(existing, touched).items() if column != "name_initials"}
    if not visible:
        # Not this consortium's firm yet: the preview does not show its current values.
        changes = {column: [None, new] for column, (_old, new) in changes.items()}
        verdict.link_needed = True
        notes.insert(
            0,
            str(
                _l(
                    "Registered by another consortium: the import links it to yours (company data only) "
                    "and changes the columns shown."
                )
            ),
        )
    verdict.changes = changes
    changed = bool(changes) or contact_action is not None or verdict.link_needed
    verdict.action = RowAction.update if changed else RowAction.skipped
    return verdict
