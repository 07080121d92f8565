"""`make run` on a bare machine: SQLite, the embedded filesystem broker, a real worker with beat, and mail
written to instance/outbox/."""

from __future__ import annotations

import email
import email.policy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker_harness import ROOT, Worker, wait_for

pytestmark = pytest.mark.slow
SUBJECT = "[AX CRM] 2026년 하반기 AI 솔루션 도입 지원사업 안내"


def test_the_demo_notice_reaches_the_outbox_folder_through_a_real_worker(tmp_path):
    instance = tmp_path / "instance"
    env = {
        "CRM_CONFIG": "development",
        "CRM_INSTANCE_DIR": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'axcrm.sqlite3'}",
        "REDIS_URL": "",
        "SMTP_URL": "",
        "OUTBOX_RELAY_SECONDS": "0.5",
    }
    instance.mkdir()
    full_env = {**os.environ, **env}
    full_env.pop("OUTBOX_DIR", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=full_env, check=True, capture_output=True)
    subprocess.run([*flask, "seed-demo"], cwd=ROOT, env=full_env, check=True, capture_output=True)
    outbox = instance / "outbox"
    assert not outbox.exists() or not list(outbox.glob("*.eml")), "nothing is sent before a worker runs"
    worker = Worker(tmp_path, env, concurrency=2)
    worker.start()
    try:
        wait_for(
            lambda: len(list(outbox.glob("*.eml"))) >= 2, 90, f"mail in {outbox}; log:\n{worker.output()}"
        )
    finally:
        worker.stop()
    subjects = {
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
        for path in Path(outbox).glob("*.eml")
    }
    assert SUBJECT in subjects
