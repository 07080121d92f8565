"""Planning milestones from the programme's templates, re-planning them when agreement dates change,
completing (with evidence) and waiving (with a reason). Never commits."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage

from crm.audit.operations import record_audit
from crm.auth.models import User
from crm.core.db import utcnow
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import one_month_before
from crm.documents.operations import upload_engagement_document
from crm.engagements.models import Engagement
from crm.engagements.operations import is_firm_of, may_work_on
from crm.extensions import db
from crm.milestones.models import Milestone, MilestoneOwner

ANCHORS_ON_AGREEMENT = ("start", "mid", "end")
ANCHOR_ON_CLOSING = "closed"
# The last day to file an agreement change: one calendar month before the agreement ends (DESIGN.md §5).
ANCHOR_CHANGE_DEADLINE = "change_by"
SETTLEMENT_DAYS = 30


def anchor_day(engagement: Engagement, anchor: str) -> date | None:
    """The day an anchor names, or None while the engagement does not have it yet."""
    starts_on, ends_on = engagement.starts_on, engagement.ends_on
    if anchor == "start":
        return starts_on
    if anchor == "end":
        return ends_on
    if anchor == "mid":
        if starts_on is None or ends_on is None:
            return None
        return starts_on + (ends_on - starts_on) // 2
    if anchor == ANCHOR_ON_CLOSING:
        return engagement.closed_on
    if anchor == ANCHOR_CHANGE_DEADLINE:
        return None if ends_on is None else one_month_before(ends_on)
    return None


def planned_due_on(engagement: Engagement, anchor: str, offset_days: int) -> date | None:
    day = anchor_day(engagement, anchor)
    return None if day is None else day + timedelta(days=offset_days)


def _from_template(engagement: Engagement, template: dict[str, Any]) -> Milestone | None:
    due_on = planned_due_on(engagement, template["anchor"], int(template["offset_days"]))
    if due_on is None:
        return None
    return Milestone(
        engagement_id=engagement.id,
        kind=template["kind"],
        title=template["title"],
        anchor=template["anchor"],
        offset_days=int(template["offset_days"]),
        due_on=due_on,
        owner=MilestoneOwner(template["owner"]),
    )


def plan_from_templates(
    engagement: Engagement, anchors: tuple[str, ...], actor: User | None
) -> list[Milestone]:
    """Creates the milestones of the programme's templates whose anchor is in `anchors` (the agreement's
    start/mid/end on `agreed`; "closed" on closing). Templates already planned for this engagement (same kind
    and anchor) are skipped, so calling twice adds nothing."""
    existing = {
        (kind, anchor)
        for kind, anchor in db.session.execute(
            sa.select(Milestone.kind, Milestone.anchor).where(Milestone.engagement_id == engagement.id)
        )
    }
    created: list[Milestone] = []
    for template in engagement.programme.milestone_templates or []:
        if template.get("anchor") not in anchors or (template["kind"], template["anchor"]) in existing:
            continue
        milestone = _from_template(engagement, template)
        if milestone is not None:
            db.session.add(milestone)
            created.append(milestone)
    db.session.flush()
    if created:
        record_audit(
            "milestone.plan",
            engagement,
            {"milestones": [{"kind": m.kind, "due_on": m.due_on} for m in created]},
            actor=actor,
        )
    return created


def plan_deadlines(engagement: Engagement, actor: User | None) -> list[Milestone]:
    """The deadlines every agreement has, unless the programme's templates already plan them: the last day
    for agreement changes, and settlement within 30 days of the end for tracks with money."""
    planned_kinds = set(
        db.session.scalars(sa.select(Milestone.kind).where(Milestone.engagement_id == engagement.id))
    )
    deadlines = [("change_deadline", _l("Last day to request agreement changes"), ANCHOR_CHANGE_DEADLINE, 0)]
    if engagement.has_settlement:
        deadlines.append(("settlement", _l("Settlement (정산)"), "end", SETTLEMENT_DAYS))
    created = []
    for kind, title, anchor, offset in deadlines:
        due_on = planned_due_on(engagement, anchor, offset)
        if kind in planned_kinds or due_on is None:
            continue
        with force_locale("ko"):  # stored text, read by Korean staff and firms
            stored_title = str(title)
        milestone = Milestone(
            engagement_id=engagement.id,
            kind=kind,
            title=stored_title,
            anchor=anchor,
            offset_days=offset,
            due_on=due_on,
            owner=MilestoneOwner.staff,
        )
        db.session.add(milestone)
        created.append(milestone)
    db.session.flush()
    return created


def waive_open(engagement: Engagement, actor: User, reason: str) -> int:
    """When an engagement is cancelled or terminated, its open milestones stop being due."""
    now = utcnow()
    waived = 0
    for milestone in db.session.scalars(
        sa.select(Milestone).where(Milestone.engagement_id == engagement.id, Milestone.open_clause())
    ):
        milestone.waived_at = now
        milestone.waived_by_id = actor.id
        milestone.waive_reason = reason
        waived += 1
    db.session.flush()
    return waived


def replan(engagement: Engagement, actor: User | None) -> list[Milestone]:
    """After the agreement dates changed: every open milestone planned from an anchor gets its due day
    recomputed; done and waived ones keep theirs. Returns the milestones that moved."""
    moved: list[Milestone] = []
    changes: list[dict[str, Any]] = []
    for milestone in db.session.scalars(
        sa.select(Milestone).where(
            Milestone.engagement_id == engagement.id,
            Milestone.open_clause(),
            Milestone.anchor.is_not(None),
            Milestone.offset_days.is_not(None),
        )
    ):
        due_on = planned_due_on(engagement, milestone.anchor or "", milestone.offset_days or 0)
        if due_on is not None and due_on != milestone.due_on:
            changes.append({"id": milestone.id, "kind": milestone.kind, "due_on": [milestone.due_on, due_on]})
            milestone.due_on = due_on
            moved.append(milestone)
    db.session.flush()
    if changes:
        record_audit("milestone.replan", engagement, {"milestones": changes}, actor=actor)
    return moved


def add_milestone(
    engagement: Engagement,
    *,
    kind: str,
    title: str,
    due_on: date,
    owner: MilestoneOwner,
    actor: User | None,
    anchor: str | None = None,
    offset_days: int | None = None,
) -> Milestone:
    """A milestone outside the templates (e.g. an outcome-survey round)."""
    milestone = Milestone(
        engagement_id=engagement.id,
        kind=kind,
        title=title,
        due_on=due_on,
        owner=owner,
        anchor=anchor,
        offset_days=offset_days,
    )
    db.session.add(milestone)
    db.session.flush()
    record_audit("milestone.create", milestone, {"kind": kind, "title": title, "due_on": due_on}, actor=actor)
    return milestone


# --- Completing and waiving ------------------------------------------------------------------------------


def may_complete(milestone: Milestone, actor: User) -> bool:
    """The owner side completes: staff who work on the engagement for staff milestones (and, as case
    workers, for firm ones too); the firm's own users for firm milestones."""
    if milestone.is_closed:
        return False
    if is_firm_of(milestone.engagement, actor):
        return milestone.owner is MilestoneOwner.firm
    return may_work_on(milestone.engagement, actor)


def _check_open(milestone: Milestone) -> None:
    if milestone.is_closed:
        raise RuleViolation(
            "milestone_closed",
            _l("This milestone is already %(status)s.", status=milestone.status.title),
        )


def complete(
    milestone: Milestone,
    actor: User,
    evidence: FileStorage | None,
    note: str = "",
    *,
    evidence_required: bool = True,
) -> Milestone:
    """Marks the milestone done with an evidence document (stored as an engagement document)."""
    _check_open(milestone)
    if not may_complete(milestone, actor):
        raise NotPermitted()
    document = None
    if evidence is not None and evidence.filename:
        document = upload_engagement_document(
            milestone.engagement, f"milestone:{milestone.kind}", evidence, actor
        )
    elif evidence_required:
        raise ValidationFailed(
            {"evidence": [_l("Attach the evidence for this milestone (a report, minutes …).")]}
        )
    milestone.done_at = utcnow()
    milestone.done_by_id = actor.id
    milestone.evidence_document_id = document.id if document is not None else None
    milestone.note = (note or "").strip()
    db.session.flush()
    record_audit(
        "milestone.complete",
        milestone,
        {"evidence_document_id": milestone.evidence_document_id, "note": milestone.note},
        actor=actor,
    )
    return milestone


def waive(milestone: Milestone, actor: User, reason: str) -> Milestone:
    """Staff only: a milestone that does not apply any more, with the reason why."""
    _check_open(milestone)
    if not may_work_on(milestone.engagement, actor):
        raise NotPermitted()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_l("Write why this milestone is waived.")]})
    milestone.waived_at = utcnow()
    milestone.waived_by_id = actor.id
    milestone.waive_reason = reason
    db.session.flush()
    record_audit("milestone.waive", milestone, {"reason": reason}, actor=actor)
    return milestone
