"""Cohort notices: POST /notices (compose and queue, now or at `send_at`) and GET /notices/{id} with the
delivery counts by status (API.md: coordinators and consortium managers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from flask import jsonify
from flask_login import current_user
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from crm.api.core import api_route, body, not_found
from crm.api.schemas import RowId, StorableText, Strict
from crm.auth.models import Role
from crm.core.exceptions import OperationError
from crm.extensions import db
from crm.notices import cohort
from crm.notices.models import DeliveryStatus, Notice, NoticeKind, NoticeStatus

TAG = "notices"
COMPOSERS = (Role.coordinator, Role.consortium_manager)

NoticeKindValue = Literal[tuple(k.value for k in NoticeKind)]  # type: ignore[valid-type]
NoticeStatusValue = Literal[tuple(s.value for s in NoticeStatus)]  # type: ignore[valid-type]


def _utc_representable(value: datetime) -> datetime:
    """A time that can be stored in UTC (an offset at year 1 or 9999 can push it out of range)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


SendAt = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


class NoticeAudienceIn(Strict):
    """Who the notice is for: a call's applicants, a programme's engagements, or firms with a milestone of
    a kind open or overdue; `statuses` are application or engagement statuses (none: every status)."""

    source: Literal["call", "programme", "milestone"]
    call_id: RowId | None = None
    programme_id: RowId | None = None
    statuses: list[Annotated[StorableText, Field(max_length=40)]] = Field(default_factory=list, max_length=20)
    kind: Annotated[StorableText, Field(max_length=50)] | None = None
    state: Literal["open", "overdue"] | None = None
    sido: Annotated[StorableText, Field(max_length=10)] = ""
    track: Annotated[StorableText, Field(max_length=40)] = ""


class NoticeIn(Strict):
    audience: NoticeAudienceIn
    subject: Annotated[StorableText, Field(max_length=1000)]
    body: Annotated[StorableText, Field(max_length=50_000)]
    send_at: SendAt | None = None  # absent: now
    marketing: bool = False


class NoticeCounts(BaseModel):
    queued: int
    sending: int
    sent: int
    failed: int


class NoticeOut(BaseModel):
    id: int
    kind: NoticeKindValue
    subject: str
    body: str
    audience: dict[str, Any]
    send_at: datetime
    status: NoticeStatusValue
    counts: NoticeCounts


def serialize_notice(notice: Notice, counts: dict[DeliveryStatus, int] | None = None) -> dict[str, Any]:
    if counts is None:
        counts = cohort.delivery_counts([notice.id])[notice.id]
    return {
        "id": notice.id,
        "kind": notice.kind.value,
        "subject": notice.subject,
        "body": notice.body,
        "audience": dict(notice.audience or {}),
        "send_at": notice.send_at.isoformat(),
        "status": notice.status.value,
        "counts": {status.value: counts.get(status, 0) for status in DeliveryStatus},
    }


# The operation names problems by the compose form's fields; the API's request nests them in `audience`.
AUDIENCE_FIELDS = {
    "source": "audience.source",
    "call_id": "audience.call_id",
    "programme_id": "audience.programme_id",
    "application_statuses": "audience.statuses",
    "engagement_statuses": "audience.statuses",
    "milestone_kind": "audience.kind",
    "milestone_state": "audience.state",
    "sido": "audience.sido",
    "track": "audience.track",
}


@api_route(
    "POST",
    "/notices",
    summary="Compose a cohort notice to an audience, sent now or at send_at",
    tag=TAG,
    roles=COMPOSERS,
    request_model=NoticeIn,
    response=NoticeOut,
    status=201,
    errors=(403,),
)
def create_notice():
    data = body(NoticeIn)
    audience = data.audience.model_dump(exclude_none=True)
    notice_data = cohort.NoticeData(
        audience=audience,
        subject=data.subject,
        body=data.body,
        marketing=data.marketing,
        send_at=data.send_at,
    )
    try:
        notice = cohort.compose_notice(notice_data, current_user)
    except OperationError as error:
        error.fields = {AUDIENCE_FIELDS.get(k, k): v for k, v in error.fields.items()}
        raise
    db.session.commit()
    return jsonify(serialize_notice(notice)), 201


@api_route(
    "GET",
    "/notices/{id}",
    summary="One notice with its delivery counts by status",
    tag=TAG,
    roles=COMPOSERS,
    response=NoticeOut,
    errors=(403,),
)
def get_notice(id: int):
    notice = db.session.scalar(
        sa.select(Notice).where(Notice.id == id, cohort.notice_visible_to(current_user))
    )
    if notice is None:
        raise not_found()
    return jsonify(serialize_notice(notice))
