"""Every model has a factory that makes a valid row; a new model without one fails here."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from tests import factories

FACTORY_FOR_TABLE = {
    "users": factories.make_user,
    "user_sessions": factories.make_user_session,
    "login_failures": factories.make_login_failure,
    "consortia": factories.make_consortium,
    "institutions": factories.make_institution,
    "programme_years": factories.make_programme_year,
    "programmes": factories.make_programme,
    "calls": factories.make_call,
    "firms": factories.make_firm,
    "firm_financials": lambda: factories.make_financial(factories.make_firm()),
    "firm_links": lambda: factories.make_firm_link(factories.make_firm(), factories.make_consortium()),
    "contacts": factories.make_contact,
    "audit_events": factories.make_audit_event,
    "access_logs": factories.make_access_log,
    "email_tokens": factories.make_email_token,
    "firm_claims": factories.make_firm_claim,
    "applications": factories.make_application,
    "application_history": factories.make_application_history,
    "declared_supports": factories.make_declared_support,
    "documents": factories.make_document,
    "sanctions": factories.make_sanction,
    "engagements": factories.make_engagement,
    "engagement_history": factories.make_engagement_history,
    "evaluator_assignments": factories.make_evaluator_assignment,
    "scores": factories.make_score,
    "notices": factories.make_notice,
    "deliveries": factories.make_delivery,
    "agreement_changes": factories.make_agreement_change,
    "milestones": factories.make_milestone,
    "activities": factories.make_activity,
    "kpi_rows": factories.make_kpi_row,
    "outcome_surveys": factories.make_outcome_survey,
    "training_sessions": factories.make_training_session,
    "training_registrations": factories.make_training_registration,
    "gpu_allocations": factories.make_gpu_allocation,
    "gpu_usages": factories.make_gpu_usage,
    "diagnosis_results": factories.make_diagnosis_result,
    "reminders": factories.make_reminder,
    "api_tokens": factories.make_api_token,
    "heartbeats": factories.make_heartbeat,
    "import_jobs": factories.make_import_job,
    "import_rows": factories.make_import_row,
    "calendar_tokens": factories.make_calendar_token,
}


def test_every_table_has_a_factory():
    assert set(db.metadata.tables) == set(FACTORY_FOR_TABLE)


def test_each_factory_writes_a_row(app_ctx):
    for table_name, factory in FACTORY_FOR_TABLE.items():
        row = factory()
        table = db.metadata.tables[table_name]
        count = db.session.scalar(sa.select(sa.func.count()).select_from(table).where(table.c.id == row.id))
        assert count == 1, table_name
