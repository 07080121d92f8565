"""The two rules every selection runs (DESIGN.md §5): the eligibility check and the duplicate-support guard.
Both are read-only: they return what is wrong, and the operations decide what to refuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.applications.models import Application, ApplicationStatus, DeclaredSupport
from crm.core.time import today_kst
from crm.engagements.models import RUNNING_STATUSES, Engagement, EngagementStatus
from crm.extensions import db
from crm.firms.models import BusinessStatus
from crm.programmes.models import Programme, ProgrammeYear
from crm.sanctions.operations import active_sanctions


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def eligibility_problems(application: Application, day: date | None = None) -> list[Problem]:
    """The automatic eligibility check: business status, sanctions, SME certificate, KSIC, documents.
    An empty list means eligible."""
    day = day or today_kst()
    firm = application.firm
    programme = application.programme
    problems: list[Problem] = []
    if firm.business_status is not BusinessStatus.active:
        problems.append(
            Problem(
                "business_status",
                str(
                    _l(
                        "The business is not operating (status: %(status)s).",
                        status=firm.business_status.title,
                    )
                ),
            )
        )
    for ban in active_sanctions(firm, day):
        until = ban.ends_on.isoformat() if ban.ends_on else str(_l("indefinitely"))
        problems.append(
            Problem("sanction", str(_l("Participation ban in force until %(until)s.", until=until)))
        )
    if programme.requires_sme_certificate and not firm.sme_certificate_valid_on(day):
        problems.append(
            Problem(
                "sme_certificate", str(_l("No SME certificate valid today (the programme requires one)."))
            )
        )
    excluded = [
        p for p in programme.excluded_ksic_prefixes or [] if firm.ksic_code and firm.ksic_code.startswith(p)
    ]
    if excluded:
        problems.append(
            Problem(
                "ksic_excluded",
                str(_l("Industry %(code)s is excluded from this programme.", code=firm.ksic_code)),
            )
        )
    for document in application.missing_document_kinds:
        problems.append(
            Problem("document_missing", str(_l("Missing document: %(label)s.", label=document["label"])))
        )
    return problems


@dataclass(frozen=True)
class SupportConflict:
    """Earlier or concurrent support of the same track that blocks a selection."""

    kind: str  # "engagement" | "declared"
    object_id: int
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.object_id, "description": self.description}


def _window_start(programme: Programme) -> date:
    """Support that ended on or after this day falls inside the programme's exclusivity window."""
    start = programme.programme_year.starts_on
    try:
        return start.replace(year=start.year - programme.exclusivity_years)
    except ValueError:  # 29 February
        return start.replace(year=start.year - programme.exclusivity_years, day=28)


def duplicate_support_conflicts(application: Application) -> list[SupportConflict]:
    """Engagements of the same track anywhere in the system (any consortium) that are still running or
    ended inside the exclusivity window, and declared support of the same track inside it."""
    return support_conflicts(
        application.firm_id, application.programme, application.declared_supports, application.id
    )


def support_conflicts(
    firm_id: int,
    programme: Programme,
    declared_supports: list[DeclaredSupport] | tuple[()] = (),
    application_id: int | None = None,
) -> list[SupportConflict]:
    """The duplicate-support guard for a firm entering `programme`, with or without an application (a
    coordinator creating an engagement directly has no declared support to weigh)."""
    window_start = _window_start(programme) if programme.exclusivity_years else None
    engagements = db.session.scalars(
        sa.select(Engagement)
        .join(Programme, Engagement.programme_id == Programme.id)
        .join(ProgrammeYear, Programme.programme_year_id == ProgrammeYear.id)
        .where(
            Engagement.firm_id == firm_id,
            Programme.track == programme.track,
            Engagement.status != EngagementStatus.cancelled,
            sa.or_(Engagement.application_id.is_(None), Engagement.application_id != application_id),
        )
        .order_by(Engagement.id)
    ).all()
    conflicts = []
    for engagement in engagements:
        running = engagement.status in RUNNING_STATUSES
        recent = window_start is not None and engagement.period_end >= window_start
        if running or recent:
            consortium = engagement.programme.programme_year.consortium.name
            conflicts.append(
                SupportConflict(
                    "engagement",
                    engagement.id,
                    str(
                        _l(
                            "Engagement #%(id)s: %(programme)s (%(consortium)s), %(status)s",
                            id=engagement.id,
                            programme=engagement.programme.name,
                            consortium=consortium,
                            status=engagement.status.title,
                        )
                    ),
                )
            )
    for support in declared_supports:
        if support.track is not programme.track:
            continue
        if support.ended_on is None or (window_start is not None and support.ended_on >= window_start):
            conflicts.append(
                SupportConflict(
                    "declared",
                    support.id,
                    str(
                        _l(
                            "Declared support: %(programme)s (%(agency)s), from %(start)s",
                            programme=support.programme_name,
                            agency=support.agency,
                            start=support.started_on.isoformat(),
                        )
                    ),
                )
            )
    return conflicts


def selected_count(call_id: int) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Application)
            .where(Application.call_id == call_id, Application.status == ApplicationStatus.selected)
        )
        or 0
    )
