"""P4: one cohort notice to 10,000 recipients delivered into a local SMTP sink by 2 worker processes.

Everything runs on resources of its own, removed afterwards: a database `axcrm_bench_p4` built by the app's
migrations (on the bench's PostgreSQL server), a `redis-server` on a free port, an aiosmtpd sink in a
process of its own (so it shares an interpreter with neither the floor nor the workers), `celery worker
--concurrency=2` and one `celery beat` running the outbox relay. The audience is bulk-inserted (one call,
10,000 applicant firms, each with one primary contact); the notice is composed as staff compose it
(crm.notices.cohort.compose_notice: audience, variables rendered per recipient, queue_notice) and the clock
runs from its commit until the sink holds 10,000 distinct Message-IDs.

Floor: a raw smtplib loop sending 10,000 prebuilt messages of the same size over one connection into the same
sink. The workers also build each MIME message and record every outcome; that is the app's cost.

    .venv/bin/python -m bench.p4_notices [--quick] [p4_count=N] [p4_batch=N]
"""

from __future__ import annotations

import os
import re
import shutil
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.common import ROOT, BenchContext, Result, stop_group
from tests.services import free_port, port_open
from tests.worker_harness import wait_for

DATABASE = "axcrm_bench_p4"
WORKER_PROCESSES = 2
# How often beat runs the relay in this measurement (the production default is 5 s; see the note).
RELAY_SECONDS = 1.0
SUBJECT = "[AX CRM] {firm_name} 담당자님께: 2026년 2차 AI 솔루션 도입 지원사업 모집 안내"
BODY = (
    "{contact_name}님, 안녕하세요.\n\n"
    "{firm_name}에서 신청하신 「{call}」의 2차 모집 일정과 제출 서류를 안내드립니다.\n"
    "신청 마감은 {due_on} 18:00이며, 사업계획서와 재무제표(최근 2개년)를 포털에 올려 주시기 바랍니다.\n"
    "선정 평가는 서류 심사 후 발표 평가 순으로 진행되며, 결과는 포털과 이메일로 알려 드립니다.\n\n"
    "문의: 울산정보산업진흥원 AI사업팀 052-000-0000\n감사합니다."
)
_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


# --- the sink: aiosmtpd in a process of its own -----------------------------------------------------------


def serve_sink(port: int) -> None:
    """Accepts every message and counts messages, distinct Message-IDs and connections (one EHLO/HELO each);
    NOOP answers "250 <distinct> <messages> <connections>", which is how the bench reads them."""
    import asyncio

    from aiosmtpd.controller import Controller

    seen: set[bytes] = set()
    counts = {"messages": 0, "connections": 0}

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            counts["connections"] += 1
            return responses

        async def handle_HELO(self, server, session, envelope, hostname):
            session.host_name = hostname
            counts["connections"] += 1
            return f"250 {server.hostname}"

        async def handle_NOOP(self, server, session, envelope, arg):
            return f"250 {len(seen)} {counts['messages']} {counts['connections']}"

        async def handle_DATA(self, server, session, envelope):
            match = _MESSAGE_ID.search(envelope.original_content or envelope.content)
            counts["messages"] += 1
            if match:
                seen.add(match.group(1))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        asyncio.run(asyncio.sleep(10**7))
    finally:
        controller.stop()


class Sink:
    """The sink's process and a control connection that reads its counters."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self._stack = ExitStack()
        command = [sys.executable, "-m", "bench.p4_notices", "--sink", str(self.port)]
        self.pid = self._stack.enter_context(_process(command, workdir / "sink.log")).pid
        try:
            wait_for(lambda: port_open("127.0.0.1", self.port), 30, "the SMTP sink to listen")
            self._control = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        except BaseException:
            self._stack.close()
            raise

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def counts(self) -> tuple[int, int, int]:
        """(distinct Message-IDs, messages, connections) so far."""
        _code, reply = self._control.noop()
        distinct, messages, connections = (int(part) for part in reply.split())
        return distinct, messages, connections

    def distinct(self) -> int:
        return self.counts()[0]

    def stop(self) -> None:
        try:
            self._control.close()
        finally:
            self._stack.close()


# --- processes ----------------------------------------------------------------------------------------


@contextmanager
def _process(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """A process in its own group (its pool children go with it), stopped by its own id afterwards."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        stop_group(process)


@contextmanager
def _redis(workdir: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is not installed")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with _process([*command, "--dir", str(workdir)], workdir / "redis.log"):
        wait_for(lambda: port_open("127.0.0.1", port), 10, "redis-server to listen")
        yield f"redis://127.0.0.1:{port}/0"


# --- the database -------------------------------------------------------------------------------------


@contextmanager
def _database(server_url: str) -> Iterator[str]:
    """A database of our own on the bench's server (dropped first if a crashed run left it behind)."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url).set(database=DATABASE)
    admin = make_url(server_url).set(drivername="postgresql", database="postgres")
    admin_dsn = admin.render_as_string(hide_password=False)

    def run(statement: str) -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(statement)

    run(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    run(f"CREATE DATABASE {DATABASE}")
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        run(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _seed(count: int) -> dict[str, int]:
    """An admin, one call and `count` firms that applied to it, each with a primary contact who gave the
    privacy consent: a call audience of `count` addresses. Bulk INSERTs for the many rows."""
    from datetime import date, timedelta

    import sqlalchemy as sa

    from crm.applications.models import Application, ApplicationStatus
    from crm.auth.models import Role, User
    from crm.core.db import utcnow
    from crm.extensions import db
    from crm.firms.identifiers import brn_check_digit
    from crm.firms.models import Contact, Firm
    from crm.organisation.models import Consortium, Institution, InstitutionRole
    from crm.programmes.models import (
        DEFAULT_COUNTING_POINT,
        Call,
        Programme,
        ProgrammeYear,
        TargetUnit,
        Track,
    )

    now = utcnow()
    consortium = Consortium(name="울산 AI 사업단", sido_code="31")
    institution = Institution(
        consortium=consortium, name="울산정보산업진흥원", role=InstitutionRole.performing
    )
    year = ProgrammeYear(
        consortium=consortium,
        ordinal=1,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        budget_gov_krw=6_000_000_000,
        budget_local_krw=3_000_000_000,
        budget_self_krw=1_000_000_000,
    )
    programme = Programme(
        programme_year=year,
        institution=institution,
        name="AI 솔루션 도입 지원",
        track=Track.adoption,
        target=50,
        unit=TargetUnit.firms,
        counting_point=DEFAULT_COUNTING_POINT[Track.adoption],
        budget_gov_krw=600_000_000,
        budget_local_krw=300_000_000,
        budget_self_krw=100_000_000,
        exclusivity_years=3,
        excluded_ksic_prefixes=[],
        review_stages=["document_review"],
        milestone_templates=[],
    )
    call = Call(
        programme=programme,
        title="2026년 AI 솔루션 도입 지원사업 2차 모집",
        cohort="2026-2차",
        opens_at=now - timedelta(days=7),
        closes_at=now + timedelta(days=14),
        capacity=count,
        eligibility_text="울산 소재 중소기업",
        required_documents=[],
        questions=[],
        criteria=[],
    )
    admin = User(email="admin@bench.example", name="관리자", role=Role.admin, password_hash="!")
    db.session.add_all([consortium, institution, year, programme, call, admin])
    db.session.flush()

    def brn(n: int) -> str:
        first_nine = f"{100 + n // 10000:03d}81{n % 10000:04d}"
        return first_nine + str(brn_check_digit(first_nine))

    firm_rows = [
        {
            "brn": brn(n),
            "name": f"(주)울산벤치{n:05d}",
            "name_initials": "",
            "ceo_name": "홍길동",
            "address": "울산광역시 남구 삼산로 1",
            "sido_code": "31",
            "sigungu_code": "31140",
            "ksic_code": "26110",
            "ksic_revision": 11,
            "employees": 25,
        }
        for n in range(count)
    ]
    firm_ids = list(
        db.session.scalars(sa.insert(Firm).returning(Firm.id, sort_by_parameter_order=True), firm_rows)
    )
    db.session.execute(
        sa.insert(Contact),
        [
            {
                "firm_id": firm_id,
                "name": f"김담당{n:05d}",
                "position": "팀장",
                "phone": f"010-1234-{n % 10000:04d}",
                "email": f"contact{n:05d}@bench.example",
                "is_primary": True,
                "consent_privacy_at": now,
            }
            for n, firm_id in enumerate(firm_ids)
        ],
    )
    db.session.execute(
        sa.insert(Application),
        [
            {
                "call_id": call.id,
                "firm_id": firm_id,
                "status": ApplicationStatus.submitted,
                "answers": {},
                "submitted_at": now,
            }
            for firm_id in firm_ids
        ],
    )
    db.session.commit()
    return {"call_id": call.id, "admin_id": admin.id}


def _compose(seeded: dict[str, int]) -> int:
    """The notice as staff send it (audience, variables per recipient), committed; returns its id."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.notices.cohort import NoticeData, compose_notice

    actor = db.session.get(User, seeded["admin_id"])
    data = NoticeData(
        audience={"source": "call", "call_id": seeded["call_id"], "statuses": []}, subject=SUBJECT, body=BODY
    )
    notice = compose_notice(data, actor)
    db.session.commit()
    return notice.id


# --- the floor ----------------------------------------------------------------------------------------


def _first_message(seeded: dict[str, int]) -> tuple[bytes, str, str]:
    """(the message, its address, its Message-ID) the app will send to the audience's first recipient,
    rendered as compose_notice renders it, for a floor measured before the notice exists."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.firms.models import Contact, Firm
    from crm.notices import audience as audiences
    from crm.notices import outbox
    from crm.programmes.models import Call

    call = db.session.get(Call, seeded["call_id"])
    firm = db.session.scalars(sa.select(Firm).order_by(Firm.name)).first()
    contact = db.session.scalars(sa.select(Contact).where(Contact.firm_id == firm.id)).first()
    recipient = outbox.Recipient(contact.email, contact.name, contact_id=contact.id)
    member = audiences.Member(firm, call.programme, call, call.closes_on_kst)
    values = audiences.values_for(audiences.Addressee(member, recipient))
    subject, body = audiences.render(SUBJECT, values), audiences.render(BODY, values)
    message_id = "<axcrm.1.1@axcrm.local>"  # the first notice and delivery of a fresh database
    return (
        outbox.render_message(contact.email, contact.name, subject, body, message_id),
        contact.email,
        message_id,
    )


def _prebuilt(count: int, sample: bytes, address: str, message_id: str, run: str) -> list[tuple[str, bytes]]:
    """`count` copies of the app's message to its first recipient (same headers, subject and body, CRLF line
    ends as on the wire), each to its own address with its own Message-ID."""
    out = []
    for n in range(count):
        to = f"floor{run}{n:05d}@bench.example"
        raw = sample.replace(message_id.encode(), f"<floor{run}.{n}@axcrm.local>".encode())
        out.append((to, raw.replace(address.encode(), to.encode())))
    return out


def _raw_loop(port: int, messages: list[tuple[str, bytes]], sender: str) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for to, raw in messages:
            smtp.sendmail(sender, [to], raw)
    return time.perf_counter() - started


def _floor(
    sink: Sink, count: int, sample: bytes, address: str, message_id: str, run: str
) -> tuple[float, str]:
    """Seconds for the raw loop over `count` copies of `sample`, and its CPU per message."""
    from flask import current_app

    from crm.notices import outbox

    prebuilt = _prebuilt(count, sample, address, message_id, run)
    before = sink.distinct()
    clock = _Clock(client=time.process_time, sink=_group(sink.pid))
    seconds = _raw_loop(sink.port, prebuilt, outbox._envelope_sender(current_app.config["MAIL_FROM"]))
    wait_for(lambda: sink.distinct() - before >= count, 30, "the floor's messages")
    return seconds, clock.per_message(count)


# --- the measurement ----------------------------------------------------------------------------------


def _cpu_seconds(match: Callable[[list[str], Path], bool]) -> float:
    """User + system CPU of the live processes `match` picks (by their /proc stat fields and directory)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if match(fields, entry):
                total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return total / os.sysconf("SC_CLK_TCK")


def _group(pgid: int) -> Callable[[], float]:
    return lambda: _cpu_seconds(lambda fields, _entry: int(fields[2]) == pgid)


def _backends() -> float:
    """PostgreSQL backends serving our database (their process title names it)."""
    return _cpu_seconds(lambda _fields, entry: DATABASE.encode() in (entry / "cmdline").read_bytes())


class _Clock:
    """CPU seconds of named processes over a phase."""

    def __init__(self, **sources: Callable[[], float]) -> None:
        self.sources = sources
        self.start = {name: read() for name, read in sources.items()}

    def per_message(self, count: int) -> str:
        used = {name: read() - self.start[name] for name, read in self.sources.items()}
        return ", ".join(f"{name} {seconds / count * 1000:.2f}" for name, seconds in used.items())


def measure(ctx: BenchContext) -> list[Result]:
    count = int(ctx.extra.get("p4_count") or (1_000 if ctx.quick else 10_000))
    workdir = ctx.workdir / "p4"
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "instance").mkdir(parents=True)
    sink = Sink(workdir)
    try:
        with _database(ctx.database_url) as database_url:
            return _measure(ctx, count, workdir, database_url, sink)
    finally:
        sink.stop()


def _measure(ctx: BenchContext, count: int, workdir: Path, database_url: str, sink: Sink) -> list[Result]:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from config import DevelopmentConfig
    from crm import create_app
    from crm.extensions import db
    from crm.notices import outbox
    from crm.notices.models import Delivery, DeliveryStatus, Heartbeat

    batch = int(ctx.extra.get("p4_batch") or os.environ.get("DELIVERY_BATCH_SIZE") or 100)
    app = create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=database_url,
        SMTP_URL=sink.url,
        REDIS_URL=None,
        INSTANCE_DIR=str(workdir / "instance"),
    )
    with app.app_context():
        upgrade()
        seeded = _seed(count)

        with _redis(workdir) as redis_url:
            env = {
                **os.environ,
                "CRM_CONFIG": "development",
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "SMTP_URL": sink.url,
                "CRM_INSTANCE_DIR": str(workdir / "instance"),
                "OUTBOX_RELAY_SECONDS": str(RELAY_SECONDS),
                "DELIVERY_BATCH_SIZE": str(batch),
                "PYTHONUNBUFFERED": "1",
            }
            celery = [sys.executable, "-m", "celery", "-A", "workers.celery_app"]
            worker_command = [
                *celery,
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={WORKER_PROCESSES}",
                "--pool=prefork",
                "-n",
                "p4bench@%h",
            ]
            beat_command = [*celery, "beat", "--loglevel=WARNING", "-s", str(workdir / "beat-schedule")]
            with (
                _process(worker_command, workdir / "worker.log", env) as worker,
                _process(beat_command, workdir / "beat.log", env) as beat,
            ):

                def warmed_up() -> bool:
                    db.session.rollback()
                    names = set(db.session.scalars(sa.select(Heartbeat.name)))
                    return "relay" in names and any(name.startswith("worker@p4bench") for name in names)

                wait_for(warmed_up, 120, f"the worker and beat to start (logs in {workdir})", interval=0.5)
                # The floor just before and again just after, so a change in the machine's load shows.
                with app.test_request_context():
                    sample, address, message_id = _first_message(seeded)
                floor_before, _ = _floor(sink, count, sample, address, message_id, "a")
                before, messages_before, connections_before = sink.counts()
                with app.test_request_context():
                    composing = time.perf_counter()
                    _compose(seeded)
                    committed = time.perf_counter()
                clock = _Clock(
                    workers=_group(worker.pid),
                    sink=_group(sink.pid),
                    PostgreSQL=_backends,
                    beat=_group(beat.pid),
                )
                first_seen: list[float] = []

                def arrived() -> bool:
                    received = sink.distinct() - before
                    if received and not first_seen:
                        first_seen.append(time.perf_counter() - committed)
                    return received >= count

                wait_for(arrived, 600, f"{count} distinct Message-IDs in the sink (logs in {workdir})", 0.05)
                elapsed = time.perf_counter() - committed
                app_cpu = clock.per_message(count)

                def all_recorded() -> bool:
                    db.session.rollback()
                    sent = db.session.scalar(
                        sa.select(sa.func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.sent)
                    )
                    return sent == count

                wait_for(all_recorded, 60, "every delivery recorded as sent")
                recorded = time.perf_counter() - committed
        _distinct, messages_after, connections_after = sink.counts()
        duplicates = messages_after - messages_before - count
        connections = connections_after - connections_before

        first = db.session.scalar(sa.select(Delivery).order_by(Delivery.id).limit(1))
        assert first is not None and first.message_id
        sample = outbox.render_message(
            first.recipient, first.recipient_name, first.subject, first.body, first.message_id
        )
        floor_after, floor_cpu = _floor(sink, count, sample, first.recipient, first.message_id, "b")
        db.session.remove()
        db.engine.dispose()

    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    note = (
        f"{count:,} msgs of {len(sample):,} B, batch {batch}/task: {connections} SMTP connections, "
        f"{duplicates} duplicates; first at {first_seen[0]:.1f} s, all recorded sent at {recorded:.1f} s; "
        f"relay every {RELAY_SECONDS:g} s; CPU ms/msg: {app_cpu}; {load}; "
        f"compose and commit {committed - composing:.1f} s (not timed)"
    )
    floor = (floor_before + floor_after) / 2
    floor_note = (
        f"floor: smtplib sendmail loop, one connection, {count:,} prebuilt msgs of {len(sample):,} B into "
        f"the same aiosmtpd sink (own process), mean of {floor_before:.1f} s just before the notice and "
        f"{floor_after:.1f} s just after; CPU ms/msg: {floor_cpu}"
    )
    what = f"{count:,} deliveries, {WORKER_PROCESSES} processes"
    return [
        Result("P4", what, elapsed, None, "s", "≤ 60 s", elapsed <= 60, note),
        Result(
            "P4",
            "vs raw smtplib loop",
            elapsed,
            floor,
            "s",
            "≤ 1.5× floor",
            elapsed <= 1.5 * floor,
            floor_note,
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sink"]:
        serve_sink(int(sys.argv[2]))
        sys.exit(0)

    from bench.run import context

    extra = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
    for result in measure(context(quick="--quick" in sys.argv, extra=extra)):
        ratio = f" = {result.ratio:.2f}× floor {result.floor:.2f} {result.unit}" if result.floor else ""
        figure = f"{result.measured:.2f} {result.unit}{ratio}"
        print(f"{result.key} {result.what}: {figure}, {'met' if result.met else 'NOT met'}; {result.note}")
