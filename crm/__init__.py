"""AX CRM: the case tracker of the regional AI-transformation programmes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from config import BASE_DIR, Config, config_from_env


def create_app(config: type[Config] | None = None, **overrides: Any) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str((config or config_from_env()).INSTANCE_DIR),
    )
    app.config.from_object(config or config_from_env())
    app.config.update(overrides)
    check_configuration(app)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    register_extensions(app)
    register_models()
    register_blueprints(app)
    register_metrics(app)
    register_logging(app)
    register_request_hooks(app)
    register_template_helpers(app)
    register_error_handlers(app)
    register_cli(app)
    register_security(app)
    return app


def check_configuration(app: Flask) -> None:
    from config import DEFAULT_SECRET_KEY

    if app.config["ENV_NAME"] != "production":
        return
    secret = app.config.get("SECRET_KEY") or ""
    if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
        raise RuntimeError("production needs SECRET_KEY set to a random value of at least 32 characters")
    if app.debug:
        raise RuntimeError("production must not run with debug on")


def register_security(app: Flask) -> None:
    from crm.core.security import register_security as register

    register(app)


def register_extensions(app: Flask) -> None:
    from crm.core.i18n import select_locale, select_timezone
    from crm.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(
        app,
        db,
        directory=str(Path(app.root_path).parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)


def register_models() -> None:
    """Import every model module so metadata (and Alembic) sees all tables."""
    import crm.activities.models
    import crm.api.models
    import crm.applications.models
    import crm.audit.models
    import crm.auth.models
    import crm.calendar.models
    import crm.diagnosis.models
    import crm.documents.models
    import crm.engagements.models
    import crm.evaluations.models
    import crm.firms.models
    import crm.imports.models
    import crm.infrastructure.models
    import crm.milestones.models
    import crm.notices.models
    import crm.organisation.models
    import crm.outcomes.models
    import crm.portal.models
    import crm.programmes.models
    import crm.sanctions.models
    import crm.training.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    from crm.activities.views import bp as activities_bp
    from crm.admin.views import bp as admin_bp
    from crm.api.views import bp as api_bp
    from crm.applications.views import bp as applications_bp
    from crm.auth.fresh import bp as fresh_bp
    from crm.auth.views import bp as auth_bp
    from crm.calendar.views import bp as calendar_bp
    from crm.core.health import bp as health_bp
    from crm.dashboard.views import bp as dashboard_bp
    from crm.diagnosis.views import bp as diagnosis_bp
    from crm.documents.views import bp as documents_bp
    from crm.engagements.views import bp as engagements_bp
    from crm.evaluations.views import bp as evaluations_bp
    from crm.firms.views import bp as firms_bp
    from crm.imports.views import bp as imports_bp
    from crm.infrastructure.views import bp as infrastructure_bp
    from crm.milestones.views import bp as milestones_bp
    from crm.notices.views import bp as notices_bp
    from crm.organisation.views import bp as organisation_bp
    from crm.outcomes.views import bp as outcomes_bp
    from crm.portal.views import bp as portal_bp
    from crm.programmes.views import bp as programmes_bp
    from crm.reports.views import bp as reports_bp
    from crm.sanctions.views import bp as sanctions_bp
    from crm.training.views import bp as training_bp

    for blueprint in (
        health_bp,
        auth_bp,
        fresh_bp,
        dashboard_bp,
        portal_bp,
        firms_bp,
        imports_bp,
        sanctions_bp,
        organisation_bp,
        programmes_bp,
        applications_bp,
        documents_bp,
        evaluations_bp,
        engagements_bp,
        milestones_bp,
        calendar_bp,
        notices_bp,
        activities_bp,
        outcomes_bp,
        training_bp,
        infrastructure_bp,
        diagnosis_bp,
        reports_bp,
        admin_bp,
        api_bp,
    ):
        app.register_blueprint(blueprint)


def register_metrics(app: Flask) -> None:
    from crm.core.metrics import register_metrics as register

    register(app)


def register_logging(app: Flask) -> None:
    from crm.core.logging import register_logging as register

    register(app)


def register_request_hooks(app: Flask) -> None:
    from crm.auth.sessions import register_session_loader
    from crm.core.access import enforce_route_access

    register_session_loader(app)
    app.before_request(enforce_route_access)


def register_template_helpers(app: Flask) -> None:
    from flask_babel import get_locale

    from crm.core.formatting import register_filters
    from crm.core.lazytext import escape_lazy_strings
    from crm.core.pagination import url_args
    from crm.demo.mfa import demo_code_hint
    from crm.navigation import navigation_for

    escape_lazy_strings()
    register_filters(app)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals.update(
        url_args=url_args,
        navigation_for=navigation_for,
        get_locale=get_locale,
        demo_mfa_code_hint=demo_code_hint,
    )


def register_error_handlers(app: Flask) -> None:
    from crm.core.errors import register_error_handlers as register

    register(app)


def register_cli(app: Flask) -> None:
    from crm.cli import register_commands

    register_commands(app)
