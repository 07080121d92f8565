"""`flask --app wsgi privacy purge [--date YYYY-MM-DD]`: the purge by hand (the worker runs it nightly)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from crm.extensions import db

privacy_cli = AppGroup("privacy", help="Personal data (PIPA): retention purge.")


@privacy_cli.command("purge")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="KST day")
def purge_command(day: datetime | None) -> None:
    """Deletes or anonymises personal records whose retention ended before the day (default: today, KST)."""
    from crm.privacy.purge import purge_expired

    result = purge_expired(day.date() if day is not None else None)
    db.session.commit()
    click.echo(
        f"contacts deleted: {result.contacts_deleted}; "
        f"training registrations anonymised: {result.registrations_anonymised}"
    )
