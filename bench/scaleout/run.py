"""Scale-out check: two gunicorn masters, two Celery workers and one beat against one PostgreSQL and one
Redis; a cohort notice and the reminder sweep each reach every recipient exactly once.

    python -m bench.scaleout.run [--recipients 120] [--keep]      (or: make scaleout)

What it does, all of it its own and removed at the end (the shared PostgreSQL cluster and Redis are not
touched beyond one database of its own):

1. creates the database `axcrm_scaleout_<pid>` on 127.0.0.1:5432, runs the migrations and adds a programme
   with `--recipients` engaged firms, each with one consented contact and one firm milestone due in 7 days
   (KST), plus the coordinator who runs the programme;
2. starts a redis-server on a free port (`maxmemory-policy noeviction`, as docs/operations.md asks), an SMTP
   sink (aiosmtpd) and, with the production configuration (CRM_CONFIG=production, one SECRET_KEY for all,
   LOG_FORMAT=json, prometheus_client multiprocess mode): web A and web B (`gunicorn -w 2` each, on two
   ports), worker 1 and worker 2 (`celery worker`, no -B) and one `celery beat`;
3. signs in on web A, opens the compose form on web B and posts it on web A (the session and its CSRF token
   work on either web process), then follows the notice's delivery counts through the API on web B;
4. sends the reminder sweep task twice at once (what a second beat or a redelivered task would do) so both
   workers may run it together, and waits for the reminders to be sent;
5. checks: every recipient received exactly one notice message and one reminder (distinct Message-IDs ==
   recipients == messages received, and they are the deliveries' own), one reminder per milestone, the sweep
   heartbeat fresh, /metrics on both ports (empty queue, a recent sweep), every log line of every process
   JSON, and both workers ran tasks.

Prints PASS or FAIL (with the reasons) and exits 0 or 1. Logs stay in the work folder when it fails or with
--keep.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import requests
from aiosmtpd.controller import Controller

from bench.common import stop_group
from tests.services import free_port, port_open

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("SCALEOUT_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PASSWORD = "scaleout-pass-2026"
COORDINATOR = "coordinator@scaleout.example.com"
COOKIE = "__Host-axcrm_session"  # the production session cookie
SUBJECT = "[AX CRM] 스케일아웃 점검 안내 {firm_name}"
# Variables the parent's environment may hold that must not leak into the processes started here.
FOREIGN_ENV = (
    "REDIS_URL",
    "DATABASE_URL",
    "TEST_DATABASE_URL",
    "CRM_CONFIG",
    "SMTP_URL",
    "TEXT_API_URL",
    "RATELIMIT_STORAGE_URI",
    "PROMETHEUS_MULTIPROC_DIR",
    "LOG_FORMAT",
    "FLASK_DEBUG",
    "CRM_INSTANCE_DIR",
    "UPLOAD_DIR",
    "OUTBOX_DIR",
)
_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def log(message: str) -> None:
    print(f"[scaleout {datetime.now():%H:%M:%S}] {message}", flush=True)


def wait_for(condition: Callable[[], Any], seconds: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {seconds:.0f} s waiting for {what}")


# --- the SMTP sink ------------------------------------------------------------------------------------------


@dataclass
class Sink:
    port: int
    messages: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[str, str]]:
        """(Message-ID without <>, recipient address) of every message received, duplicates included."""
        with self.lock:
            return [
                (_bare(str(m["Message-ID"])), str(m["To"]).split("<")[-1].rstrip(">").strip().lower())
                for m in self.messages
            ]


# --- processes ----------------------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    workdir: Path
    popen: subprocess.Popen | None = None

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"{self.name}.stderr.log"

    def start(self) -> None:
        with (
            (self.workdir / f"{self.name}.stdout.log").open("ab") as out,
            self.stderr_path.open("ab") as err,
        ):
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=err, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM to its own process group (its workers or pool children too), SIGKILL if it lingers."""
        if self.popen is None:
            return
        stop_group(self.popen)
        self.popen = None

    def tail(self, lines: int = 15) -> str:
        if not self.stderr_path.exists():
            return ""
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])


# --- the database -------------------------------------------------------------------------------------------


@dataclass
class World:
    programme_id: int
    addresses: list[str]
    due_on: str


def create_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_world(database_url: str, recipients: int) -> World:
    """Migrations, then a programme with `recipients` engaged firms, each with one consented contact (e-mail
    only) and one firm milestone due in 7 days; the coordinator who runs the programme signs in later."""
    from flask_migrate import upgrade

    from config import DevelopmentConfig
    from crm import create_app
    from crm.auth.models import Role
    from crm.core.time import today_kst
    from crm.engagements.models import EngagementStatus
    from crm.extensions import db
    from crm.milestones.models import MilestoneOwner
    from tests import factories as f  # valid rows of every model, kept in step with the models

    app = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        upgrade()
        today = today_kst()
        consortium = f.make_consortium(name="스케일아웃 AI 사업단")
        institution = f.make_institution(consortium, name="스케일아웃 수행기관")
        year = f.make_programme_year(
            consortium, starts_on=today.replace(month=1, day=1), ends_on=today.replace(month=12, day=31)
        )
        programme = f.make_programme(year, institution, name="스케일아웃 AI 솔루션 도입")
        coordinator = f.make_user(
            Role.coordinator,
            institution=institution,
            email=COORDINATOR,
            password=PASSWORD,
            name="점검 담당자",
        )
        due_on = today + timedelta(days=7)
        addresses = []
        for n in range(recipients):
            firm = f.make_firm(name=f"(주)스케일아웃{n:04d}")
            f.make_firm_link(firm, consortium, institution)
            address = f"firm{n:04d}@scaleout.example.com"
            f.make_contact(firm, email=address, phone="", name=f"담당자{n:04d}")
            engagement = f.make_engagement(
                programme, firm, status=EngagementStatus.in_progress, coordinator_id=coordinator.id
            )
            f.make_milestone(engagement, due_on=due_on, owner=MilestoneOwner.firm, title="중간보고")
            addresses.append(address)
        db.session.commit()
        world = World(programme.id, addresses, due_on.isoformat())
        db.session.remove()
        db.engine.dispose()
    return world


# --- HTTP as a browser and as an API client -----------------------------------------------------------------


class Browser:
    """One signed-in browser used against both web processes. The production cookie is `Secure`, so it is
    sent by hand over plain HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.cookie: str | None = None

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookie:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        return headers

    def _keep(self, response: requests.Response) -> requests.Response:
        if COOKIE in response.cookies:
            self.cookie = response.cookies[COOKIE]
        return response

    def get(self, url: str) -> requests.Response:
        return self._keep(requests.get(url, headers=self._headers(), allow_redirects=False, timeout=60))

    def post(
        self, url: str, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> requests.Response:
        return self._keep(
            requests.post(url, data=data, headers=self._headers(headers), allow_redirects=False, timeout=120)
        )

    def csrf(self, url: str) -> str:
        page = self.get(url)
        match = _CSRF.search(page.text)
        if page.status_code != 200 or match is None:
            raise RuntimeError(f"no form at {url}: HTTP {page.status_code}")
        return match.group(1)


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    recipients: int
    keep: bool
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="axcrm-scaleout-")))
    database: str = field(default_factory=lambda: f"axcrm_scaleout_{os.getpid()}")
    processes: list[Process] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return (
            ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            + f"/{self.database}"
        )

    @property
    def psycopg_url(self) -> str:
        return ADMIN_URL.rsplit("/", 1)[0] + f"/{self.database}"

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)

    def sql(self, statement: str, *params: Any) -> list[tuple]:
        with psycopg.connect(self.psycopg_url) as connection:
            return connection.execute(statement, params).fetchall()

    def scalar(self, statement: str, *params: Any) -> Any:
        return self.sql(statement, *params)[0][0]

    # -- services

    def start_redis(self) -> tuple[Process, str]:
        port = free_port()
        command = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        command += ["--maxmemory-policy", "noeviction", "--dir", str(self.workdir)]
        redis = Process("redis", command, dict(os.environ), self.workdir)
        redis.start()
        self.processes.append(redis)
        wait_for(lambda: port_open("127.0.0.1", port), 20, "redis-server")
        return redis, f"redis://127.0.0.1:{port}/0"

    def app_env(self, redis_url: str, smtp_port: int) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
        env.update(
            CRM_CONFIG="production",
            SECRET_KEY=secrets.token_hex(32),  # one key: a session signed by web A is good on web B
            DATABASE_URL=self.database_url,
            REDIS_URL=redis_url,
            SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
            CRM_INSTANCE_DIR=str(self.workdir / "instance"),
            MESSAGE_ID_DOMAIN="scaleout.axcrm.test",
            LOG_FORMAT="json",
            OUTBOX_RELAY_SECONDS="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self, name: str, command: list[str], env: dict[str, str]) -> Process:
        process = Process(name, command, env, self.workdir)
        process.start()
        self.processes.append(process)
        return process

    def start_web(self, name: str, env: dict[str, str]) -> tuple[Process, str]:
        port = free_port()
        metrics = self.workdir / f"metrics-{name}"  # one folder per gunicorn master
        command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--worker-class", "gthread"]
        command += [
            "--threads",
            "2",
            "--preload",
            "--no-control-socket",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ]
        process = self.start(name, command, {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)})
        return process, f"http://127.0.0.1:{port}"

    def celery(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "workers.celery_app", "--quiet", *arguments]

    # -- steps

    def execute(self) -> None:
        started = datetime.now(UTC)
        log(f"work folder {self.workdir}; database {self.database}")
        create_database(self.database)
        world = build_world(self.database_url, self.recipients)
        log(f"migrated; {len(world.addresses)} firms, each with a contact and a milestone due {world.due_on}")

        _, redis_url = self.start_redis()
        sink = Sink(free_port())
        controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
        controller.start()
        try:
            env = self.app_env(redis_url, sink.port)
            web_a, base_a = self.start_web("web-a", env)
            web_b, base_b = self.start_web("web-b", env)
            worker_options = ["--loglevel=INFO", "--concurrency=2", "--pool=prefork"]
            workers = [
                self.start(
                    f"worker-{n}", self.celery("worker", *worker_options, "-n", f"scaleout{n}@%h"), env
                )
                for n in (1, 2)
            ]
            schedule = str(self.workdir / "beat-schedule")
            beat = self.start("beat", self.celery("beat", "--loglevel=INFO", "-s", schedule), env)
            self.wait_until_up([web_a, web_b, *workers, beat], [base_a, base_b])
            log(
                f"up: web A {base_a}, web B {base_b}, 2 workers, 1 beat, Redis {redis_url}, sink :{sink.port}"
            )

            notice_id = self.send_notice(base_a, base_b, world)
            self.sweep_twice(redis_url, world)
            time.sleep(3)  # anything sent twice would arrive now
            self.verify(sink, world, notice_id, started, [base_a, base_b], workers)
        finally:
            for process in reversed(self.processes):
                process.stop()
            controller.stop()

    def wait_until_up(self, processes: list[Process], bases: list[str]) -> None:
        def web_ready() -> bool:
            for process in processes:
                if not process.alive():
                    raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            try:
                return all(requests.get(f"{base}/readyz", timeout=5).status_code == 200 for base in bases)
            except requests.RequestException:
                return False

        wait_for(web_ready, 180, "both web processes to answer /readyz")

        def workers_and_beat() -> bool:
            names = [row[0] for row in self.sql("SELECT name FROM heartbeats")]
            return sum(name.startswith("worker@scaleout") for name in names) == 2 and "relay" in names

        wait_for(workers_and_beat, 180, "both workers' heartbeats and beat's first relay")

    def send_notice(self, base_a: str, base_b: str, world: World) -> int:
        browser = Browser()
        token = browser.csrf(f"{base_a}/login")
        signed_in = browser.post(
            f"{base_a}/login", {"csrf_token": token, "email": COORDINATOR, "password": PASSWORD}
        )
        if signed_in.status_code != 302 or "/login" in signed_in.headers.get("Location", ""):
            raise RuntimeError(f"sign-in on web A failed: HTTP {signed_in.status_code}")
        form = {
            "csrf_token": browser.csrf(f"{base_b}/notices/new"),  # the form from web B …
            "source": "programme",
            "programme_id": str(world.programme_id),
            "subject": SUBJECT,
            "body": "{contact_name}님, 스케일아웃 점검용 안내입니다. 회신하지 않으셔도 됩니다.",
            "send_mode": "now",
            "send": "send",
        }
        request_id = f"scaleout-compose-{os.getpid()}"
        sent = browser.post(f"{base_a}/notices/new", form, {"X-Request-ID": request_id})  # … posted to web A
        match = re.search(r"/notices/(\d+)$", sent.headers.get("Location", ""))
        if sent.status_code != 302 or match is None:
            raise RuntimeError(f"composing on web A failed: HTTP {sent.status_code}")
        notice_id = int(match.group(1))
        self.notes.append(f"notice #{notice_id} composed on web A (request id {request_id})")
        self.check(browser.get(f"{base_b}/notices/{notice_id}").status_code == 200, "notice page on web B")

        api = requests.post(
            f"{base_b}/api/v1/auth/tokens", json={"email": COORDINATOR, "password": PASSWORD}, timeout=60
        )
        api.raise_for_status()
        bearer = {"Authorization": f"Bearer {api.json()['token']}"}

        def counts() -> dict[str, int]:
            answer = requests.get(f"{base_b}/api/v1/notices/{notice_id}", headers=bearer, timeout=60)
            answer.raise_for_status()
            return answer.json()["counts"]

        last: dict[str, int] = {}

        def all_sent() -> bool:
            nonlocal last
            current = counts()
            if current != last:
                log(f"notice #{notice_id} on web B: {current}")
                last = current
            return current["sent"] + current["failed"] == len(world.addresses)

        wait_for(all_sent, 300, "the notice's deliveries", interval=1)
        self.check(last.get("sent") == len(world.addresses), f"notice deliveries not all sent: {last}")
        return notice_id

    def sweep_twice(self, redis_url: str, world: World) -> None:
        from celery import Celery

        client = Celery("scaleout-client", broker=redis_url, set_as_current=False)
        client.conf.task_ignore_result = True
        for _ in range(2):
            client.send_task("reminders.sweep")
        client.close()
        log("reminder sweep sent twice at once")

        def sent() -> bool:
            rows = self.sql(
                """SELECT d.status, count(*) FROM deliveries d JOIN notices n ON n.id = d.notice_id
                   WHERE n.kind = 'reminder' GROUP BY d.status"""
            )
            done = dict(rows)
            return (
                sum(done.values()) >= len(world.addresses)
                and not done.get("queued")
                and not done.get("sending")
            )

        wait_for(sent, 300, "the reminders to be sent", interval=1)
        log("reminders sent")

    def verify(
        self,
        sink: Sink,
        world: World,
        notice_id: int,
        started: datetime,
        bases: list[str],
        workers: list[Process],
    ) -> None:
        expected = set(world.addresses)
        count = len(expected)
        received = sink.received()
        per_id = Counter(message_id for message_id, _ in received)
        self.check(all(n == 1 for n in per_id.values()), f"Message-IDs received twice: {_twice(per_id)}")
        ours: set[str] = set()
        for label, where, params in (
            ("notice", "n.id = %s", (notice_id,)),
            ("reminder", "n.kind = 'reminder'", ()),
        ):
            rows = self.sql(
                "SELECT d.message_id, lower(d.recipient), d.status FROM deliveries d "
                f"JOIN notices n ON n.id = d.notice_id WHERE {where}",
                *params,
            )
            deliveries = {_bare(message_id): address for message_id, address, _ in rows}
            statuses = Counter(status for *_, status in rows)
            got = [(message_id, address) for message_id, address in received if message_id in deliveries]
            per_address = Counter(address for _, address in got)
            self.check(statuses == Counter(sent=count), f"{label}: delivery statuses {dict(statuses)}")
            self.check(
                set(deliveries.values()) == expected, f"{label}: deliveries not to the expected addresses"
            )
            self.check(len({message_id for message_id, _ in got}) == count, f"{label}: distinct Message-IDs")
            self.check(len(got) == count, f"{label}: {len(got)} messages received for {count} recipients")
            self.check(
                set(per_address) == expected, f"{label}: {len(expected - set(per_address))} got nothing"
            )
            self.check(all(n == 1 for n in per_address.values()), f"{label}: twice to {_twice(per_address)}")
            self.check(
                all(deliveries[message_id] == address for message_id, address in got),
                f"{label}: a message went to another recipient than its delivery's",
            )
            ours |= deliveries.keys()
            self.notes.append(
                f"{label}: {count} recipients, {len(deliveries)} deliveries, "
                f"{len({m for m, _ in got})} distinct Message-IDs received, {len(got)} messages"
            )
        self.check(set(per_id) == ours, "messages arrived that no delivery of this run sent")

        reminders = self.sql("SELECT milestone_id, rule, due_on, count(*) FROM reminders GROUP BY 1, 2, 3")
        self.check(len(reminders) == count, f"{len(reminders)} reminder keys for {count} milestones")
        self.check(all(row[3] == 1 for row in reminders), "a reminder key written twice")
        notices = self.scalar("SELECT count(*) FROM notices WHERE kind = 'reminder'")
        self.check(notices == count, f"{notices} reminder notices for {count} milestones")
        sweep = self.sql("SELECT seen_at, detail FROM heartbeats WHERE name = 'sweep'")
        self.check(len(sweep) == 1 and sweep[0][0] >= started, f"sweep heartbeat: {sweep}")
        self.notes.append(f"reminders: {len(reminders)} keys (milestone, rule, day), {notices} notices")

        for base in bases:
            text = requests.get(f"{base}/metrics", timeout=60).text
            depth = _metric(text, "axcrm_delivery_queue_depth")
            since_sweep = _metric(text, "axcrm_seconds_since_last_sweep")
            self.check(depth == 0, f"{base}/metrics: queue depth {depth}")
            self.check(
                since_sweep is not None and since_sweep < 600, f"{base}/metrics: sweep {since_sweep} s ago"
            )

        self.verify_logs(workers, count)

    def verify_logs(self, workers: list[Process], count: int) -> None:
        """Every line of every process's stderr is one JSON object; the compose request is in web A's log
        under its request id; both workers ran tasks; the two sweeps created the reminders between them."""
        sweeps: list[str] = []
        for process in self.processes:
            if process.name == "redis":
                continue
            parsed = []
            for line in process.stderr_path.read_text(errors="replace").splitlines():
                try:
                    parsed.append(json.loads(line))
                except ValueError:
                    self.failures.append(f"{process.name}: a log line that is not JSON: {line[:200]}")
                    break
            if process in workers:
                tasks = Counter(entry["task_name"] for entry in parsed if "task_name" in entry)
                self.notes.append(f"{process.name} logged tasks: {dict(tasks)}")
                self.check(sum(tasks.values()) > 0, f"{process.name} ran no task")
                sweeps += [
                    entry["message"]
                    for entry in parsed
                    if entry.get("task_name") == "reminders.sweep" and " succeeded " in entry["message"]
                ]
            if process.name == "web-a":
                self.check(
                    any(
                        entry.get("request_id", "").startswith("scaleout-compose-")
                        and entry.get("path") == "/notices/new"
                        and entry.get("status") == 302
                        for entry in parsed
                    ),
                    "web A's JSON log lacks the compose request under its request id",
                )
        self.check(len(sweeps) == 2, f"{len(sweeps)} sweep tasks succeeded, expected 2")
        created = [re.search(r": (\d+)$", message) for message in sweeps]
        if all(created):
            counts = [int(match.group(1)) for match in created]
            self.notes.append(f"the two sweeps created {counts} reminders")
            self.check(
                sum(counts) == count, f"the sweeps created {counts} reminders, not {count} between them"
            )


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def _twice(counter: Counter) -> list[str]:
    return [key for key, n in counter.items() if n > 1][:5]


def _metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=120, help="firms (one address each); default 120")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and its logs")
    args = parser.parse_args()
    for tool in ("redis-server",):
        if shutil.which(tool) is None:
            print(f"FAIL: {tool} is not installed")
            return 1
    run = Run(recipients=args.recipients, keep=args.keep)
    try:
        run.execute()
    except Exception as error:  # a step that could not finish is a failure like any other
        run.failures.append(f"{type(error).__name__}: {error}")
        for process in run.processes:
            if process.name != "redis":
                log(f"{process.name} (last lines):\n{process.tail(8)}")
    finally:
        try:
            drop_database(run.database)
        except psycopg.Error as error:
            run.failures.append(f"could not drop {run.database}: {error}")
    for note in run.notes:
        log(note)
    if run.failures:
        print("FAIL")
        for failure in run.failures:
            print(f"  - {failure}")
        print(f"logs: {run.workdir}")
        return 1
    print(
        f"PASS: 2 web processes, 2 workers, 1 beat; each of {args.recipients} recipients got the notice "
        "and the reminder once"
    )
    if not run.keep:
        shutil.rmtree(run.workdir, ignore_errors=True)
    else:
        print(f"logs: {run.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
