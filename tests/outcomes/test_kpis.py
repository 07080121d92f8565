"""KPI rows: staff add, edit and delete them (with evidence); the firm fills in actuals in the portal;
achievement; who may; the panels."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.audit.models import AuditEvent
from crm.auth.models import Role
from crm.core.exceptions import NotPermitted, RuleViolation, ValidationFailed
from crm.core.time import today_kst
from crm.documents.models import Document
from crm.engagements.models import EngagementStatus
from crm.extensions import db
from crm.outcomes import operations
from crm.outcomes.models import KpiRow
from crm.outcomes.operations import ActualData, KpiData
from tests.conftest import csrf_token, login, post_form
from tests.documents.helpers import EXE, PDF
from tests.factories import (
    make_consortium,
    make_document,
    make_engagement,
    make_firm,
    make_institution,
    make_kpi_row,
    make_programme,
    make_user,
)


@pytest.fixture
def world(app):
    consortium = make_consortium()
    institution = make_institution(consortium)
    programme = make_programme(institution=institution, name="AI 솔루션 도입 성과")
    firm = make_firm(consortium, name="(주)성과테스트")
    engagement = make_engagement(
        programme, firm, status=EngagementStatus.in_progress, ends_on=today_kst() + timedelta(days=40)
    )
    return {
        "firm": firm,
        "programme": programme,
        "engagement": engagement,
        "coordinator": make_user(Role.coordinator, institution=institution),
        "other_coordinator": make_user(Role.coordinator, institution=make_institution(consortium)),
        "firm_user": make_user(Role.firm_user, firm=firm),
        "other_firm_user": make_user(Role.firm_user, firm=make_firm(consortium)),
    }


def _form(**changes: str) -> dict[str, str]:
    values = {
        "indicator": "불량률",
        "unit": "%",
        "baseline": "4.2",
        "target": "2.1",
        "actual": "",
        "measured_on": "",
    }
    values.update(changes)
    return values


def _rows(engagement_id: int) -> list[KpiRow]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(KpiRow).where(KpiRow.engagement_id == engagement_id).order_by(KpiRow.id))
    )


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def _multipart(client, url: str, data: dict, files: dict[str, tuple[bytes, str]]):
    payload = {"csrf_token": csrf_token(client, "/account"), **data}
    for name, (content, filename) in files.items():
        payload[name] = (io.BytesIO(content), filename)
    return client.post(url, data=payload, content_type="multipart/form-data")


# --- achievement ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "target", "actual", "expected"),
    [
        ("100", "200", "150", Decimal("50.0")),
        ("100", "200", "230", Decimal("130.0")),
        ("4.2", "2.1", "2.1", Decimal("100.0")),  # an indicator that should fall
        ("4.2", "2.1", "3.5", Decimal("33.3")),
        ("100", "100", "120", None),
        (None, "200", "150", None),
        ("100", "200", None, None),
    ],
)
def test_achievement(app_ctx, world, baseline, target, actual, expected):
    row = make_kpi_row(
        world["engagement"],
        baseline=Decimal(baseline) if baseline else None,
        target=Decimal(target),
        actual=Decimal(actual) if actual else None,
    )
    assert operations.achievement(row) == expected


# --- staff ------------------------------------------------------------------------------------------------


def test_coordinator_adds_a_kpi_row_with_evidence(client, world):
    engagement = world["engagement"]
    login(client, world["coordinator"].email)
    url = f"/engagements/{engagement.id}/kpis/new"
    page = client.get(url).get_data(as_text=True)
    assert '<datalist id="kpi-indicators">' in page and '<option value="납기준수율">' in page
    yesterday = (today_kst() - timedelta(days=1)).isoformat()
    response = _multipart(
        client,
        url,
        _form(indicator="생산성 (자체 지표)", actual="1,234.5", measured_on=yesterday),
        {"evidence": (PDF, "생산일보.pdf")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert response.headers["Location"] == f"/engagements/{engagement.id}#outcomes"
    [row] = _rows(engagement.id)
    assert row.indicator == "생산성 (자체 지표)" and row.unit == "%"
    assert (row.baseline, row.target, row.actual) == (Decimal("4.2"), Decimal("2.1"), Decimal("1234.5"))
    assert row.measured_on == date.fromisoformat(yesterday) and row.position == 1
    document = db.session.get(Document, row.evidence_document_id)
    assert document.engagement_id == engagement.id and document.kind == "kpi"
    assert document.filename == "생산일보.pdf"
    [event] = _events("kpi.add")
    assert event.object_id == row.id and event.changes["actual"] == "1234.5"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"indicator": ""}, "Enter the indicator"),
        ({"indicator": "가" * 101}, "at most 100 characters"),
        ({"unit": "x" * 31}, "at most 30 characters"),
        ({"baseline": "1.234"}, "Enter at most two decimal places."),
        ({"target": "lots"}, "Enter a number"),
        ({"actual": "3"}, "Enter the date the actual value was measured."),
        ({"actual": "3", "measured_on": "2999-01-01"}, "The measurement date cannot be in the future."),
    ],
)
def test_kpi_form_names_each_problem(client_en, world, changes, message):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    response = post_form(client_en, f"/engagements/{engagement.id}/kpis/new", _form(**changes))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _rows(engagement.id) == []


def test_evidence_of_a_refused_type_is_named_on_the_field(client_en, world):
    engagement = world["engagement"]
    login(client_en, world["coordinator"].email)
    response = _multipart(
        client_en, f"/engagements/{engagement.id}/kpis/new", _form(), {"evidence": (EXE, "setup.exe")}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="evidence-errors"' in page
    assert _rows(engagement.id) == []


def test_edit_and_delete(client_en, world):
    engagement = world["engagement"]
    row = make_kpi_row(engagement, baseline=Decimal("1200"), target=Decimal("1500"))
    row_id = row.id
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/kpis/{row_id}/edit").get_data(as_text=True)
    assert 'value="1,200"' in page and 'value="매출"' in page
    response = post_form(
        client_en,
        f"/kpis/{row_id}/edit",
        _form(indicator="매출", unit="백만원", baseline="1200", target="1600", actual=""),
    )
    assert response.status_code == 302
    [saved] = _rows(engagement.id)
    assert saved.target == Decimal("1600") and saved.updated_by_id == world["coordinator"].id
    [event] = _events("kpi.update")
    assert event.changes["target"] == ["1500.00", "1600"]
    assert "baseline" not in event.changes

    confirm = client_en.get(f"/kpis/{row_id}/delete")
    assert confirm.status_code == 200 and "Delete this indicator" in confirm.get_data(as_text=True)
    assert len(_rows(engagement.id)) == 1
    assert post_form(client_en, f"/kpis/{row_id}/delete", {}).status_code == 302
    assert _rows(engagement.id) == []
    [event] = _events("kpi.delete")
    assert event.object_id == row_id and event.changes["indicator"] == "매출"


def test_staff_pages_404_outside_the_scope_and_403_for_firms(client, world, app):
    engagement = world["engagement"]
    row = make_kpi_row(engagement)
    login(client, world["other_coordinator"].email)
    assert client.get(f"/engagements/{engagement.id}/kpis/new").status_code == 404
    assert client.get(f"/kpis/{row.id}/edit").status_code == 404
    assert client.get(f"/kpis/{row.id}/delete").status_code == 404

    firm_browser = app.test_client()
    login(firm_browser, world["firm_user"].email)
    assert firm_browser.get(f"/kpis/{row.id}/edit").status_code == 403
    assert firm_browser.get(f"/engagements/{engagement.id}/kpis/new").status_code == 403


def test_operations_refuse_who_may_not(app_ctx, world):
    engagement = world["engagement"]
    row = make_kpi_row(engagement)
    for actor in (world["other_coordinator"], world["firm_user"], make_user(Role.national_viewer)):
        with pytest.raises(NotPermitted):
            operations.add_kpi_row(engagement, KpiData(indicator="매출"), actor)
        with pytest.raises(NotPermitted):
            operations.delete_kpi_row(row, actor)
    for actor in (world["coordinator"], world["other_firm_user"]):
        with pytest.raises(NotPermitted):
            operations.fill_actuals(engagement, {row.id: ActualData(actual=Decimal("1"))}, actor)


def test_engagement_panel_shows_rows_achievement_and_evidence(client_en, world):
    engagement = world["engagement"]
    evidence = make_document(engagement_id=engagement.id, kind="kpi", filename="매출장부.pdf")
    make_kpi_row(
        engagement,
        indicator="매출",
        baseline=Decimal("100"),
        target=Decimal("200"),
        actual=Decimal("150"),
        measured_on=today_kst(),
        evidence_document_id=evidence.id,
    )
    make_kpi_row(engagement, indicator="고용", unit="명", baseline=Decimal("10"), target=Decimal("13"))
    login(client_en, world["coordinator"].email)
    page = client_en.get(f"/engagements/{engagement.id}").get_data(as_text=True)
    assert 'id="outcomes"' in page and "Performance indicators (KPI)" in page
    assert "50%" in page and "매출장부.pdf" in page and f"/documents/{evidence.id}" in page
    assert "고용" in page and f"/engagements/{engagement.id}/kpis/new" in page


# --- the firm's portal ------------------------------------------------------------------------------------


def test_firm_fills_actuals_with_evidence(client_en, world):
    engagement = world["engagement"]
    sales = make_kpi_row(engagement, indicator="매출", baseline=Decimal("1200"), target=Decimal("1500"))
    jobs = make_kpi_row(engagement, indicator="고용", unit="명", baseline=Decimal("10"), target=Decimal("12"))
    login(client_en, world["firm_user"].email)
    url = f"/portal/engagements/{engagement.id}/kpis"
    page = client_en.get(url)
    assert page.status_code == 200
    assert "Save the actual values" in page.get_data(as_text=True)
    day = (today_kst() - timedelta(days=2)).isoformat()
    response = _multipart(
        client_en,
        url,
        {
            f"actual_{sales.id}": "1,380",
            f"measured_on_{sales.id}": day,
            f"actual_{jobs.id}": "",
            f"measured_on_{jobs.id}": "",
        },
        {f"evidence_{sales.id}": (PDF, "부가세신고서.pdf")},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    sales_row, jobs_row = _rows(engagement.id)
    assert sales_row.actual == Decimal("1380") and sales_row.measured_on == date.fromisoformat(day)
    assert sales_row.updated_by_id == world["firm_user"].id
    assert db.session.get(Document, sales_row.evidence_document_id).filename == "부가세신고서.pdf"
    assert jobs_row.actual is None and jobs_row.updated_by_id is None
    [event] = _events("kpi.fill_actual")
    assert event.object_id == sales.id and event.changes["actual"] == [None, "1380"]
    page = client_en.get(url).get_data(as_text=True)
    assert "60" in page and "부가세신고서.pdf" in page  # (1380 − 1200) / (1500 − 1200) = 60 %


def test_firm_actual_errors_are_per_row(client_en, world):
    engagement = world["engagement"]
    row = make_kpi_row(engagement)
    login(client_en, world["firm_user"].email)
    url = f"/portal/engagements/{engagement.id}/kpis"
    response = post_form(client_en, url, {f"actual_{row.id}": "1500", f"measured_on_{row.id}": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert (
        "Enter the date the actual value was measured." in page
        and f'id="measured_on_{row.id}-errors"' in page
    )
    future = (today_kst() + timedelta(days=1)).isoformat()
    response = post_form(client_en, url, {f"actual_{row.id}": "1500", f"measured_on_{row.id}": future})
    assert "cannot be in the future" in response.get_data(as_text=True)
    response = post_form(client_en, url, {f"actual_{row.id}": "많음", f"measured_on_{row.id}": ""})
    assert response.status_code == 422 and "Enter a number" in response.get_data(as_text=True)
    assert _rows(engagement.id)[0].actual is None


def test_portal_kpis_of_another_firm_are_404(client, world):
    engagement = world["engagement"]
    row = make_kpi_row(engagement)
    login(client, world["other_firm_user"].email)
    url = f"/portal/engagements/{engagement.id}/kpis"
    assert client.get(url).status_code == 404
    response = post_form(
        client, url, {f"actual_{row.id}": "1", f"measured_on_{row.id}": "2026-01-01"}, page="/account"
    )
    assert response.status_code == 404
    assert _rows(engagement.id)[0].actual is None


@pytest.mark.parametrize(
    "status", [EngagementStatus.pending_agreement, EngagementStatus.cancelled, EngagementStatus.terminated]
)
def test_actuals_only_while_the_engagement_runs_or_after(client_en, world, status):
    engagement = world["engagement"]
    engagement.status = status
    row = make_kpi_row(engagement)
    db.session.flush()
    login(client_en, world["firm_user"].email)
    url = f"/portal/engagements/{engagement.id}/kpis"
    page = client_en.get(url)
    assert page.status_code == 200
    assert "Actual values can be reported once the agreement is signed" in page.get_data(as_text=True)
    assert f'name="actual_{row.id}"' not in page.get_data(as_text=True)
    response = post_form(
        client_en, url, {f"actual_{row.id}": "1", f"measured_on_{row.id}": today_kst().isoformat()}
    )
    assert response.status_code == 422
    assert _rows(engagement.id)[0].actual is None
    with pytest.raises(RuleViolation):
        operations.fill_actuals(engagement, {row.id: ActualData()}, world["firm_user"])


@pytest.mark.parametrize(
    "status",
    [
        EngagementStatus.agreed,
        EngagementStatus.closed,
        EngagementStatus.follow_up,
        EngagementStatus.settlement,
    ],
)
def test_actuals_accepted_from_the_agreement_to_follow_up(app_ctx, world, status):
    engagement = world["engagement"]
    engagement.status = status
    row = make_kpi_row(engagement)
    changed = operations.fill_actuals(
        engagement, {row.id: ActualData(actual=Decimal("1300"), measured_on=today_kst())}, world["firm_user"]
    )
    assert changed == [row] and row.actual == Decimal("1300")


def test_fill_actuals_is_all_or_nothing(app_ctx, world):
    engagement = world["engagement"]
    good, bad = make_kpi_row(engagement), make_kpi_row(engagement, indicator="고용")
    with pytest.raises(ValidationFailed) as raised:
        operations.fill_actuals(
            engagement,
            {
                good.id: ActualData(actual=Decimal("1300"), measured_on=today_kst()),
                bad.id: ActualData(actual=Decimal("12")),
            },
            world["firm_user"],
        )
    assert list(raised.value.fields) == [f"measured_on_{bad.id}"]
    assert good.actual is None


def test_portal_home_lists_missing_actuals_and_nothing_to_do(client_en, world):
    login(client_en, world["firm_user"].email)
    page = client_en.get("/portal").get_data(as_text=True)
    assert "Nothing to report right now" in page
    make_kpi_row(world["engagement"], indicator="불량률")
    make_kpi_row(world["engagement"], indicator="원가", actual=Decimal("3"), measured_on=today_kst())
    page = client_en.get("/portal").get_data(as_text=True)
    assert "Report KPI actuals: 불량률" in page and "원가" not in page
    assert "D-40" in page
    assert f"/portal/engagements/{world['engagement'].id}/kpis" in page
