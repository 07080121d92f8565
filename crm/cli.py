"""Flask CLI commands: `flask --app wsgi seed-demo`, `flask --app wsgi create-admin`."""

from __future__ import annotations

import click
from flask import Flask, current_app


def register_commands(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Load the demo consortia, programmes, calls, firms and accounts (idempotent)."""
        if current_app.config["ENV_NAME"] == "production":
            raise click.ClickException("seed-demo refuses to run under the production configuration.")
        from crm.demo.seed import seed_demo

        created = seed_demo()
        click.echo("demo data loaded" if created else "demo data already present; nothing changed")

    from crm.notices.cli import reminders_cli
    from crm.privacy.cli import privacy_cli

    app.cli.add_command(reminders_cli)
    app.cli.add_command(privacy_cli)
