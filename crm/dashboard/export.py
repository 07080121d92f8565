"""The 목표 대비 실적 report as an XLSX workbook: the per-programme sheet, then one sheet per breakdown.
Figures are written as numbers (percentages as fractions with a percent format) so they can be summed and
charted in Excel. Aggregates only: no firm names, no personal data. Never commits."""

from __future__ import annotations

from decimal import Decimal
from io import BytesIO
from typing import Any

from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from crm.audit.operations import record_audit
from crm.dashboard.breakdowns import Breakdown, all_breakdowns
from crm.dashboard.quotas import QuotaReport, Scope, quota_report

QUOTA_SHEET = "목표 대비 실적"
HEADER_ROW = 3
PERCENT = "0.0%"
BOLD = Font(bold=True)


def _number(value: Any) -> Any:
    """GPU hours are Decimals; Excel stores floats either way, whole numbers stay whole."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _title(sheet: Worksheet, text: str, report: QuotaReport) -> None:
    sheet["A1"] = _("%(title)s (as of %(date)s)", title=text, date=report.as_of.isoformat())
    sheet["A1"].font = Font(bold=True, size=13)


def _header(sheet: Worksheet, names: list[str]) -> None:
    for column, name in enumerate(names, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=name)
        cell.font = BOLD
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=1)


def _widths(sheet: Worksheet) -> None:
    widths: dict[int, int] = {}
    for row in sheet.iter_rows(min_row=HEADER_ROW):
        for cell in row:
            if cell.value is None:
                continue
            text = str(cell.value)
            # Hangul is about twice as wide as Latin in Excel's default font.
            length = sum(2 if ord(char) > 0x1100 else 1 for char in text)
            widths[cell.column] = max(widths.get(cell.column, 0), length)
    for column, width in widths.items():
        sheet.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 8), 60)


def _quota_sheet(sheet: Worksheet, report: QuotaReport) -> None:
    sheet.title = QUOTA_SHEET
    _title(sheet, _("Targets vs results"), report)
    _header(
        sheet,
        [
            _("Consortium"),
            _("Year"),
            _("Institution"),
            _("Programme"),
            _("Track"),
            _("Unit"),
            _("Counting point"),
            _("Target"),
            _("Counted"),
            _("Achieved"),
            _("Applied"),
            _("Selected"),
            _("Agreed"),
            _("Completed"),
            _("Year elapsed"),
            _("Pace"),
            _("Projected year-end"),
            _("At risk"),
            _("Past SLA"),
        ],
    )
    for index, row in enumerate(report.rows, start=HEADER_ROW + 1):
        values = [
            row.consortium_name,
            row.year_ordinal,
            row.institution_name,
            row.programme_name,
            row.track.title,
            row.unit.title,
            row.counting_point.title,
            row.target,
            _number(row.counted),
            float(row.share),
            row.funnel.applied,
            row.funnel.selected,
            row.funnel.agreed,
            row.funnel.completed,
            float(row.elapsed_share),
            row.pace,
            row.projected,
            _("At risk") if row.at_risk else _("On track"),
            row.stuck,
        ]
        for column, value in enumerate(values, start=1):
            sheet.cell(row=index, column=column, value=value)
        for column in (10, 15, 16):
            sheet.cell(row=index, column=column).number_format = PERCENT
        sheet.cell(row=index, column=17).number_format = "0.0"
    _widths(sheet)


def _breakdown_sheet(sheet: Worksheet, breakdown: Breakdown, report: QuotaReport) -> None:
    sheet.title = breakdown.dimension.sheet
    _title(sheet, str(breakdown.dimension.title), report)
    _header(sheet, [_("Group"), _("Counted engagements"), _("Share")])
    total = breakdown.total
    row_number = HEADER_ROW
    for row_number, row in enumerate(breakdown.rows, start=HEADER_ROW + 1):
        sheet.cell(row=row_number, column=1, value=row.label)
        sheet.cell(row=row_number, column=2, value=row.count)
        share = sheet.cell(row=row_number, column=3, value=row.count / total if total else 0)
        share.number_format = PERCENT
    total_row = row_number + 1
    sheet.cell(row=total_row, column=1, value=_("Total")).font = BOLD
    sheet.cell(row=total_row, column=2, value=total).font = BOLD
    _widths(sheet)


def quota_workbook(report: QuotaReport, breakdowns: list[Breakdown]) -> bytes:
    book = Workbook()
    _quota_sheet(book.active, report)
    for breakdown in breakdowns:
        _breakdown_sheet(book.create_sheet(), breakdown, report)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_quota_report(scope: Scope, actor: Any) -> bytes:
    """The workbook for `scope`, with the export written to the audit log."""
    report = quota_report(scope)
    content = quota_workbook(report, all_breakdowns(scope))
    record_audit(
        "export.quota_report",
        actor,
        {
            "as_of": report.as_of.isoformat(),
            "filters": scope.filters,
            "programme_year_ids": scope.year_ids,
            "programmes": len(report.rows),
        },
        actor=actor,
    )
    return content
