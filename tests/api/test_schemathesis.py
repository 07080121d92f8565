"""Fuzzing the live app from its own OpenAPI document: no 5xx, and every response (status, content type,
body) as the document says. Bounded examples per operation keep it quick; derandomized, so a failure
reproduces."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.auth.models import Role
from tests.api.helpers import Api
from tests.factories import make_application, make_engagement, make_milestone, make_user

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 8


def test_the_api_keeps_its_document(app, app_ctx):
    engagement = make_engagement()
    make_milestone(engagement)
    make_application()
    manager = make_user(Role.consortium_manager, consortium=engagement.programme.programme_year.consortium)
    headers = {"Authorization": Api(app, manager).headers["Authorization"], "Accept-Language": "en"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 3
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
