"""`flask --app wsgi reminders run [--date YYYY-MM-DD]`: the reminder sweep by hand, e.g. to catch up after
the scheduler was down or to check what a given day would send (running it twice sends nothing new)."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from crm.notices.models import ReminderRule

reminders_cli = AppGroup("reminders", help="Milestone reminders (D-7, D-1, overdue).")


def _parse_day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"“{value}” is not a date; use YYYY-MM-DD, e.g. 2026-05-08.", ctx=ctx, param=param
        ) from None


@reminders_cli.command("run")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    callback=_parse_day,
    help="The day to sweep for (Korea time); today when left out.",
)
def run_command(day: date | None) -> None:
    """Create the reminders due on the day, with their deliveries (each reminder once)."""
    from crm.notices.reminders import run_sweep

    result = run_sweep(day)
    counts = ", ".join(f"{rule.value} {result.by_rule[rule]}" for rule in ReminderRule)
    click.echo(
        f"{result.day.isoformat()}: {result.created} reminder(s) created ({counts}), "
        f"{result.deliveries} deliveries queued"
    )
    if result.held_back:
        click.echo(
            f"Not a business day: {result.held_back} milestone(s) of programmes that send on business "
            "days only wait for the next business day."
        )
