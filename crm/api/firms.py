"""Firms: GET/POST /firms, GET/PATCH /firms/{id}, GET /firms/{id}/journey.

Every write goes through the registry's operations (staff) or the portal's (a firm user's own profile), so
the API obeys exactly the rules the HTML forms do; visibility is `Firm.visible_to`."""

from __future__ import annotations

import re
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, Field
from sqlalchemy.orm import selectinload

from crm.api.core import (
    PAGING,
    ApiError,
    api_route,
    body,
    invalid,
    not_found,
    page_of,
    query_enum,
    query_param,
)
from crm.api.schemas import Strict
from crm.auth.models import STAFF_ROLES, Role
from crm.core.exceptions import Conflict
from crm.diagnosis.journey import firm_journey
from crm.engagements.models import Engagement
from crm.extensions import db
from crm.firms import operations, regions
from crm.firms.identifiers import InvalidIdentifier, normalize_brn, normalize_corp_no
from crm.firms.models import BusinessStatus, Firm
from crm.portal import operations as portal_operations
from crm.programmes.models import Programme, Track

STAFF = tuple(sorted(STAFF_ROLES))
# Who may register firms (API.md): case workers, not admins.
REGISTRARS = (Role.consortium_manager, Role.coordinator)
READERS = (*STAFF, Role.firm_user)

# No NUL characters: PostgreSQL refuses them in text, and no firm name needs one.
_NO_NUL = r"^[^\x00]*$"


Text2 = Annotated[str, Field(max_length=2, pattern=_NO_NUL)]
Text5 = Annotated[str, Field(max_length=5, pattern=_NO_NUL)]
Text20 = Annotated[str, Field(max_length=20, pattern=_NO_NUL)]
Text100 = Annotated[str, Field(max_length=100, pattern=_NO_NUL)]
Text200 = Annotated[str, Field(max_length=200, pattern=_NO_NUL)]
Text300 = Annotated[str, Field(max_length=300, pattern=_NO_NUL)]
Text5000 = Annotated[str, Field(max_length=5000, pattern=_NO_NUL)]


# --- Schemas ------------------------------------------------------------------------------------------------


class FirmOut(BaseModel):
    id: int
    brn: str = Field(description="10 digits")
    brn_display: str = Field(description="XXX-XX-XXXXX")
    name: str
    ceo_name: str
    corp_no: str | None = Field(description="13 digits")
    founded_on: date | None
    address: str
    sido_code: str | None
    sigungu_code: str | None
    ksic_code: str | None
    employees: int | None
    revenue_krw: int | None = Field(description="The latest fiscal year's revenue, in 원")
    is_supplier: bool
    business_status: BusinessStatus
    created_at: datetime
    updated_at: datetime


class _FirmFields(Strict):
    """What a client may write; the registry's operation checks every value (codes, check digits, dates)."""

    ceo_name: Text100 | None = None
    corp_no: Text20 | None = None
    founded_on: date | None = None
    address: Text300 | None = None
    sido_code: Text2 | None = None
    sigungu_code: Text5 | None = None
    ksic_code: Text5 | None = None
    ksic_revision: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    employees: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    sme_certificate_expires_on: date | None = None
    business_status: BusinessStatus | None = None
    is_supplier: bool | None = None
    solutions_offered: Text5000 | None = None


class FirmIn(_FirmFields):
    brn: Text20 = Field(description="10 digits, with or without dashes")
    name: Text200


class FirmPatchIn(_FirmFields):
    """Only the fields sent change. `brn` is accepted only unchanged: a BRN identifies the firm for good."""

    brn: Text20 | None = None
    name: Text200 | None = None


class JourneyEntryOut(BaseModel):
    kind: str = Field(description="diagnosis | engagement")
    id: int
    year: int
    track: Track
    track_title: str
    side_support: bool
    title: str
    status: str
    status_title: str
    starts_on: date | None
    ends_on: date | None
    url: str | None
    level: str | None
    overall_score: float | None


class JourneyOut(BaseModel):
    firm_id: int
    entries: list[JourneyEntryOut]
    current_stage: Track | None
    recommended_next: Track | None


# --- Serialising ----------------------------------------------------------------------------------------


def serialize_firm(firm: Firm) -> dict[str, Any]:
    return {
        "id": firm.id,
        "brn": firm.brn,
        "brn_display": firm.brn_display,
        "name": firm.name,
        "ceo_name": firm.ceo_name or "",
        "corp_no": firm.corp_no,
        "founded_on": firm.founded_on.isoformat() if firm.founded_on else None,
        "address": firm.address or "",
        "sido_code": firm.sido_code,
        "sigungu_code": firm.sigungu_code,
        "ksic_code": firm.ksic_code,
        "employees": firm.employees,
        "revenue_krw": firm.revenue_krw,
        "is_supplier": bool(firm.is_supplier),
        "business_status": firm.business_status.value,
        "created_at": firm.created_at.isoformat(),
        "updated_at": firm.updated_at.isoformat(),
    }


def _firm_data(firm: Firm) -> operations.FirmData:
    """The firm as it stands, in the shape the operations take; a PATCH overlays the fields it sends."""
    return operations.FirmData(
        name=firm.name,
        corp_no=firm.corp_no or "",
        ceo_name=firm.ceo_name or "",
        founded_on=firm.founded_on,
        address=firm.address or "",
        sido_code=firm.sido_code or "",
        sigungu_code=firm.sigungu_code or "",
        ksic_code=firm.ksic_code or "",
        ksic_revision=firm.ksic_revision,
        employees=firm.employees,
        sme_certificate_expires_on=firm.sme_certificate_expires_on,
        business_status=firm.business_status,
        is_supplier=bool(firm.is_supplier),
        solutions_offered=firm.solutions_offered or "",
    )


_DATA_FIELDS = {f.name for f in dataclass_fields(operations.FirmData)}
_TEXT_FIELDS = {"name", "corp_no", "ceo_name", "address", "sido_code", "sigungu_code", "ksic_code"}


def _overlay(data: operations.FirmData, sent: dict[str, Any]) -> operations.FirmData:
    values: dict[str, Any] = {}
    for key, value in sent.items():
        if key not in _DATA_FIELDS or key == "brn":
            continue
        if value is None and key in _TEXT_FIELDS | {"solutions_offered"}:
            value = ""  # null clears a text field, as an empty form field does
        elif value is None and key in ("business_status", "is_supplier"):
            continue  # these always have a value; null leaves them as they are
        values[key] = value
    return replace(data, **values)


# --- Loading ------------------------------------------------------------------------------------------------


def visible_firm(firm_id: int) -> Firm:
    firm = db.session.scalar(sa.select(Firm).where(Firm.id == firm_id, Firm.visible_to(current_user)))
    if firm is None:
        raise not_found()
    return firm


def _search_statement() -> sa.Select:
    q = (request.args.get("q") or "").replace("\x00", "").strip()
    if len(q) > 100:
        raise invalid("q", _("Enter at most %(n)s characters.", n=100))
    sido = (request.args.get("sido") or "").strip()
    if sido and sido not in regions.SIDO:
        raise invalid("sido", _("Choose a 시도 code from the list."))
    sigungu = (request.args.get("sigungu") or "").strip()
    if sigungu and not regions.is_valid_sigungu(sigungu):
        raise invalid("sigungu", _("Choose a 시군구 code from the list."))
    ksic_filter = (request.args.get("ksic") or "").strip().upper()
    if ksic_filter and not re.fullmatch(r"\d{1,5}|[A-U]", ksic_filter):
        raise invalid("ksic", _("Enter a KSIC code prefix (e.g. 26) or a section letter (e.g. C)."))
    track = query_enum("track", Track)
    status = query_enum("status", BusinessStatus)
    statement = operations.search_firms(current_user, q, sido, sigungu, ksic_filter)
    if status is not None:
        statement = statement.where(Firm.business_status == status)
    if track is not None:
        # A firm is on a track when it has an engagement the caller may see in a programme of that track.
        statement = statement.where(
            sa.exists().where(
                Engagement.firm_id == Firm.id,
                Engagement.visible_to(current_user),
                Engagement.programme_id.in_(sa.select(Programme.id).where(Programme.track == track)),
            )
        )
    return statement


# --- Endpoints ----------------------------------------------------------------------------------------------


@api_route(
    "GET",
    "/firms",
    summary="Firms the caller may see, searched and filtered",
    tag="firms",
    roles=STAFF,
    response=("list", FirmOut),
    errors=(403,),
    query=[
        query_param("q", description="Part of the name, 3+ digits of the BRN, or 초성 (e.g. ㅇㅅ)"),
        query_param("sido", description="시도 code (2 digits)"),
        query_param("sigungu", description="시군구 code (5 digits)"),
        query_param("ksic", description="KSIC code prefix (1–5 digits) or section letter (A–U)"),
        query_param(
            "track",
            description="Firms with an engagement (visible to you) in a programme of this track",
            enum=[t.value for t in Track],
        ),
        query_param("status", description="Business status", enum=[s.value for s in BusinessStatus]),
        *PAGING,
    ],
)
def list_firms():
    # Each item carries the latest revenue: the page's financials in one query, not one per firm.
    statement = _search_statement().options(selectinload(Firm.financials))
    return jsonify(page_of(statement, serialize_firm))


@api_route(
    "POST",
    "/firms",
    summary="Register a firm (409 with existing_id when the BRN is already registered)",
    tag="firms",
    roles=REGISTRARS,
    request_model=FirmIn,
    response=FirmOut,
    status=201,
    errors=(403, 409),
)
def create_firm():
    data = body(FirmIn)
    sent = data.model_dump(exclude_unset=True)
    firm_data = _overlay(operations.FirmData(name="", brn=data.brn), sent)
    try:
        firm = operations.register_firm(firm_data, current_user)
    except Conflict:
        db.session.commit()  # keeps the link that lets this consortium open the existing firm (as the form)
        raise
    db.session.commit()
    return jsonify(serialize_firm(firm)), 201


@api_route(
    "GET",
    "/firms/{id}",
    summary="One firm (staff by visibility; a firm user its own)",
    tag="firms",
    roles=READERS,
    response=FirmOut,
    errors=(403,),
)
def get_firm(id: int):
    return jsonify(serialize_firm(visible_firm(id)))


def _comparable(key: str, value: Any) -> Any:
    if key == "corp_no" and value:
        try:
            return normalize_corp_no(value)
        except InvalidIdentifier:
            return value
    return value


def _refuse_unchangeable(firm: Firm, sent: dict[str, Any]) -> None:
    """`brn` may be sent only as it is; a firm user may not touch what staff keep (corp_no, status)."""
    problems: dict[str, list[Any]] = {}
    if sent.get("brn") is not None:
        try:
            same = normalize_brn(sent["brn"]) == firm.brn
        except InvalidIdentifier:
            same = False
        if not same:
            problems["brn"] = [_("The business registration number cannot be changed.")]
    if current_user.role is Role.firm_user:
        current = _firm_data(firm)
        for key in portal_operations.STAFF_ONLY_FIRM_FIELDS:
            if key in sent and key in _DATA_FIELDS:
                wanted = _overlay(current, {key: sent[key]})
                if _comparable(key, getattr(wanted, key)) != _comparable(key, getattr(current, key)):
                    problems[key] = [_("Only the programme staff may change this field.")]
    if problems:
        raise ApiError(422, "validation_error", _("Some fields need attention."), fields=problems)


@api_route(
    "PATCH",
    "/firms/{id}",
    summary="Change a firm (never its BRN)",
    tag="firms",
    roles=READERS,
    request_model=FirmPatchIn,
    response=FirmOut,
    errors=(403,),
)
def update_firm(id: int):
    firm = visible_firm(id)
    sent = body(FirmPatchIn).model_dump(exclude_unset=True)
    _refuse_unchangeable(firm, sent)
    data = _overlay(_firm_data(firm), sent)
    if current_user.role is Role.firm_user:
        portal_operations.update_own_firm(firm, data, current_user)
    else:
        operations.update_firm(firm, data, current_user)
    db.session.commit()
    return jsonify(serialize_firm(firm))


@api_route(
    "GET",
    "/firms/{id}/journey",
    summary="The firm's diagnoses and engagements across tracks and years, in order",
    tag="firms",
    roles=READERS,
    response=JourneyOut,
    errors=(403,),
)
def firm_journey_of(id: int):
    return jsonify(firm_journey(visible_firm(id), current_user).as_dict())
