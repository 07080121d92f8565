"""Report pages: budgets, outcomes and time in stage, each also as CSV (?format=csv). Read-only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from crm.core.access import allow
from crm.core.formatting import format_date
from crm.core.time import today_kst
from crm.reports.budgets import BudgetReport, budget_report
from crm.reports.export import csv_response
from crm.reports.forms import ReportFilterForm
from crm.reports.outcomes import INDICATORS, OutcomeReport, outcome_report
from crm.reports.scope import REPORT_ROLES, ReportScope, filter_choices, programme_labels
from crm.reports.stages import StageReport, all_stuck, stage_report, stuck_page

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _scope() -> tuple[ReportScope, ReportFilterForm]:
    """The report scope from the filter in the query string; 404 for a consortium or year outside the
    user's reach, so a guessed id reveals nothing."""
    form = ReportFilterForm(request.args)
    form.set_choices(filter_choices(current_user))
    consortium_id, ordinal = form.chosen(form.consortium), form.chosen(form.year)
    if consortium_id is False or ordinal is False:
        abort(404)
    return ReportScope(current_user, consortium_id=consortium_id, ordinal=ordinal), form


def _wants_csv() -> bool:
    return request.args.get("format") == "csv"


def _context(form: ReportFilterForm, scope: ReportScope, **extra: Any) -> dict[str, Any]:
    return {
        "form": form,
        "scope": scope,
        # Managers and coordinators have one consortium: the filter would offer nothing to choose.
        "show_consortium": len(form.consortium.choices) > 2,
        **extra,
    }


def _programme_cells(label: Any) -> list[Any]:
    return [label.consortium, label.ordinal, label.name, label.institution, label.track.title]


# --- Budgets ------------------------------------------------------------------------------------------------


@bp.get("/budgets")
@allow(*REPORT_ROLES)
def budgets():
    scope, form = _scope()
    report = budget_report(scope)
    if _wants_csv():
        return _budgets_csv(report)
    return render_template("reports/budgets.html", report=report, **_context(form, scope))


def _programme_columns() -> list[str]:
    """The columns every report's CSV starts with: which row and which programme it is about."""
    return [_("Row type"), _("Consortium"), _("Programme year"), _("Programme"), _("Institution"), _("Track")]


def _budgets_csv(report: BudgetReport):
    header = [
        *_programme_columns(),
        _("Budget 국비"),
        _("Budget 지방비"),
        _("Budget 자부담"),
        _("Budget total"),
        _("Committed 국비"),
        _("Committed 지방비"),
        _("Committed 자부담"),
        _("Committed total"),
        _("Remaining 국비"),
        _("Remaining 지방비"),
        _("Remaining 자부담"),
        _("Spent (public funds settled)"),
        _("Committed engagements"),
        _("Settled engagements"),
        _("Split check of the budget"),
        _("Split check of the committed amounts"),
    ]

    def figures(item: Any) -> list[Any]:
        budget, committed, remaining = item.budget, item.committed, item.remaining
        return [
            *(budget.gov, budget.local, budget.own, budget.total),
            *(committed.gov, committed.local, committed.own, committed.total),
            *(remaining.gov, remaining.local, remaining.own),
            item.spent_krw,
            item.committed_count,
            item.settled_count,
            item.budget_split.verdict,
            item.committed_split.verdict,
        ]

    rows: list[list[Any]] = []
    for year in report.years:
        for row in year.rows:
            rows.append([_("Programme"), *_programme_cells(row.programme), *figures(row)])
        rows.append([_("Programme year"), year.consortium, year.ordinal, "", "", "", *figures(year)])
    return csv_response("budgets", header, rows)


# --- Outcomes -----------------------------------------------------------------------------------------------


@bp.get("/outcomes")
@allow(*REPORT_ROLES)
def outcomes():
    scope, form = _scope()
    report = outcome_report(scope, today_kst())
    if _wants_csv():
        return _outcomes_csv(report)
    return render_template(
        "reports/outcomes.html", report=report, indicators=INDICATORS, **_context(form, scope)
    )


def _outcomes_csv(report: OutcomeReport):
    header = [
        *_programme_columns(),
    ]
    for indicator in INDICATORS:
        title = str(indicator.title)
        header += [
            _("%(indicator)s: n", indicator=title),
            _("%(indicator)s: mean", indicator=title),
            _("%(indicator)s: median", indicator=title),
        ]
    header += [_("Survey rounds due"), _("Survey rounds submitted"), _("Response rate (%)")]

    def figures(stats: dict[str, Any], surveys: Any) -> list[Any]:
        cells: list[Any] = []
        for indicator in INDICATORS:
            stat = stats.get(indicator.key)
            cells += [stat.n, stat.mean, stat.median] if stat else [0, None, None]
        return [*cells, surveys.due, surveys.submitted, surveys.percent]

    rows = [
        [_("Programme"), *_programme_cells(row.programme), *figures(row.stats, row.surveys)]
        for row in report.rows
    ]
    rows.append([_("All programmes"), "", "", "", "", "", *figures(report.overall, report.surveys)])
    return csv_response("outcomes", header, rows)


# --- Time in stage ------------------------------------------------------------------------------------------


@bp.get("/stages")
@allow(*REPORT_ROLES)
def stages():
    scope, form = _scope()
    today = today_kst()
    if _wants_csv():
        if request.args.get("list") == "stuck":
            return _stuck_csv(scope, today)
        return _stages_csv(stage_report(scope, today))
    report = stage_report(scope, today)
    return render_template(
        "reports/stages.html",
        report=report,
        stuck=stuck_page(scope, today),
        # Programme names repeat across consortia and years: the list names both, from the rows above.
        labels={row.programme.id: row.programme for row in report.rows},
        **_context(form, scope),
    )


def _stages_csv(report: StageReport):
    header = [
        *_programme_columns(),
        _("Status"),
        _("Stays"),
        _("Median days"),
    ]
    rows: list[list[Any]] = []
    for row in report.rows:
        for status in report.statuses:
            stat = row.stages.get(status)
            if stat:
                rows.append(
                    [_("Programme"), *_programme_cells(row.programme), status.title, stat.n, stat.median_days]
                )
    for status in report.statuses:
        stat = report.overall.get(status)
        if stat:
            rows.append([_("All programmes"), "", "", "", "", "", status.title, stat.n, stat.median_days])
    return csv_response("time-in-stage", header, rows)


def _stuck_csv(scope: ReportScope, today: Any):
    labels = {label.id: label for label in programme_labels(scope)}
    header = [
        _("Engagement"),
        _("Consortium"),
        _("Programme year"),
        _("Programme"),
        _("Firm"),
        _("Status"),
        _("In this status since"),
        _("Days in status"),
        _("SLA (days)"),
        _("Days over the SLA"),
    ]
    rows = [
        [
            card.engagement_id,
            labels[card.programme_id].consortium,
            labels[card.programme_id].ordinal,
            card.programme_name,
            "" if scope.hides_firms else card.firm_name,
            card.status.title,
            format_date(card.status_changed_at, weekday=False),
            card.days_in_status,
            card.sla_days,
            card.days_over,
        ]
        for card in all_stuck(scope, today)
    ]
    return csv_response("past-sla", header, rows)
