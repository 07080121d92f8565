"""What every measurement module shares: the context it runs in and the row it reports.

Each `bench/p<N>_*.py` module exposes `measure(ctx: BenchContext) -> list[Result]`; `bench/run.py` calls them
in turn and prints one table, each figure beside its floor measured in the same run.
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import orm as sa_orm

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "axcrm_bench")


@dataclass
class BenchContext:
    # SQLAlchemy URL of the database loaded by bench/generate.py (postgresql+psycopg://…/axcrm_bench)
    database_url: str
    # Redis the measurements may use (each flushes only the database number it was given)
    redis_url: str
    # scratch folder for logs, sinks and schedules; removed by nobody, under /tmp
    workdir: Path
    # quick mode: fewer repetitions, for checking the harness rather than producing figures
    quick: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def psycopg_url(self) -> str:
        """The same database as a libpq URL, for raw psycopg floors."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Result:
    key: str  # "P1", "P2", …
    what: str  # what was measured, e.g. "quota dashboard HTML, p95"
    measured: float
    floor: float | None  # the floor's figure from the same run, or None for an absolute target
    unit: str  # "ms", "s", "queries", "req/s"
    target: str  # the target as written in the issue, e.g. "≤ 1.5× floor and p95 ≤ 100 ms"
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor in (None, 0):
            return None
        return self.measured / self.floor


def timings(action: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    """Wall-clock milliseconds of `repeat` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


# --- the app in-process, for measurements through the Flask test client ------------------------------------

PASSWORD = "demo-pass-2026"  # bench/generate.py gives every account this one
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def bench_app(database_url: str, **settings: Any) -> Any:
    """The app on the bench database with development settings, as bench/generate.py builds it."""
    from config import DevelopmentConfig
    from crm import create_app

    return create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=False,
        MFA_REQUIRED_ROLES=(),  # the bench signs in with a password; the second step is not what is measured
        **settings,
    )


@contextmanager
def rolled_back(app: Any) -> Iterator[Any]:
    """Every request's session joins one outer transaction, through a savepoint, that is rolled back at the
    end: signing in writes a session row, and the bench database must stay as bench/generate.py left it.
    Make requests outside any app context (Flask would reuse the outer one, and with it `g` and the signed-in
    user); yields the connection the requests use."""
    from flask_sqlalchemy.session import _app_ctx_id

    from crm.extensions import db

    with app.app_context():
        connection = db.engine.connect()
    outer = connection.begin()
    original = db.session
    db.session = sa_orm.scoped_session(
        sa_orm.sessionmaker(bind=connection, join_transaction_mode="create_savepoint"), scopefunc=_app_ctx_id
    )
    try:
        yield connection
    finally:
        db.session = original  # each app context removed its own session on teardown
        outer.rollback()
        connection.close()


def sign_in(client: Any, email: str, password: str = PASSWORD) -> None:
    """Signs in through the login form, CSRF token included, as a browser would."""
    token = _CSRF.search(client.get("/login").get_data(as_text=True))
    if token is None:
        raise RuntimeError("no CSRF token on /login")
    answer = client.post("/login", data={"csrf_token": token.group(1), "email": email, "password": password})
    if answer.status_code != 302 or "/login" in (answer.location or ""):
        raise RuntimeError(f"could not sign in as {email}: HTTP {answer.status_code}")


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's own group (its workers or pool children too), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass
