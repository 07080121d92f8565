"""The 목표 대비 실적 workbook: opens with openpyxl and holds the same figures as quota_rows."""

from __future__ import annotations

from io import BytesIO

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from openpyxl import load_workbook

from crm.audit.models import AuditEvent
from crm.dashboard.breakdowns import all_breakdowns
from crm.dashboard.quotas import dashboard_scope, quota_report
from crm.extensions import db
from tests.conftest import login
from tests.dashboard.world import build_world

HEADERS = 3


@pytest.fixture
def world(app):
    return build_world()


def _workbook(client, url: str = "/dashboard/export.xlsx"):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    return load_workbook(BytesIO(response.data))


def _table(sheet) -> list[dict[str, object]]:
    header = [cell.value for cell in sheet[HEADERS]]
    return [
        dict(zip(header, row, strict=False)) for row in sheet.iter_rows(min_row=HEADERS + 1, values_only=True)
    ]


def test_workbook_holds_the_same_figures_as_quota_rows(client_en, world):
    login(client_en, world.manager.email)
    book = _workbook(client_en)
    assert book.sheetnames == ["목표 대비 실적", "기관별", "시군구별", "업종별", "종업원규모별", "매출규모별"]
    sheet = book["목표 대비 실적"]
    scope = dashboard_scope(world.manager)
    report = quota_report(scope)
    assert report.as_of.isoformat() in sheet["A1"].value
    assert all(cell.font.bold for cell in sheet[HEADERS] if cell.value)
    assert sheet.column_dimensions["D"].width > 10
    rows = {row["Programme"]: row for row in _table(sheet)}
    assert len(rows) == len(report.rows) == 5
    for expected in report.rows:
        row = rows[expected.programme_name]
        assert row["Target"] == expected.target
        assert row["Counted"] == float(expected.counted)
        assert isinstance(row["Counted"], int | float)
        assert (row["Applied"], row["Selected"], row["Agreed"], row["Completed"]) == (
            expected.funnel.applied,
            expected.funnel.selected,
            expected.funnel.agreed,
            expected.funnel.completed,
        )
        assert row["Pace"] == pytest.approx(expected.pace)
        assert row["Projected year-end"] == pytest.approx(expected.projected)
        assert row["At risk"] == ("At risk" if expected.at_risk else "On track")
    assert rows["A 솔루션 도입"]["Counted"] == 5 and rows["E GPU 지원"]["Counted"] == 750.5

    with force_locale("en"):  # the same language as the workbook the English browser downloaded
        breakdowns = all_breakdowns(scope)
    for breakdown in breakdowns:
        table = _table(book[breakdown.dimension.sheet])
        groups = {row["Group"]: row["Counted engagements"] for row in table if row["Group"] != "Total"}
        assert groups == {row.label: row.count for row in breakdown.rows}
        assert [row["Counted engagements"] for row in table if row["Group"] == "Total"] == [10]


def test_export_is_audited(client, world):
    login(client, world.manager.email)
    _workbook(client, "/dashboard/export.xlsx?track=adoption")
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export.quota_report"))
    assert event.actor_id == world.manager.id
    assert event.changes["filters"] == {"track": "adoption"} and event.changes["programmes"] == 1


def test_national_viewer_exports_aggregates_without_firm_names(client, world):
    login(client, world.viewer.email)
    book = _workbook(client, f"/dashboard/export.xlsx?consortium={world.consortium.id}")
    cells = {str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row if cell}
    assert "A 솔루션 도입" in cells
    assert not cells & set(world.firms)
