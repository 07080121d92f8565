"""The Celery app, bound to `create_app()` so every task runs inside the Flask app context.

Broker: Redis when `REDIS_URL` is set; otherwise kombu's `filesystem://` transport under `instance/`, so a
bare machine runs web, worker and beat with no server (shared/NOTES.md says why not the SQLAlchemy transport).

    celery -A workers.celery_app worker --loglevel=info
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import worker_ready
from flask import Flask

# Redis redelivers an unacknowledged task after this long; tasks (acks_late) must finish well inside it.
VISIBILITY_TIMEOUT_SECONDS = 3600


def broker_settings(app: Flask) -> dict[str, Any]:
    redis_url = app.config.get("REDIS_URL")
    if redis_url:
        return {
            "broker_url": redis_url,
            "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        }
    base = Path(app.instance_path) / "broker"
    folders = {name: base / name for name in ("in", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            # One folder for both directions: producers and consumers exchange messages through it.
            "data_folder_in": str(folders["in"]),
            "data_folder_out": str(folders["in"]),
            "processed_folder": str(folders["processed"]),
            "control_folder": str(folders["control"]),
        },
    }


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        timezone="Asia/Seoul",
        enable_utc=True,
        task_always_eager=app.config.get("CELERY_TASK_ALWAYS_EAGER", False),
        **broker_settings(app),
    )
    celery.conf.beat_schedule = {
        # Hands due deliveries to the workers; the web requests never talk to the broker themselves.
        "outbox-relay": {"task": "outbox.relay", "schedule": float(app.config["OUTBOX_RELAY_SECONDS"])},
        # D-7, D-1 and overdue reminders, daily at 09:00 KST (the app's timezone is Asia/Seoul).
        "reminder-sweep": {"task": "reminders.sweep", "schedule": crontab(hour=9, minute=0)},
        # Personal records past their retention (PIPA), nightly at 03:30 KST.
        "privacy-purge": {"task": "privacy.purge", "schedule": crontab(hour=3, minute=30)},
    }
    celery.conf.include = ["workers.tasks"]
    if app.config.get("LOG_FORMAT") == "json":
        # With a receiver connected, Celery leaves logging to crm/core/logging.py: JSON lines naming the task.
        from celery.signals import setup_logging

        from crm.core.logging import celery_setup_logging

        setup_logging.connect(celery_setup_logging, weak=False)
    celery.set_default()
    _beat_while_running(app)
    app.extensions["celery"] = celery
    return celery


WORKER_HEARTBEAT_SECONDS = 60


def _beat_while_running(app: Flask) -> None:
    """Each worker records its own heartbeat ("worker@<node name>") every minute from a thread in its main
    process, so the health page sees every worker, not only the one that ran a scheduled task."""

    @worker_ready.connect(weak=False)
    def start(sender: Any = None, **_kwargs: Any) -> None:
        name = f"worker@{getattr(sender, 'hostname', '') or socket.gethostname()}"

        def loop() -> None:
            from crm.notices.health import record_heartbeat

            while True:
                try:
                    with app.app_context():
                        record_heartbeat(name)
                except Exception:  # the database away for a moment: try again next minute
                    app.logger.exception("worker heartbeat failed")
                time.sleep(WORKER_HEARTBEAT_SECONDS)

        threading.Thread(target=loop, name="axcrm-heartbeat", daemon=True).start()


def _make() -> Celery:
    from crm import create_app

    return celery_init_app(create_app())


celery = _make()
