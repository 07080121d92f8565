"""Test fixtures: one app per run, its schema built by the real migrations, and a transaction per test
that is rolled back at the end. PostgreSQL when TEST_DATABASE_URL is set (as .ci/run does), else SQLite."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator

os.environ["CRM_CONFIG"] = "test"
_TMP = tempfile.mkdtemp(prefix="axcrm-test-")
os.environ.setdefault("CRM_INSTANCE_DIR", _TMP)

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask.globals import _cv_app  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from flask_sqlalchemy.session import _app_ctx_id  # noqa: E402

from config import TestConfig  # noqa: E402
from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from tests.services import require_service  # noqa: E402

DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_TMP}/test.sqlite3"
if os.environ.get("CRM_REQUIRE_SERVICES") == "1" and not DATABASE_URL.startswith("postgresql"):
    raise RuntimeError("CRM_REQUIRE_SERVICES=1 needs TEST_DATABASE_URL pointing at PostgreSQL")


def _sqlite_transactions(engine: sa.Engine) -> None:
    """pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")


def _reset_database(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        else:
            for table in sa.inspect(connection).get_table_names():
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')


class IsolatedClient(FlaskClient):
    """Each request gets its own app context (its own `g`, `current_user` and session), as in production,
    even though the test itself holds an app context for its factories."""

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    from flask_migrate import upgrade

    application = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL)
    application.test_client_class = IsolatedClient
    with application.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_transactions(db.engine)
        _reset_database(db.engine)
        upgrade()
        db.engine.dispose()
    yield application


@pytest.fixture(autouse=True)
def _transaction(request: pytest.FixtureRequest) -> Iterator[None]:
    """Binds the session to one outer transaction per test; commits inside become savepoints."""
    if "committed" in request.fixturenames or (
        "app" not in request.fixturenames and not request.node.get_closest_marker("db")
    ):
        yield
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        # A plain Session: Flask-SQLAlchemy's own one routes mapped tables to the engine, ignoring `bind`.
        db.session = sa.orm.scoped_session(
            sa.orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint"),
            scopefunc=_app_ctx_id,
        )
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture(autouse=True)
def _rate_limits_as_configured() -> Iterator[None]:
    """The limiter is one shared instance and each `init_app` (a test making a production app) flips it;
    every test starts with the test configuration's setting."""
    from crm.extensions import limiter

    limiter.enabled = TestConfig.RATELIMIT_ENABLED
    yield
    limiter.enabled = TestConfig.RATELIMIT_ENABLED


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield


@pytest.fixture
def english(app_ctx: None) -> Iterator[None]:
    """Messages of operations called directly in English, so tests can assert on the source strings."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield


@pytest.fixture
def committed(app: Flask, postgres_admin_url: str) -> Iterator[sa.Engine]:
    """For concurrency tests: real commits on PostgreSQL instead of the rolled-back test transaction. Each
    thread that pushes its own app context gets its own session (and connection); every table is emptied
    afterwards so the data does not leak into other tests."""
    with app.app_context():
        try:
            yield db.engine
        finally:
            db.session.remove()
            tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
            with db.engine.begin() as connection:
                # access_logs refuses TRUNCATE (insert-only trigger); a replica session skips triggers.
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
                connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    require_service("PostgreSQL (TEST_DATABASE_URL)", url.startswith("postgresql"))
    return url


_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    html = client.get(page).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict, page: str | None = None, **kwargs):
    """Posts a form the way a browser does: load the page first, send its CSRF token back."""
    payload = {"csrf_token": csrf_token(client, page or url), **data}
    return client.post(url, data=payload, **kwargs)


def login(client: FlaskClient, email: str, password: str = "correct-horse-battery"):
    response = post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


@pytest.fixture
def client_en(app: Flask) -> FlaskClient:
    """A browser that chose English: page text can be asserted before the Korean catalogue has it."""
    english = app.test_client()
    english.set_cookie("lang", "en")
    return english
