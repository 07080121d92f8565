"""gunicorn hooks: prometheus_client's multiprocess mode and JSON logs (docs/operations.md).

gunicorn reads ./gunicorn.conf.py by default, so `gunicorn wsgi:app` run from the repository uses it. Worker
count, threads and the bind address stay on the command line, where each deployment chooses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def on_starting(server: Any) -> None:
    """Empty the metrics folder: files left by an earlier run would be added to this run's figures."""
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()


def post_fork(server: Any, worker: Any) -> None:
    """With --preload the app was built in the master: each worker starts with an empty connection pool, so
    no database connection is ever shared between processes (create_app opens none, but nothing must)."""
    if not server.cfg.preload_app:
        return
    app = server.app.wsgi()
    if "sqlalchemy" in getattr(app, "extensions", {}):
        from crm.extensions import db

        with app.app_context():
            db.engine.dispose(close=False)


def child_exit(server: Any, worker: Any) -> None:
    # Its histogram files stay (counts must not go backwards); only its live gauges are dropped.
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


if os.environ.get("LOG_FORMAT", "").strip().lower() == "json":
    from gunicorn.glogging import Logger

    from crm.core.logging import JsonFormatter

    class JsonLogger(Logger):
        """gunicorn's own lines (start-up, worker boot and timeouts) as JSON like the app's. Requests are
        logged by the app (crm.request), so leave gunicorn's access log off: it would repeat each request
        with its query string."""

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    logger_class = JsonLogger
