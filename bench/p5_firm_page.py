"""P5: a typical firm page (`GET /firms/<id>`) under wrk, served by gunicorn, against a bare Flask route
served by the same gunicorn command under the same wrk.

The CRM runs with the production configuration (CRM_CONFIG=production, a random SECRET_KEY, no debug) and
prometheus_client's multiprocess mode, as docs/operations.md recommends. The page is requested by a
coordinator whose institution works with the firm, so it shows the contacts too (and writes their
access-log rows, as every staff view of personal data does). Coordinators need no second sign-in step in
production (MFA_REQUIRED_ROLES is admin and consortium manager), so the bench signs in through the real
login form, password only, and hands the session cookie to wrk. The production cookie is `Secure`; the
bench sends it itself over plain HTTP on 127.0.0.1.

The firm: that of the first engagement (by id) with milestones and activities whose firm has contacts
shared with the engagement's institution, one to three engagements and one to five applications; the page
is requested by a coordinator of that institution, who sees all of it. After each run the app's own latency
histogram (read from /metrics) must count at least as many `200`s of `firms.detail` as wrk completed and
nothing else for that endpoint, so a redirect to the login page can never pass for a fast firm page. Rows
the run writes (the session, access-log rows) are deleted afterwards, so the bench database stays as
bench/generate.py left it.

Floor and page runs alternate (floor, page, floor, page) and each figure is the mean of its runs.

    python -m bench.p5_firm_page [--quick] [--database axcrm_bench]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests

from bench.common import BENCH_DATABASE, ROOT, BenchContext, Result, stop_group
from tests.services import free_port

KEY = "P5"
TARGET = "≥ 40 % of bare Flask"
SHARE = 0.40
PASSWORD = "demo-pass-2026"  # bench/generate.py's password for every account

# The same for both servers. gthread: production's worker class (docs/operations.md), and the threads
# overlap one request's database waits with another's work. --preload: the app is loaded before gunicorn
# listens, so both workers are ready when wrk connects (wrk keeps its connections, and a worker still
# importing the app would leave all of them to the other). No control socket: it is one path per machine,
# shared by every gunicorn another bench or engineer runs.
WORKERS = 2
THREADS = 4
GUNICORN_ARGS = [
    *("--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS)),
    *("--preload", "--no-control-socket"),
]
WRK_THREADS = 2
WRK_CONNECTIONS = 8
SECONDS = 10
QUICK_SECONDS = 3
ROUNDS = 2
QUICK_ROUNDS = 1

_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_COUNT = re.compile(r"(\d+) requests in")

FIRM_SQL = """
SELECT f.id, f.name, u.id, u.email,
       (SELECT count(*) FROM applications a WHERE a.firm_id = f.id),
       (SELECT count(*) FROM engagements x WHERE x.firm_id = f.id),
       (SELECT count(*) FROM milestones m JOIN engagements x ON x.id = m.engagement_id
        WHERE x.firm_id = f.id),
       (SELECT count(*) FROM activities a WHERE a.firm_id = f.id),
       (SELECT count(*) FROM contacts c WHERE c.firm_id = f.id)
FROM engagements e
JOIN programmes p ON p.id = e.programme_id
JOIN firms f ON f.id = e.firm_id
JOIN LATERAL (
    SELECT u.id, u.email FROM users u
    WHERE u.institution_id = p.institution_id AND u.role = 'coordinator' AND u.is_active
    ORDER BY u.id LIMIT 1
) u ON true
WHERE EXISTS (
        SELECT 1 FROM firm_links l
        WHERE l.firm_id = f.id AND l.institution_id = p.institution_id AND l.grants_contacts
    )
  AND EXISTS (SELECT 1 FROM contacts c WHERE c.firm_id = f.id)
  AND EXISTS (SELECT 1 FROM milestones m WHERE m.engagement_id = e.id)
  AND EXISTS (SELECT 1 FROM activities a WHERE a.engagement_id = e.id)
  AND (SELECT count(*) FROM engagements x WHERE x.firm_id = f.id) BETWEEN 1 AND 3
  AND (SELECT count(*) FROM applications a WHERE a.firm_id = f.id) BETWEEN 1 AND 5
ORDER BY e.id
LIMIT 1
"""


@dataclass
class Firm:
    id: int
    name: str
    user_id: int
    email: str
    counts: tuple[int, ...]

    def describe(self) -> str:
        applications, engagements, milestones, activities, contacts = self.counts
        return (
            f"firm #{self.id}: {applications} applications, {engagements} engagements, "
            f"{milestones} milestones, {activities} activities, {contacts} contacts"
        )


def typical_firm(psycopg_url: str) -> Firm:
    with psycopg.connect(psycopg_url) as connection:
        row = connection.execute(FIRM_SQL).fetchone()
    if row is None:
        raise RuntimeError("no firm with contacts, engagements, milestones and applications in the database")
    return Firm(row[0], row[1], row[2], row[3], tuple(row[4:]))


def _wait_until_listening(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on {port} within {seconds} s")


@contextmanager
def gunicorn(app: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """gunicorn serving `app` on a free port, in its own process group (stopped by pid); yields the URL."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}", app]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


def sign_in(base: str, email: str, cookie_name: str) -> str:
    """The session cookie after signing in through the login form; sent by hand because it is `Secure`."""
    page = requests.get(f"{base}/login", timeout=30)
    token = _CSRF.search(page.text)
    if token is None or cookie_name not in page.cookies:
        raise RuntimeError("no CSRF token or session cookie on /login")
    answer = requests.post(
        f"{base}/login",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
        headers={"Cookie": f"{cookie_name}={page.cookies[cookie_name]}"},
        allow_redirects=False,
        timeout=30,
    )
    if (
        answer.status_code != 302
        or "/login" in answer.headers.get("Location", "")
        or cookie_name not in answer.cookies
    ):
        raise RuntimeError(f"could not sign in as {email}: HTTP {answer.status_code}")
    return f"{cookie_name}={answer.cookies[cookie_name]}"


def wrk(url: str, seconds: int, cookie: str | None = None) -> tuple[float, int]:
    """Requests per second and completed requests of one wrk run."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate, count = _RATE.search(output), _COUNT.search(output)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    if "Non-2xx or 3xx responses" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    return float(rate.group(1)), int(count.group(1))


_DETAIL_COUNT = re.compile(
    r'^axcrm_request_latency_seconds_count\{endpoint="firms\.detail",status="(\d+)"\} (\S+)$', re.MULTILINE
)


def served_by_status(base: str) -> dict[str, float]:
    """What the app itself counted for the firm page, by status (from /metrics, summed over the workers)."""
    text = requests.get(f"{base}/metrics", timeout=30).text
    return {status: float(count) for status, count in _DETAIL_COUNT.findall(text)}


def _forget_the_run(psycopg_url: str, user_id: int, started: datetime) -> None:
    """Deletes the session and access-log rows the run wrote (access_logs is insert-only for the app; a
    replica session skips its trigger, as the tests' cleanup does)."""
    with psycopg.connect(psycopg_url) as connection:
        connection.execute("SET LOCAL session_replication_role = replica")
        connection.execute("DELETE FROM access_logs WHERE actor_id = %s AND at >= %s", (user_id, started))
        connection.execute(
            "DELETE FROM user_sessions WHERE user_id = %s AND created_at >= %s", (user_id, started)
        )


def measure(ctx: BenchContext) -> list[Result]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    firm = typical_firm(ctx.psycopg_url)
    seconds = QUICK_SECONDS if ctx.quick else SECONDS
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    workdir = ctx.workdir / "p5"
    workdir.mkdir(parents=True, exist_ok=True)
    metrics_dir = workdir / "metrics"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "FLASK_DEBUG", "PROMETHEUS_MULTIPROC_DIR", "LOG_FORMAT", "CRM_CONFIG"}
    }
    app_env = {
        **env,
        "CRM_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": ctx.database_url,
        "CRM_INSTANCE_DIR": str(workdir / "instance"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    bare_env = {**env, "CRM_CONFIG": "production"}
    started = datetime.now(UTC)
    floors: list[float] = []
    pages: list[float] = []
    healthz: list[float] = []
    try:
        for _ in range(rounds):
            with gunicorn("bench.bare_app:app", bare_env, workdir / "gunicorn-bare.log") as base:
                wrk(f"{base}/", 1)  # warm-up: workers imported, connections open
                floors.append(wrk(f"{base}/", seconds)[0])
            with gunicorn("wsgi:app", app_env, workdir / "gunicorn-crm.log") as base:
                cookie = sign_in(base, firm.email, "__Host-axcrm_session")
                page = requests.get(f"{base}/firms/{firm.id}", headers={"Cookie": cookie}, timeout=30)
                if page.status_code != 200 or firm.name not in page.text:
                    raise RuntimeError(
                        f"/firms/{firm.id} answered {page.status_code} without the firm's name"
                    )
                wrk(f"{base}/firms/{firm.id}", 1, cookie)  # warm-up
                before = served_by_status(base)
                rate, completed = wrk(f"{base}/firms/{firm.id}", seconds, cookie)
                after = served_by_status(base)
                served = {status: after.get(status, 0) - before.get(status, 0) for status in after}
                if served.get("200", 0) < completed or any(n for s, n in served.items() if s != "200"):
                    raise RuntimeError(f"wrk completed {completed} requests; the app served {served}")
                pages.append(rate)
                # The app's own cost before any page work (no session, no query): where the gap comes from.
                healthz.append(wrk(f"{base}/healthz", seconds)[0])
    finally:
        _forget_the_run(ctx.psycopg_url, firm.user_id, started)
    floor, measured = statistics.mean(floors), statistics.mean(pages)
    share = measured / floor if floor else 0.0
    settings = (
        f"gunicorn -w {WORKERS} gthread ×{THREADS}, wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{seconds}s"
    )
    return [
        Result(
            key=KEY,
            what="firm page req/s (gunicorn + wrk) vs bare Flask route",
            measured=round(measured, 1),
            floor=round(floor, 1),
            unit="req/s",
            target=TARGET,
            met=share >= SHARE,
            note=(
                f"{share:.1%} of bare (the app's /healthz: {statistics.mean(healthz):.0f} req/s, "
                f"{statistics.mean(healthz) / floor:.0%}); {firm.describe()}; {settings}; {rounds} round(s)"
            ),
        )
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=BENCH_DATABASE)
    args = parser.parse_args()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    workdir = Path(f"/tmp/axcrm-bench-p5-{os.getpid()}")
    context = BenchContext(
        database_url=url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        workdir=workdir,
        quick=args.quick,
    )
    for result in measure(context):
        print(
            f"{result.key} {result.what}: {result.measured} {result.unit} vs floor {result.floor} "
            f"({result.note}) target {result.target}: {'met' if result.met else 'NOT met'}"
        )
        if not result.met:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
