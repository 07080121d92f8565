"""Engagements and their milestones: GET /engagements, GET and PATCH /engagements/{id}, POST
/engagements/{id}/transitions, GET /milestones, POST /milestones/{id}/complete (API.md).

Completing a milestone takes multipart/form-data (`evidence` file, `note`): the operation requires the
evidence as the page does, so a request without a file answers 422 with `fields.evidence`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel, Field

from crm.api.core import (
    PAGING,
    api_route,
    body,
    invalid,
    not_found,
    page_of,
    query_int,
    query_param,
)
from crm.api.schemas import MAX_ID, RowId, StorableText, Strict, TransitionIn, storable_text
from crm.auth.models import STAFF_ROLES, Role
from crm.core.exceptions import OperationError
from crm.engagements import operations
from crm.engagements.models import Engagement, EngagementStatus
from crm.extensions import db
from crm.milestones import operations as milestone_operations
from crm.milestones.models import Milestone, MilestoneOwner, MilestoneStatus

TAG_ENGAGEMENTS, TAG_MILESTONES = "engagements", "milestones"
READERS = (*STAFF_ROLES, Role.firm_user)
MAX_KRW = 10**15  # far above any programme's budget, far below BigInteger's limit

EngagementStatusValue = Literal[tuple(s.value for s in EngagementStatus)]  # type: ignore[valid-type]
MilestoneStatusValue = Literal[tuple(s.value for s in MilestoneStatus)]  # type: ignore[valid-type]
OwnerValue = Literal[tuple(o.value for o in MilestoneOwner)]  # type: ignore[valid-type]


Krw = Annotated[int, Field(ge=0, le=MAX_KRW)]


# --- Objects ----------------------------------------------------------------------------------------------


class EngagementOut(BaseModel):
    id: int
    programme_id: int
    firm_id: int
    application_id: int | None
    status: EngagementStatusValue
    coordinator_id: int | None
    agreed_on: date | None
    starts_on: date | None
    ends_on: date | None
    gov_krw: int
    local_krw: int
    self_cash_krw: int
    self_inkind_krw: int
    supplier_firm_id: int | None
    solution: str


class MilestoneOut(BaseModel):
    id: int
    engagement_id: int
    kind: str
    title: str
    due_on: date
    owner: OwnerValue
    status: MilestoneStatusValue
    done_at: datetime | None


class EngagementPatchIn(Strict):
    """The agreement's terms while it awaits signature; only the fields sent change."""

    agreed_on: date | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    gov_krw: Krw = 0
    local_krw: Krw = 0
    self_cash_krw: Krw = 0
    self_inkind_krw: Krw = 0
    supplier_firm_id: RowId | None = None
    solution: StorableText = Field(default="", max_length=300)
    coordinator_id: RowId | None = None


def serialize_engagement(engagement: Engagement) -> dict[str, Any]:
    return {
        "id": engagement.id,
        "programme_id": engagement.programme_id,
        "firm_id": engagement.firm_id,
        "application_id": engagement.application_id,
        "status": engagement.status.value,
        "coordinator_id": engagement.coordinator_id,
        "agreed_on": _day(engagement.agreed_on),
        "starts_on": _day(engagement.starts_on),
        "ends_on": _day(engagement.ends_on),
        "gov_krw": engagement.gov_krw,
        "local_krw": engagement.local_krw,
        "self_cash_krw": engagement.self_cash_krw,
        "self_inkind_krw": engagement.self_inkind_krw,
        "supplier_firm_id": engagement.supplier_firm_id,
        "solution": engagement.solution or "",
    }


def serialize_milestone(milestone: Milestone) -> dict[str, Any]:
    return {
        "id": milestone.id,
        "engagement_id": milestone.engagement_id,
        "kind": milestone.kind,
        "title": milestone.title,
        "due_on": milestone.due_on.isoformat(),
        "owner": milestone.owner.value,
        "status": milestone.status.value,
        "done_at": milestone.done_at.isoformat() if milestone.done_at is not None else None,
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- Loading and query parameters -----------------------------------------------------------------------


def visible_engagement(engagement_id: int) -> Engagement:
    engagement = db.session.scalar(
        sa.select(Engagement).where(Engagement.id == engagement_id, Engagement.visible_to(current_user))
    )
    if engagement is None:
        raise not_found()
    return engagement


def visible_milestone(milestone_id: int) -> Milestone:
    milestone = db.session.scalar(
        sa.select(Milestone).where(Milestone.id == milestone_id, Milestone.visible_to(current_user))
    )
    if milestone is None:
        raise not_found()
    return milestone


def query_choice(name: str, choices: list[str]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        raise invalid(name, _("Choose one of: %(values)s.", values=", ".join(choices)))
    return raw


def query_date(name: str) -> date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid(name, _("Enter a date as YYYY-MM-DD.")) from None


def _renamed(error: OperationError, names: dict[str, str]) -> OperationError:
    """The operation's error with its field names as the API's request calls them."""
    error.fields = {names.get(name, name): messages for name, messages in error.fields.items()}
    return error


ENGAGEMENT_STATUSES = [s.value for s in EngagementStatus]
MILESTONE_STATUSES = [s.value for s in MilestoneStatus]


# --- Engagements ----------------------------------------------------------------------------------------


@api_route(
    "GET",
    "/engagements",
    summary="Engagements the caller may see (a firm user: its own)",
    tag=TAG_ENGAGEMENTS,
    roles=READERS,
    response=("list", EngagementOut),
    errors=(403,),
    query=[
        query_param("programme_id", "integer", "Only this programme's engagements"),
        query_param("status", description="Only engagements in this status", enum=ENGAGEMENT_STATUSES),
        query_param("firm_id", "integer", "Only this firm's engagements"),
        *PAGING,
    ],
)
def list_engagements():
    statement = sa.select(Engagement).where(Engagement.visible_to(current_user))
    programme_id = query_int("programme_id", maximum=MAX_ID)
    if programme_id is not None:
        statement = statement.where(Engagement.programme_id == programme_id)
    status = query_choice("status", ENGAGEMENT_STATUSES)
    if status is not None:
        statement = statement.where(Engagement.status == EngagementStatus(status))
    firm_id = query_int("firm_id", maximum=MAX_ID)
    if firm_id is not None:
        statement = statement.where(Engagement.firm_id == firm_id)
    return jsonify(page_of(statement.order_by(Engagement.id), serialize_engagement))


@api_route(
    "GET",
    "/engagements/{id}",
    summary="One engagement",
    tag=TAG_ENGAGEMENTS,
    roles=READERS,
    response=EngagementOut,
    errors=(403,),
)
def get_engagement(id: int):
    return jsonify(serialize_engagement(visible_engagement(id)))


@api_route(
    "PATCH",
    "/engagements/{id}",
    summary="Set the agreement's terms (amounts, supplier, dates) while it awaits signature",
    tag=TAG_ENGAGEMENTS,
    roles=STAFF_ROLES,
    request_model=EngagementPatchIn,
    response=EngagementOut,
    errors=(403, 409),
)
def patch_engagement(id: int):
    engagement = visible_engagement(id)
    data = body(EngagementPatchIn)
    terms = operations.AgreementData.of(engagement)
    for name in data.model_fields_set:
        setattr(terms, name, getattr(data, name))
    operations.update_agreement(engagement, terms, current_user)
    db.session.commit()
    return jsonify(serialize_engagement(engagement))


@api_route(
    "POST",
    "/engagements/{id}/transitions",
    summary="Move the engagement (agreed creates the milestones; cancelled and terminated need a reason)",
    tag=TAG_ENGAGEMENTS,
    roles=STAFF_ROLES,
    request_model=TransitionIn,
    response=EngagementOut,
    errors=(403, 409),
)
def engagement_transition(id: int):
    engagement = visible_engagement(id)
    data = body(TransitionIn)
    if data.to == EngagementStatus.terminated.value:
        # The same operation as the termination page, without sanctions (imposed on the page).
        operations.terminate(engagement, operations.TerminationData(reason=data.reason), current_user)
    else:
        operations.transition(engagement, data.to, current_user, data.reason)
    db.session.commit()
    return jsonify(serialize_engagement(engagement))


# --- Milestones -----------------------------------------------------------------------------------------


@api_route(
    "GET",
    "/milestones",
    summary="Milestones of the engagements the caller may see, by due day",
    tag=TAG_MILESTONES,
    roles=READERS,
    response=("list", MilestoneOut),
    errors=(403,),
    query=[
        query_param("engagement_id", "integer", "Only this engagement's milestones"),
        query_param("status", description="Derived status (KST)", enum=MILESTONE_STATUSES),
        {
            "name": "due_before",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "format": "date"},
            "description": "Due strictly before this day (YYYY-MM-DD)",
        },
        *PAGING,
    ],
)
def list_milestones():
    statement = sa.select(Milestone).where(Milestone.visible_to(current_user))
    engagement_id = query_int("engagement_id", maximum=MAX_ID)
    if engagement_id is not None:
        statement = statement.where(Milestone.engagement_id == engagement_id)
    status = query_choice("status", MILESTONE_STATUSES)
    if status is not None:
        statement = statement.where(Milestone.status_clause(MilestoneStatus(status)))
    due_before = query_date("due_before")
    if due_before is not None:
        statement = statement.where(Milestone.due_on < due_before)
    return jsonify(page_of(statement.order_by(Milestone.due_on, Milestone.id), serialize_milestone))


COMPLETE_FORM = {
    "type": "object",
    "required": ["evidence"],
    "properties": {
        "evidence": {"type": "string", "format": "binary", "description": "The evidence file (required)"},
        "note": {"type": "string", "maxLength": 5000},
    },
}


@api_route(
    "POST",
    "/milestones/{id}/complete",
    summary="Complete a milestone with its evidence (staff for the engagement; the firm for its own)",
    tag=TAG_MILESTONES,
    roles=READERS,
    response=MilestoneOut,
    errors=(403, 413),
    multipart=COMPLETE_FORM,
)
def complete_milestone(id: int):
    milestone = visible_milestone(id)
    note = request.form.get("note", "")
    try:
        storable_text(note)
        if len(note) > 5000:
            raise ValueError
    except ValueError:
        raise invalid("note", _("Enter text of the allowed length.")) from None
    try:
        milestone_operations.complete(milestone, current_user, request.files.get("evidence"), note)
    except OperationError as error:
        raise _renamed(error, {"file": "evidence"}) from None
    db.session.commit()
    return jsonify(serialize_milestone(milestone))
