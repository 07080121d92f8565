"""Programmes, calls and quotas: GET /programmes, /programmes/{id}, /calls, /quotas.

The figures (counted, funnel, pace, projection, at risk) come from `crm.dashboard.quotas`, the one place that
defines what counts; nothing here recomputes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import jsonify
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, Field
from sqlalchemy.orm import selectinload

from crm.api.core import (
    PAGING,
    api_route,
    invalid,
    not_found,
    page_of,
    query_enum,
    query_int,
    query_param,
)
from crm.api.schemas import MAX_ID
from crm.auth.models import STAFF_ROLES, Role
from crm.core.db import utcnow
from crm.core.time import today_kst
from crm.dashboard.quotas import QuotaRow, Scope, quota_report, quota_rows
from crm.extensions import db
from crm.programmes.models import (
    Call,
    CallStatus,
    CountingPoint,
    Programme,
    ProgrammeYear,
    TargetUnit,
    Track,
)

STAFF = tuple(sorted(STAFF_ROLES))
QUOTA_READERS = (Role.consortium_manager, Role.coordinator, Role.national_viewer)


# --- Schemas ------------------------------------------------------------------------------------------------


class FunnelOut(BaseModel):
    applied: int
    selected: int
    agreed: int
    completed: int


class InstitutionRef(BaseModel):
    id: int
    name: str


class ProgrammeYearRef(BaseModel):
    id: int
    consortium_id: int
    ordinal: int
    starts_on: date
    ends_on: date


class ProgrammeOut(BaseModel):
    id: int
    name: str
    track: Track
    institution: InstitutionRef
    programme_year: ProgrammeYearRef
    target: int
    unit: TargetUnit
    counting_point: CountingPoint
    counted: int | float = Field(description="Firms or people (integer), or GPU hours")
    funnel: FunnelOut


class RequiredDocumentOut(BaseModel):
    kind: str
    label: str


class QuestionOut(BaseModel):
    key: str
    label: str
    required: bool


class CallOut(BaseModel):
    id: int
    programme_id: int
    title: str
    cohort: str
    opens_at: datetime
    closes_at: datetime
    capacity: int
    is_open: bool
    required_documents: list[RequiredDocumentOut]
    questions: list[QuestionOut]


class QuotaOut(BaseModel):
    programme_id: int
    programme: str
    consortium_id: int
    institution_id: int
    programme_year_id: int
    track: Track
    unit: TargetUnit
    counting_point: CountingPoint
    target: int
    counted: int | float
    funnel: FunnelOut
    elapsed_share: float = Field(description="Share of the programme year lived through as_of (0–1)")
    pace: float | None = Field(description="counted / (target × elapsed share); null before the year starts")
    projected: float = Field(description="Projected figure at the end of the programme year")
    at_risk: bool
    as_of: date


class QuotasOut(BaseModel):
    as_of: date
    items: list[QuotaOut]


# --- Serialising ----------------------------------------------------------------------------------------


def _figures(programmes: list[Programme]) -> dict[int, QuotaRow]:
    """The dashboard's rows for exactly these programmes (a handful of grouped queries for a whole page)."""
    if not programmes:
        return {}
    scope = Scope(
        user=current_user,
        as_of=today_kst(),
        years=[],
        year_ids=[],
        consortium_id=None,
        track=None,
        programme_year_id=None,
        clause=Programme.id.in_([programme.id for programme in programmes]),
    )
    return {row.programme_id: row for row in quota_report(scope).rows}


def serialize_programme(programme: Programme, figures: QuotaRow) -> dict[str, Any]:
    quota = figures.as_dict()
    year = programme.programme_year
    return {
        "id": programme.id,
        "name": programme.name,
        "track": programme.track.value,
        "institution": {"id": programme.institution.id, "name": programme.institution.name},
        "programme_year": {
            "id": year.id,
            "consortium_id": year.consortium_id,
            "ordinal": year.ordinal,
            "starts_on": year.starts_on.isoformat(),
            "ends_on": year.ends_on.isoformat(),
        },
        "target": programme.target,
        "unit": programme.unit.value,
        "counting_point": programme.counting_point.value,
        "counted": quota["counted"],
        "funnel": quota["funnel"],
    }


def serialize_call(call: Call, now: datetime | None = None) -> dict[str, Any]:
    return {
        "id": call.id,
        "programme_id": call.programme_id,
        "title": call.title,
        "cohort": call.cohort,
        "opens_at": call.opens_at.isoformat(),
        "closes_at": call.closes_at.isoformat(),
        "capacity": call.capacity,
        "is_open": call.is_open(now),
        "required_documents": [
            {"kind": str(doc.get("kind", "")), "label": str(doc.get("label", ""))}
            for doc in call.required_documents or []
        ],
        "questions": [
            {
                "key": str(question.get("key", "")),
                "label": str(question.get("label", "")),
                "required": bool(question.get("required", False)),
            }
            for question in call.questions or []
        ],
    }


# --- Query parameters ----------------------------------------------------------------------------------


def _visible_year_id(name: str = "programme_year_id") -> int | None:
    """A programme year the caller may see, or 422 (a filter naming an unknown year is bad input)."""
    year_id = query_int(name, maximum=MAX_ID)
    if year_id is None:
        return None
    if db.session.scalar(
        sa.select(ProgrammeYear.id).where(ProgrammeYear.id == year_id, ProgrammeYear.visible_to(current_user))
    ):
        return year_id
    raise invalid(name, _("There is no such programme year, or you may not see it."))


def _id_param(name: str, description: str) -> dict[str, Any]:
    param = query_param(name, "integer", description)
    param["schema"].update(minimum=1, maximum=MAX_ID)
    return param


YEAR_PARAM = _id_param("programme_year_id", "A programme year (연차) id")
TRACK_PARAM = query_param("track", description="Track", enum=[t.value for t in Track])


# --- Endpoints ----------------------------------------------------------------------------------------------


def _programmes_with_figures(programmes: list[Programme]) -> list[dict[str, Any]]:
    figures = _figures(programmes)
    return [serialize_programme(programme, figures[programme.id]) for programme in programmes]


@api_route(
    "GET",
    "/programmes",
    summary="Programmes the caller may see, with target, counting point, counted and funnel",
    tag="programmes",
    roles=STAFF,
    response=("list", ProgrammeOut),
    errors=(403,),
    query=[YEAR_PARAM, TRACK_PARAM, *PAGING],
)
def list_programmes():
    year_id = _visible_year_id()
    track = query_enum("track", Track)
    statement = (
        sa.select(Programme)
        .where(Programme.visible_to(current_user))
        .options(selectinload(Programme.programme_year), selectinload(Programme.institution))
        .order_by(Programme.programme_year_id, Programme.id)
    )
    if year_id is not None:
        statement = statement.where(Programme.programme_year_id == year_id)
    if track is not None:
        statement = statement.where(Programme.track == track)
    page = page_of(statement, lambda programme: programme)
    page["items"] = _programmes_with_figures(page["items"])
    return jsonify(page)


@api_route(
    "GET",
    "/programmes/{id}",
    summary="One programme with target, counting point, counted and funnel",
    tag="programmes",
    roles=STAFF,
    response=ProgrammeOut,
    errors=(403,),
)
def get_programme(id: int):
    programme = db.session.scalar(
        sa.select(Programme).where(Programme.id == id, Programme.visible_to(current_user))
    )
    if programme is None:
        raise not_found()
    return jsonify(_programmes_with_figures([programme])[0])


def _calls_statement(status: CallStatus | None, now: datetime) -> sa.Select:
    statement = sa.select(Call)
    if current_user.role is Role.firm_user:
        # As the portal's list: a firm may apply to any call open now, and to nothing else.
        statement = statement.where(Call.opens_at <= now, Call.closes_at > now)
    else:
        statement = statement.where(Call.visible_to(current_user))
    if status is CallStatus.open:
        statement = statement.where(Call.opens_at <= now, Call.closes_at > now)
    elif status is CallStatus.upcoming:
        statement = statement.where(Call.opens_at > now)
    elif status is CallStatus.closed:
        statement = statement.where(Call.closes_at <= now)
    return statement.order_by(Call.closes_at, Call.id)


@api_route(
    "GET",
    "/calls",
    summary="Calls: staff those of the programmes they see, firm users those open now",
    tag="programmes",
    response=("list", CallOut),
    query=[
        query_param("status", description="open: open now", enum=[s.value for s in CallStatus]),
        _id_param("programme_id", "Calls of one programme"),
        *PAGING,
    ],
)
def list_calls():
    status = query_enum("status", CallStatus)
    programme_id = query_int("programme_id", maximum=MAX_ID)
    now = utcnow()
    statement = _calls_statement(status, now)
    if programme_id is not None:
        statement = statement.where(Call.programme_id == programme_id)
    return jsonify(page_of(statement, lambda call: serialize_call(call, now)))


@api_route(
    "GET",
    "/quotas",
    summary="목표 대비 실적: per programme target, counted, funnel, pace, projection, at risk",
    tag="programmes",
    roles=QUOTA_READERS,
    response=QuotasOut,
    errors=(403,),
    query=[
        _id_param("programme_year_id", "A programme year (연차) id; default: each consortium's current year"),
        TRACK_PARAM,
    ],
)
def quotas():
    year_id = _visible_year_id()
    track = query_enum("track", Track)
    report = quota_rows(current_user, programme_year_id=year_id, track=track)
    return jsonify({"as_of": report.as_of.isoformat(), "items": [row.as_dict() for row in report.rows]})
