"""Downloading goes through a visibility check and always answers as an attachment."""

from __future__ import annotations

import io
from urllib.parse import quote

import pytest
from werkzeug.datastructures import FileStorage

from crm.applications.models import ApplicationStatus
from crm.auth.models import Role
from crm.documents import operations
from crm.evaluations.models import AssignmentStatus
from crm.extensions import db
from tests.conftest import login
from tests.documents.helpers import HWP, PDF
from tests.factories import (
    make_application,
    make_call,
    make_document,
    make_evaluator_assignment,
    make_institution,
    make_programme,
    make_user,
)


@pytest.fixture
def stored(app, upload_dir):
    """An application in document review with one uploaded (committed) business plan."""
    programme = make_programme()
    application = make_application(make_call(programme), status=ApplicationStatus.document_review)
    document = operations.upload_application_document(
        application,
        "business_plan",
        FileStorage(io.BytesIO(HWP), "울산 사업계획서 v1.hwp"),
        make_user(Role.admin),
    )
    db.session.commit()
    return {"application": application, "document": document, "programme": programme}


def test_download_is_an_attachment_with_the_korean_name(client, stored):
    firm_user = make_user(Role.firm_user, firm=stored["application"].firm)
    login(client, firm_user.email)
    response = client.get(f"/documents/{stored['document'].id}")
    assert response.status_code == 200
    assert response.data == HWP
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename*=UTF-8''{quote('울산 사업계획서 v1.hwp')}" in disposition
    assert response.mimetype == "application/x-hwp"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("role", [Role.admin, Role.consortium_manager, Role.coordinator])
def test_staff_of_the_programme_download(client, stored, role):
    programme = stored["programme"]
    if role is Role.consortium_manager:
        user = make_user(role, consortium=programme.programme_year.consortium)
    elif role is Role.coordinator:
        user = make_user(role, institution=programme.institution)
    else:
        user = make_user(role)
    login(client, user.email)
    assert client.get(f"/documents/{stored['document'].id}").status_code == 200


def test_another_firms_document_is_404(client, stored):
    login(client, make_user(Role.firm_user).email)
    assert client.get(f"/documents/{stored['document'].id}").status_code == 404


def test_staff_of_another_consortium_or_institution_get_404(client, stored):
    login(client, make_user(Role.consortium_manager).email)
    assert client.get(f"/documents/{stored['document'].id}").status_code == 404
    other_browser = client.application.test_client()
    consortium = stored["programme"].programme_year.consortium
    login(other_browser, make_user(Role.coordinator, institution=make_institution(consortium)).email)
    assert other_browser.get(f"/documents/{stored['document'].id}").status_code == 404


def test_national_viewer_gets_404(client, stored):
    login(client, make_user(Role.national_viewer).email)
    assert client.get(f"/documents/{stored['document'].id}").status_code == 404


def test_evaluator_sees_documents_only_when_assigned_and_declared(client, stored):
    evaluator = make_user(Role.evaluator)
    login(client, evaluator.email)
    url = f"/documents/{stored['document'].id}"
    assert client.get(url).status_code == 404  # not assigned
    assignment = make_evaluator_assignment(stored["application"], evaluator)
    assert client.get(url).status_code == 404  # assigned, no declaration yet
    assignment.status = AssignmentStatus.scoring  # declared no conflict of interest
    db.session.flush()
    assert client.get(url).status_code == 200
    assignment.status = AssignmentStatus.recused
    db.session.flush()
    assert client.get(url).status_code == 404


def test_unknown_document_and_missing_file_are_404(client, app):
    login(client, make_user(Role.admin).email)
    assert client.get("/documents/999999").status_code == 404
    orphan_row = make_document(make_application())  # a row whose file is not on disk
    assert client.get(f"/documents/{orphan_row.id}").status_code == 404


def test_anonymous_is_sent_to_login(client, stored):
    response = client.get(f"/documents/{stored['document'].id}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_document_list_macro_shows_current_missing_and_earlier(app, stored, upload_dir):
    from flask import render_template_string

    application = stored["application"]
    call = application.call
    call.required_documents = [
        {"kind": "business_plan", "label": "사업계획서"},
        {"kind": "financials", "label": "재무제표"},
    ]
    operations.upload_application_document(
        application, "business_plan", FileStorage(io.BytesIO(PDF), "v2.pdf"), make_user(Role.admin)
    )
    db.session.flush()
    template = (
        '{% from "documents/_macros.html" import document_list %}'
        "{{ document_list(application, can_upload, next_url) }}"
    )
    with app.test_request_context("/", headers={"Cookie": "lang=en"}):
        html = render_template_string(template, application=application, can_upload=True, next_url="/here")
        read_only = render_template_string(template, application=application, can_upload=False, next_url=None)
    assert "사업계획서" in html and "재무제표" in html
    assert "v2.pdf" in html and "울산 사업계획서 v1.hwp" in html  # current, and the earlier one
    assert "badge-danger" in html  # the missing financial statement is flagged
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html
    assert 'value="/here"' in html and 'accept=".pdf,.hwp,.hwpx,.docx,.xlsx,.jpg,.jpeg,.png"' in html
    assert '<option value="other"' in html
    assert "<form" not in read_only and "v2.pdf" in read_only
