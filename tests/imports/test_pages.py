"""The import pages in English: upload, mapping, dry-run lists, apply with progress, run now, revert; who
may see which job."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from crm.auth.models import Role
from crm.extensions import db
from crm.firms.models import Firm
from crm.imports import operations
from crm.imports.models import ImportJob, ImportStatus
from tests.conftest import login, post_form
from tests.factories import make_import_job, make_user
from tests.imports.conftest import csv_bytes, sample_rows, upload, xlsx_bytes


def _upload(client, data: bytes, filename: str):
    return post_form(
        client,
        "/imports/new",
        {"file": (io.BytesIO(data), filename)},
        page="/imports",
        content_type="multipart/form-data",
    )


def _job_id(response) -> int:
    return int(re.search(r"/imports/(\d+)", response.headers["Location"]).group(1))


def _job(job_id: int) -> ImportJob:
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def test_the_whole_flow_from_an_xlsx_file(client_en, world, enqueued):
    login(client_en, world["manager"].email)
    page = client_en.get("/imports").get_data(as_text=True)
    assert "Import firms" in page and "No imports yet." in page
    response = _upload(client_en, xlsx_bytes(sample_rows(world)), "기업목록.xlsx")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    job_id = _job_id(response)
    assert response.headers["Location"] == f"/imports/{job_id}/mapping"

    mapping_page = client_en.get(f"/imports/{job_id}/mapping").get_data(as_text=True)
    assert "Which column holds what?" in mapping_page
    assert re.search(r'<option selected value="0">A · 사업자등록번호</option>', mapping_page)
    form = {key: str(index) for key, index in _job(job_id).mapping.items()}
    response = post_form(client_en, f"/imports/{job_id}/mapping", form)
    assert response.status_code == 302 and response.headers["Location"] == f"/imports/{job_id}"

    page = client_en.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "Dry run: nothing was written yet." in page
    assert "Apply: 1 new firms, 1 updates" in page
    assert "This business registration number is not valid (the check digit does not match)." in page
    assert "Enter the firm&#39;s name." in page and "Unknown 시도 “화성”." in page
    assert "Same business registration number as row 2." in page
    assert "시군구: <ins>울산광역시 남구</ins>" in page and "Employees: <del>25</del> → <ins>30</ins>" in page
    invalid = client_en.get(f"/imports/{job_id}?action=invalid").get_data(as_text=True)
    assert "(주)새기업</" not in invalid and "(주)지역오류" in invalid

    response = post_form(client_en, f"/imports/{job_id}/apply", {}, page=f"/imports/{job_id}")
    assert response.status_code == 302 and enqueued == [job_id]
    page = client_en.get(f"/imports/{job_id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page and "Run now" in page
    assert '<progress id="import-progress" value="0" max="2">' in page

    response = post_form(client_en, f"/imports/{job_id}/run", {}, page=f"/imports/{job_id}")
    assert response.status_code == 302
    assert _job(job_id).status is ImportStatus.applied
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(Firm).where(Firm.brn == world["brns"]["new"])
    )
    page = client_en.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "refresh" not in page and '<progress id="import-progress" value="2" max="2">' in page

    assert "Revert import" in client_en.get(f"/imports/{job_id}/revert").get_data(as_text=True)
    refused = post_form(client_en, f"/imports/{job_id}/revert", {})
    assert refused.status_code == 422
    assert "Tick the box to confirm that the import is to be reverted." in refused.get_data(as_text=True)
    response = post_form(client_en, f"/imports/{job_id}/revert", {"confirm": "y"})
    assert response.status_code == 302
    assert _job(job_id).status is ImportStatus.reverted
    assert "Everything this import wrote was undone." in client_en.get(f"/imports/{job_id}").get_data(
        as_text=True
    )


def test_upload_errors_are_shown_on_the_field(client_en, world, app, monkeypatch):
    login(client_en, world["coordinator"].email)
    response = _upload(client_en, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "firms.csv")
    assert response.status_code == 422
    assert "This file is neither an Excel workbook (.xlsx) nor a CSV text file." in response.get_data(
        as_text=True
    )
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1024)
    rows = sample_rows(world)
    response = _upload(client_en, csv_bytes(rows + rows[1:2] * 20), "firms.csv")
    assert response.status_code == 422
    assert "The file is larger than 1 KB. Split it into smaller files." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportJob)) == 0


def test_a_dry_run_csv_without_personal_data(client_en, world):
    job = operations.upload_import(upload(csv_bytes(sample_rows(world))), world["manager"])
    operations.preview(job, job.mapping, world["manager"])
    db.session.commit()
    login(client_en, world["manager"].email)
    response = client_en.get(f"/imports/{job.id}?format=csv&action=invalid", buffered=True)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeffRow,Action,") and "(주)지역오류" in text and ",(주)새기업," not in text
    assert "park@example.com" not in client_en.get(f"/imports/{job.id}?format=csv", buffered=True).get_data(
        as_text=True
    )


def test_jobs_of_another_consortium_or_institution_are_404(client_en, world):
    job = make_import_job(world["coordinator"])
    for key, status in (
        ("manager", 200),
        ("coordinator", 200),
        ("other_coordinator", 404),
        ("gangwon_manager", 404),
    ):
        browser = client_en.application.test_client()
        browser.set_cookie("lang", "en")
        login(browser, world[key].email)
        assert browser.get(f"/imports/{job.id}").status_code == status, key
        assert browser.get(f"/imports/{job.id}/mapping").status_code == status, key
        listing = browser.get("/imports").get_data(as_text=True)
        assert (job.filename in listing) is (status == 200), key


@pytest.mark.parametrize("role", [Role.evaluator, Role.national_viewer, Role.firm_user])
def test_other_roles_are_refused(client_en, world, role):
    login(client_en, make_user(role).email)
    assert client_en.get("/imports").status_code == 403
    assert client_en.get(f"/imports/{make_import_job(world['manager']).id}").status_code == 403


def test_the_blank_template(client_en, world):
    login(client_en, world["manager"].email)
    response = client_en.get("/imports/template.csv")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("\ufeff사업자등록번호,기업명,")
