"""Uploading application documents through the page: types, sizes, versions, who may."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from crm.applications.models import ApplicationStatus
from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, TooLarge, ValidationFailed
from crm.documents import operations
from crm.extensions import db
from tests.conftest import login
from tests.documents.helpers import EXE, PDF, PLAIN_ZIP, PNG, SAMPLES, documents_of, stored_files, upload
from tests.factories import make_application, make_call, make_institution, make_programme, make_user

MB = 1024 * 1024


@pytest.fixture
def world(app):
    """A call requiring a business plan and a financial statement, a firm's draft application to it, the
    firm's user, and the coordinator and manager running the programme."""
    programme = make_programme()
    call = make_call(
        programme,
        required_documents=[
            {"kind": "business_plan", "label": "사업계획서"},
            {"kind": "financials", "label": "재무제표"},
        ],
    )
    application = make_application(call)
    return {
        "application": application,
        "firm_user": make_user(Role.firm_user, firm=application.firm),
        "coordinator": make_user(Role.coordinator, institution=programme.institution),
        "manager": make_user(Role.consortium_manager, consortium=programme.programme_year.consortium),
    }


@pytest.mark.parametrize("extension", sorted(SAMPLES))
def test_firm_user_uploads_every_accepted_type(client, world, upload_dir, extension):
    application = world["application"]
    login(client, world["firm_user"].email)
    content = SAMPLES[extension]
    response = upload(client, application.id, f"사업계획서.{extension}", content)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert response.headers["Location"] == f"/portal/applications/{application.id}"
    [document] = documents_of(application.id)
    assert (document.kind, document.filename, document.version) == (
        "business_plan",
        f"사업계획서.{extension}",
        1,
    )
    assert document.size == len(content)
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert document.uploaded_by_id == world["firm_user"].id
    assert document.superseded_at is None
    [path] = stored_files(upload_dir)
    assert path.name == document.stored_name and path.read_bytes() == content


def test_stored_outside_static_and_audited(client, app, world, upload_dir):
    login(client, world["coordinator"].email)
    response = upload(client, world["application"].id, "재무제표.xlsx", SAMPLES["xlsx"], kind="financials")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/applications/{world['application'].id}"
    [document] = documents_of(world["application"].id)
    [path] = stored_files(upload_dir)
    static = Path(app.static_folder).resolve()
    assert static not in path.resolve().parents
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "document.upload"))
    assert event.object_type == "documents" and event.object_id == document.id
    assert event.actor_id == world["coordinator"].id
    assert event.changes["sha256"] == document.sha256 and event.changes["size"] == document.size
    assert event.changes["filename"] == "재무제표.xlsx" and event.changes["kind"] == "financials"


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("report.pdf", EXE, "program (executable)"),
        ("scan.pdf", PNG, "its content is a PNG image"),
        ("setup.exe", EXE, "Files of type .exe are not accepted"),
        ("bundle.zip", PLAIN_ZIP, "Files of type .zip are not accepted"),
    ],
)
def test_wrong_type_is_refused_with_its_reason_and_leaves_nothing(
    client_en, world, upload_dir, filename, content, expected
):
    login(client_en, world["firm_user"].email)
    response = upload(client_en, world["application"].id, filename, content)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert expected in page
    assert "The document was not uploaded" in page
    assert f'href="/portal/applications/{world["application"].id}"' in page  # the way back
    assert documents_of(world["application"].id) == []
    assert stored_files(upload_dir) == []


def test_refusal_keeps_the_chosen_kind(client_en, world, upload_dir):
    login(client_en, world["firm_user"].email)
    response = upload(client_en, world["application"].id, "fs.exe", EXE, kind="financials")
    assert response.status_code == 422
    assert '<option value="financials" selected>' in response.get_data(as_text=True)


def test_unknown_kind_and_missing_file_are_named(client_en, world, upload_dir):
    login(client_en, world["firm_user"].email)
    response = upload(client_en, world["application"].id, "a.pdf", PDF, kind="passport")
    assert response.status_code == 422
    assert "Choose which document this is from the list." in response.get_data(as_text=True)
    no_file = client_en.post(
        f"/applications/{world['application'].id}/documents",
        data={"csrf_token": _token(client_en), "kind": "business_plan"},
        content_type="multipart/form-data",
    )
    assert no_file.status_code == 422
    assert "Choose a file to upload." in no_file.get_data(as_text=True)
    assert documents_of(world["application"].id) == [] and stored_files(upload_dir) == []


def _token(client):
    from tests.conftest import csrf_token

    return csrf_token(client, "/account")


def test_over_20_mb_is_refused_by_the_operation_with_413(client_en, world, upload_dir):
    login(client_en, world["firm_user"].email)
    response = upload(client_en, world["application"].id, "big.pdf", PDF + b"0" * (21 * MB))
    assert response.status_code == 413
    assert "larger than 20 MB" in response.get_data(as_text=True)
    assert documents_of(world["application"].id) == [] and stored_files(upload_dir) == []


def test_over_25_mb_is_refused_by_werkzeug_with_413(client_en, world, upload_dir):
    login(client_en, world["firm_user"].email)
    response = upload(client_en, world["application"].id, "huge.pdf", PDF + b"0" * (26 * MB))
    assert response.status_code == 413
    assert documents_of(world["application"].id) == [] and stored_files(upload_dir) == []


def test_replacing_keeps_the_old_version(client, world, upload_dir):
    application = world["application"]
    login(client, world["firm_user"].email)
    assert upload(client, application.id, "v1.pdf", PDF).status_code == 302
    second = PDF + b"% second\n"
    assert upload(client, application.id, "v2.pdf", second).status_code == 302
    old, new = documents_of(application.id)
    assert (old.filename, old.version) == ("v1.pdf", 1) and old.superseded_at is not None
    assert (new.filename, new.version) == ("v2.pdf", 2) and new.superseded_at is None
    assert new.sha256 == hashlib.sha256(second).hexdigest()
    assert len(stored_files(upload_dir)) == 2
    db.session.expire_all()
    assert application.current_document("business_plan").id == new.id
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "document.replace"))
    assert event.object_id == new.id and event.changes["replaces_document_id"] == old.id
    # both versions stay downloadable
    assert client.get(f"/documents/{old.id}").data == PDF
    assert client.get(f"/documents/{new.id}").data == second


def test_other_documents_accumulate(client, world, upload_dir):
    login(client, world["firm_user"].email)
    for name in ("a.pdf", "b.png"):
        content = PDF if name.endswith("pdf") else PNG
        assert upload(client, world["application"].id, name, content, kind="other").status_code == 302
    documents = documents_of(world["application"].id)
    assert [(d.kind, d.version, d.superseded_at) for d in documents] == [
        ("other", 1, None),
        ("other", 1, None),
    ]


def test_next_is_followed_only_when_local(client, world, upload_dir):
    login(client, world["firm_user"].email)
    app_id = world["application"].id
    local = upload(client, app_id, "a.pdf", PDF, next=f"/portal/applications/{app_id}#documents")
    assert local.headers["Location"] == f"/portal/applications/{app_id}#documents"
    foreign = upload(client, app_id, "a.pdf", PDF, next="https://evil.example/")
    assert foreign.headers["Location"] == f"/portal/applications/{app_id}"


def test_firm_user_cannot_upload_after_submission(client_en, world, upload_dir):
    application = world["application"]
    application.status = ApplicationStatus.submitted
    db.session.flush()
    login(client_en, world["firm_user"].email)
    response = upload(client_en, application.id, "late.pdf", PDF)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "only while the application is a draft or a supplement is requested" in page
    assert documents_of(application.id) == [] and stored_files(upload_dir) == []


def test_firm_user_may_upload_when_a_supplement_is_requested(client, world, upload_dir):
    world["application"].status = ApplicationStatus.supplement_requested
    db.session.flush()
    login(client, world["firm_user"].email)
    assert upload(client, world["application"].id, "fix.pdf", PDF).status_code == 302


def test_staff_upload_at_any_status_but_withdrawn(client_en, world, upload_dir):
    application = world["application"]
    application.status = ApplicationStatus.document_review
    db.session.flush()
    login(client_en, world["manager"].email)
    assert upload(client_en, application.id, "a.pdf", PDF).status_code == 302
    application.status = ApplicationStatus.withdrawn
    db.session.flush()
    response = upload(client_en, application.id, "b.pdf", PDF)
    assert response.status_code == 403
    assert "withdrawn" in response.get_data(as_text=True)
    assert len(documents_of(application.id)) == 1


def test_another_firms_application_is_404(client, world, upload_dir):
    other = make_application()
    login(client, world["firm_user"].email)
    assert upload(client, other.id, "a.pdf", PDF).status_code == 404
    assert documents_of(other.id) == [] and stored_files(upload_dir) == []


def test_staff_of_another_consortium_get_404(client, world, upload_dir):
    stranger_manager = make_user(Role.consortium_manager)
    login(client, stranger_manager.email)
    assert upload(client, world["application"].id, "a.pdf", PDF).status_code == 404
    client.post("/logout", data={"csrf_token": _token(client)})
    # a coordinator of another institution of the same consortium does not run this programme either
    consortium = world["application"].call.programme.programme_year.consortium
    other_coordinator = make_user(Role.coordinator, institution=make_institution(consortium))
    login(client, other_coordinator.email)
    assert upload(client, world["application"].id, "a.pdf", PDF).status_code == 404
    assert documents_of(world["application"].id) == []


@pytest.mark.parametrize("role", [Role.evaluator, Role.national_viewer])
def test_evaluators_and_viewers_are_refused_by_the_route(client, world, upload_dir, role):
    login(client, make_user(role).email)
    assert upload(client, world["application"].id, "a.pdf", PDF).status_code == 403


def test_operation_refuses_evaluators_and_checks_kind(app_ctx, upload_dir):
    from werkzeug.datastructures import FileStorage

    application = make_application(make_call(make_programme()))
    evaluator = make_user(Role.evaluator)
    with pytest.raises(NotPermitted):
        operations.upload_application_document(
            application, "business_plan", FileStorage(io.BytesIO(PDF), "a.pdf"), evaluator
        )
    admin = make_user(Role.admin)
    with pytest.raises(ValidationFailed) as bad_kind:
        operations.upload_application_document(application, "x", FileStorage(io.BytesIO(PDF), "a.pdf"), admin)
    assert set(bad_kind.value.fields) == {"kind"}
    with pytest.raises(ValidationFailed) as bad_file:
        operations.upload_application_document(
            application, "business_plan", FileStorage(io.BytesIO(EXE), "a.pdf"), admin
        )
    assert set(bad_file.value.fields) == {"file"} and bad_file.value.status == 422
    assert stored_files(upload_dir) == []


def test_operation_too_large_is_413_too_large(app_ctx, upload_dir, app, monkeypatch):
    from werkzeug.datastructures import FileStorage

    monkeypatch.setitem(app.config, "DOCUMENT_MAX_BYTES", 1000)
    application = make_application(make_call(make_programme()))
    with pytest.raises(TooLarge) as refused:
        operations.upload_application_document(
            application,
            "business_plan",
            FileStorage(io.BytesIO(PDF + b"0" * 2000), "a.pdf"),
            make_user(Role.admin),
        )
    assert (refused.value.status, refused.value.code) == (413, "too_large")
    assert stored_files(upload_dir) == []


def test_stored_file_is_removed_when_the_upload_rolls_back(app_ctx, upload_dir):
    from werkzeug.datastructures import FileStorage

    application = make_application(make_call(make_programme()))
    document = operations.upload_application_document(
        application, "business_plan", FileStorage(io.BytesIO(PDF), "a.pdf"), make_user(Role.admin)
    )
    assert [p.name for p in stored_files(upload_dir)] == [document.stored_name]
    db.session.rollback()
    assert stored_files(upload_dir) == []
