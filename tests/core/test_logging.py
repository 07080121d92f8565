"""JSON logs (LOG_FORMAT=json): a request's line parsed back, what it must never hold, the request id, the
Celery task fields, and a real worker process logging JSON on stderr."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask

from config import TestConfig
from crm import create_app
from crm.auth.models import Role
from crm.core.logging import REDACTED, JsonFormatter
from tests.conftest import DATABASE_URL, IsolatedClient, login, post_form
from tests.factories import PASSWORD, make_consortium, make_firm, make_user

ROOT = Path(__file__).resolve().parents[2]


def _our_handlers() -> list[logging.Handler]:
    return [handler for handler in logging.getLogger().handlers if getattr(handler, "_axcrm_json", False)]


@pytest.fixture
def json_logs(app: Flask) -> Iterator[tuple[Flask, io.StringIO]]:
    """An app built with LOG_FORMAT=json (on the test database), its JSON handler writing into a buffer."""
    root = logging.getLogger()
    level = root.level
    application = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, LOG_FORMAT="json")
    application.test_client_class = IsolatedClient
    buffer = io.StringIO()
    (handler,) = _our_handlers()
    handler.setStream(buffer)
    try:
        yield application, buffer
    finally:
        for handler in _our_handlers():
            root.removeHandler(handler)
        root.setLevel(level)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def _request_lines(buffer: io.StringIO) -> list[dict]:
    return [line for line in _lines(buffer) if line["logger"] == "crm.request"]


def test_a_request_logs_one_json_line_with_its_fields(json_logs):
    application, buffer = json_logs
    consortium = make_consortium()
    make_firm(consortium, name="(주)로그테스트")
    user = make_user(Role.coordinator, consortium=consortium)
    client = application.test_client()
    login(client, user.email)
    buffer.truncate(0)
    buffer.seek(0)

    response = client.get("/firms?q=홍길동", headers={"X-Request-ID": "req-42.abc"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-42.abc"
    (line,) = _request_lines(buffer)
    assert set(line) == {
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
        "user_id",
    }
    assert line["level"] == "INFO"
    assert line["message"] == "GET /firms 200"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/firms", 200)
    assert line["request_id"] == "req-42.abc"
    assert line["user_id"] == user.id
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    moment = datetime.fromisoformat(line["time"])
    assert moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    # The search term is personal data (a name): the query string is never written.
    assert "홍길동" not in buffer.getvalue()


def test_sign_in_logs_neither_the_password_nor_the_address(json_logs):
    application, buffer = json_logs
    user = make_user(Role.coordinator)
    client = application.test_client()
    response = post_form(client, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    lines = _request_lines(buffer)
    assert [(line["method"], line["path"]) for line in lines] == [("GET", "/login"), ("POST", "/login")]
    assert "user_id" not in lines[0]
    text = buffer.getvalue()
    assert PASSWORD not in text
    assert user.email not in text
    assert "@" not in text


@pytest.mark.parametrize("path", ["/password/reset/{}", "/portal/verify/{}", "/calendar/{}.ics"])
def test_tokens_in_paths_are_redacted(json_logs, path):
    application, buffer = json_logs
    token = "Zx9secretTOKENvalue0123456789abcdef"
    application.test_client().get(path.format(token))
    (line,) = _request_lines(buffer)
    assert token not in buffer.getvalue()
    assert line["path"] == path.format(REDACTED)


def test_a_missing_or_forged_request_id_is_replaced(json_logs):
    application, buffer = json_logs
    client = application.test_client()
    first = client.get("/healthz")
    forged = client.get("/healthz", headers={"X-Request-ID": 'x" "level": "CRITICAL'})
    ids = [first.headers["X-Request-ID"], forged.headers["X-Request-ID"]]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
    assert ids[0] != ids[1]
    assert [line["request_id"] for line in _request_lines(buffer)] == ids


def test_app_log_lines_inside_a_request_carry_its_id(json_logs):
    application, buffer = json_logs
    # A route without an access rule is refused and logged as an error by the access layer.
    application.add_url_rule("/undeclared-for-log-test", "undeclared_for_log_test", lambda: "never")
    response = application.test_client().get("/undeclared-for-log-test", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 403
    (error,) = [line for line in _lines(buffer) if line["level"] == "ERROR"]
    assert error["logger"] == "crm"
    assert "declares no access rule" in error["message"]
    assert error["request_id"] == "trace-7"
    (request_line,) = _request_lines(buffer)
    assert request_line["status"] == 403


def test_exceptions_are_one_line_with_the_traceback():
    record = logging.LogRecord("crm", logging.ERROR, __file__, 1, "failed %s", ("job 3",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed job 3"
    assert "ValueError: boom" in line["exception"]


def test_plain_text_by_default(client):
    assert TestConfig.LOG_FORMAT == "text"
    response = client.get("/healthz", headers={"X-Request-ID": "plain-1"})
    # The id is echoed in either format; no JSON handler is installed.
    assert response.headers["X-Request-ID"] == "plain-1"
    assert _our_handlers() == []


def test_task_lines_name_the_task(json_logs):
    _, buffer = json_logs
    tasks = Celery("log-test", set_as_current=False)
    tasks.conf.task_always_eager = True

    @tasks.task(name="tests.log_something")
    def log_something() -> None:
        logging.getLogger("crm.tasks").warning("sending %s", "delivery 5")

    result = log_something.apply()
    (line,) = [line for line in _lines(buffer) if line["logger"] == "crm.tasks"]
    assert line["message"] == "sending delivery 5"
    assert line["task_name"] == "tests.log_something"
    assert line["task_id"] == result.id


def test_a_celery_worker_logs_json_on_stderr(tmp_path):
    """The real `celery worker` with LOG_FORMAT=json (embedded broker, no server needed)."""
    env = {
        **os.environ,
        "CRM_CONFIG": "development",
        "CRM_INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/worker.sqlite3",
        "LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    stderr = tmp_path / "stderr"
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "--quiet", "worker"]
    command += ["--pool=solo", "--loglevel=INFO"]
    with stderr.open("wb") as sink:
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if " ready." in stderr.read_text(errors="replace"):
                break
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(30)
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    assert any(line["message"].endswith(" ready.") for line in lines), lines
    assert {"time", "level", "logger", "message"} <= set(lines[0])
