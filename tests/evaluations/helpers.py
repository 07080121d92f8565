"""A small world for evaluation tests: one consortium's call with applications under review."""

from __future__ import annotations

from dataclasses import dataclass

from crm.applications.models import Application, ApplicationStatus
from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.evaluations.models import AssignmentStatus, EvaluatorAssignment
from crm.programmes.models import Call
from tests.factories import (
    make_application,
    make_call,
    make_evaluator_assignment,
    make_firm,
    make_programme,
    make_programme_year,
    make_score,
    make_user,
)


@dataclass
class World:
    manager: User
    call: Call
    applications: list[Application]
    evaluators: list[User]


def make_world(applications: int = 3, evaluators: int = 3) -> World:
    year = make_programme_year()
    programme = make_programme(year)
    call = make_call(programme)
    return World(
        manager=make_user(Role.consortium_manager, consortium=year.consortium),
        call=call,
        applications=[
            make_application(call, make_firm(), ApplicationStatus.document_review)
            for _ in range(applications)
        ],
        evaluators=[make_user(Role.evaluator) for _ in range(evaluators)],
    )


def submitted(
    application: Application, evaluator: User, feasibility: float, impact: float, comment: str = ""
) -> EvaluatorAssignment:
    """A submitted assignment under the factory call's criteria: total = 6 × feasibility + 4 × impact."""
    assignment = make_evaluator_assignment(
        application,
        evaluator,
        status=AssignmentStatus.submitted,
        declared_at=utcnow(),
        submitted_at=utcnow(),
        comment=comment,
    )
    make_score(assignment, criterion_key="feasibility", value=feasibility)
    make_score(assignment, criterion_key="impact", value=impact)
    return assignment
