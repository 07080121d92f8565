"""A small world with one object of every kind a route takes as a URL parameter, so every form page of the
app can be opened by a role allowed to use it (tests/security/test_injection.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role, User
from crm.engagements.models import EngagementStatus
from crm.programmes.models import Track
from tests.factories import (
    make_activity,
    make_agreement_change,
    make_application,
    make_call,
    make_consortium,
    make_contact,
    make_declared_support,
    make_delivery,
    make_diagnosis_result,
    make_document,
    make_engagement,
    make_evaluator_assignment,
    make_firm,
    make_firm_claim,
    make_gpu_allocation,
    make_gpu_usage,
    make_import_job,
    make_institution,
    make_kpi_row,
    make_milestone,
    make_notice,
    make_outcome_survey,
    make_programme,
    make_programme_year,
    make_sanction,
    make_training_registration,
    make_training_session,
    make_user,
)


@dataclass
class World:
    users: dict[Role, User]
    # URL parameter name → value, e.g. {"firm_id": 12}
    ids: dict[str, Any] = field(default_factory=dict)


def build_world() -> World:
    consortium = make_consortium()
    institution = make_institution(consortium)
    year = make_programme_year(consortium)
    programme = make_programme(year, institution, track=Track.adoption)
    training = make_programme(year, institution, track=Track.training)
    infrastructure = make_programme(year, institution, track=Track.infrastructure)
    call = make_call(programme)
    firm = make_firm(consortium)
    contact = make_contact(firm)

    manager = make_user(Role.consortium_manager, consortium=consortium)
    users = {
        Role.admin: make_user(Role.admin),
        Role.consortium_manager: manager,
        Role.coordinator: make_user(Role.coordinator, institution=institution),
        Role.evaluator: make_user(Role.evaluator),
        Role.national_viewer: make_user(Role.national_viewer),
        Role.firm_user: make_user(Role.firm_user, firm=firm),
    }

    draft = make_application(call, firm, status=ApplicationStatus.draft)
    support = make_declared_support(draft)
    reviewed = make_application(call, make_firm(consortium), status=ApplicationStatus.document_review)
    assignment = make_evaluator_assignment(reviewed, users[Role.evaluator])
    document = make_document(draft)

    engagement = make_engagement(
        programme,
        firm,
        status=EngagementStatus.in_progress,
        starts_on=date(2026, 3, 1),
        ends_on=date(2026, 12, 31),
        gov_krw=50_000_000,
        local_krw=20_000_000,
        self_cash_krw=10_000_000,
        self_inkind_krw=5_000_000,
    )
    closed = make_engagement(programme, make_firm(consortium), status=EngagementStatus.closed)
    gpu_engagement = make_engagement(infrastructure, firm, status=EngagementStatus.in_progress)
    allocation = make_gpu_allocation(gpu_engagement)
    session = make_training_session(training)
    notice = make_notice()
    victim = make_user(Role.coordinator, institution=institution)

    ids = {
        "consortium_id": consortium.id,
        "institution_id": institution.id,
        "year_id": year.id,
        "programme_id": programme.id,
        "call_id": call.id,
        "firm_id": firm.id,
        "contact_id": contact.id,
        "application_id": draft.id,
        "support_id": support.id,
        "assignment_id": assignment.id,
        "document_id": document.id,
        "engagement_id": engagement.id,
        "change_id": make_agreement_change(engagement).id,
        "milestone_id": make_milestone(engagement).id,
        "activity_id": make_activity(engagement).id,
        "kpi_id": make_kpi_row(engagement).id,
        "survey_id": make_outcome_survey(closed).id,
        "usage_id": make_gpu_usage(allocation).id,
        "session_id": session.id,
        "registration_id": make_training_registration(session).id,
        "result_id": make_diagnosis_result(firm).id,
        "sanction_id": make_sanction(firm).id,
        "notice_id": notice.id,
        "delivery_id": make_delivery(notice).id,
        "job_id": make_import_job(manager).id,
        "claim_id": make_firm_claim(firm=firm).id,
        "user_id": victim.id,
        "token": "x",
        "dimension": "track",
    }
    return World(users=users, ids=ids)
