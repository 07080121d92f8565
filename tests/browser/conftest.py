"""Real-browser tests: the app served on a free localhost port with a real Celery worker and an SMTP sink,
driven by Debian's Chromium.

The server cannot share the other tests' transaction-per-test fixture (a rolled-back transaction is
invisible to a server thread and to the worker), so the stack gets a database of its own, built by the real
migrations and loaded with the demo data once per session: on PostgreSQL (a `<test database>_browser`
database next to TEST_DATABASE_URL's) when that is set, as in CI, else a SQLite file. A redis-server of its
own is the broker; the worker (with embedded beat for the outbox relay) delivers into an aiosmtpd sink.
Rate limits and the two-step sign-in of managers are off (TestConfig's values) so a journey signs in with a
password only; MFA has its own tests in tests/auth/. Never downloads a browser: without /usr/bin/chromium the
tests skip locally and fail under CRM_REQUIRE_SERVICES=1 (.ci/run installs the Debian package).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.services import free_port, require_service
from tests.smtp_sink import Sink, smtp_sink
from tests.worker_harness import RedisServer, Worker

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DEMO_PASSWORD = "demo-pass-2026"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 10_000


@dataclass
class Stack:
    url: str
    sink: Sink
    worker: Worker
    database_url: str


def _database(directory: str) -> str:
    """A fresh database for the stack: PostgreSQL beside TEST_DATABASE_URL's, else a SQLite file."""
    test_url = os.environ.get("TEST_DATABASE_URL", "")
    if not test_url.startswith("postgresql"):
        return f"sqlite:///{directory}/browser.sqlite3"
    url = sa.make_url(test_url)
    name = f"{url.database}_browser"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The app with the demo data, served by werkzeug in a daemon thread, plus a worker, Redis and a sink."""
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from config import TestConfig
    from crm import create_app
    from crm.demo.seed import seed_demo
    from crm.extensions import db, limiter

    directory = Path(tempfile.mkdtemp(prefix="axcrm-browser-"))
    database_url = _database(str(directory))
    redis_server = RedisServer(directory)
    redis_server.start()
    with smtp_sink() as sink:
        settings = {
            "REDIS_URL": redis_server.url,
            "SMTP_URL": sink.url,
            "UPLOAD_DIR": str(directory / "uploads"),
            "OUTBOX_DIR": str(directory / "outbox"),
        }
        application = create_app(
            TestConfig,
            SQLALCHEMY_DATABASE_URI=database_url,
            RATELIMIT_ENABLED=False,
            MFA_REQUIRED_ROLES=(),
            **settings,
        )
        limiter.enabled = False
        with application.app_context():
            upgrade()
            seed_demo()
            db.session.remove()
        worker = Worker(
            directory,
            {
                **settings,
                "CRM_CONFIG": "test",
                "TEST_DATABASE_URL": database_url,
                "CRM_INSTANCE_DIR": str(directory / "instance"),
                "OUTBOX_RELAY_SECONDS": "0.5",
            },
            concurrency=2,
        )
        worker.start()
        port = free_port()
        server = make_server("127.0.0.1", port, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="browser-live-server", daemon=True)
        thread.start()
        try:
            yield Stack(f"http://127.0.0.1:{port}", sink, worker, database_url)
        finally:
            server.shutdown()
            thread.join(timeout=5)
            worker.stop()
            redis_server.stop()
            with application.app_context():
                db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(stack: Stack) -> str:
    return stack.url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    require_service("chromium", os.path.exists(CHROMIUM))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, live_server: str, locale: str) -> Iterator[object]:
    # The app picks the language from Accept-Language when neither the account nor a cookie chose one.
    context = browser.new_context(
        base_url=live_server, locale=locale, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def page(browser, live_server: str) -> Iterator[object]:
    """A fresh browser context (no cookies) in Korean, the default language."""
    yield from _page(browser, live_server, "ko-KR")


@pytest.fixture
def staff_page(browser, live_server: str) -> Iterator[object]:
    """A second Korean context with cookies of its own, for the staff side of a journey with two people."""
    yield from _page(browser, live_server, "ko-KR")


@pytest.fixture
def page_en(browser, live_server: str) -> Iterator[object]:
    """A fresh browser context whose Accept-Language asks for English."""
    yield from _page(browser, live_server, "en-US")


def sign_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    assert "/login" not in page.url, page.inner_text("main") if page.locator("main").count() else page.url


def screenshot(page, name: str) -> Path:
    """Saves a full-page PNG under tests/artifacts/ (kept by CI, ignored by git)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
