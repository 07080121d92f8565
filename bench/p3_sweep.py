"""P3: the daily reminder sweep over the 1,000,000 milestones of the bench database, beside its floor.

The sweep writes (reminders, notices, deliveries) and the bench database must stay as bench/generate.py left
it, so everything runs in a copy made from it (`CREATE DATABASE … TEMPLATE`) and dropped afterwards.

The day is today in Korea (the data is generated around the day it is loaded), or the next business day when
today is a day off, so that every programme sends. The copy first gets the reminder history of the fourteen
days before, as if the sweep had run every day (Reminder rows only, as crm/demo/reminders.py seeds the demo):
the measured sweep is then a day like any other, sending that day's D-7s, D-1s and weekly overdue steps.

- the sweep: the real `run_sweep(day)` in an app context, committing, timed from the call to its return;
- the floor: the one set-based statement that writes the same Reminder rows,
  `INSERT INTO reminders … SELECT … FROM milestones … ON CONFLICT DO NOTHING` through psycopg, committed;
- beside it, everything the sweep writes written without the app: that statement plus a COPY of the same
  notices and deliveries, i.e. what storing the sweep's rows costs whatever the code does.

Each is run `repeat` times, alternately, and what a run wrote is deleted (and the tables vacuumed) before
the next, so every run starts from the same state; the medians are compared. Then the sweep is run again for
the same day, which must create nothing. Last, the catch-up: the history is deleted and the first sweep
ever is timed (every open milestone due within a week and every overdue one at once, as after going live).
Should the bench database predate the models' indexes on milestones and reminders, the copy gets them first.

    python -m bench.p3_sweep [--database axcrm_bench] [--day YYYY-MM-DD] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.common import BENCH_DATABASE, BenchContext, Result

SWEEP_LIMIT_SECONDS = 10.0
RATIO_LIMIT = 2.0
HISTORY_DAYS = 14
COPY_ATTEMPTS = 300  # CREATE DATABASE … TEMPLATE needs the template to have no other session for a moment
WRITTEN = ("deliveries", "reminders", "notices")  # what a sweep writes, those referring to notices first

# The sweep's due conditions (crm/notices/reminders.py: due_reminder_clauses and _scope_clauses) as one
# statement: open milestones of engagements still under way, due within seven days or overdue, with the rule
# and day key of the reminder relevant on %(day)s; on a day off, business-days-only programmes wait.
FLOOR_SQL = """
INSERT INTO reminders (milestone_id, rule, due_on, created_at)
SELECT m.id,
       CASE WHEN m.due_on > %(day)s::date + 1 THEN 'd7' WHEN m.due_on >= %(day)s::date THEN 'd1'
            ELSE 'overdue' END,
       CASE WHEN m.due_on >= %(day)s::date THEN m.due_on
            ELSE %(day)s::date - mod(%(day)s::date - m.due_on - 1, 7) END,
       now()
FROM milestones m
JOIN engagements e ON e.id = m.engagement_id
JOIN programmes p ON p.id = e.programme_id
WHERE m.done_at IS NULL AND m.waived_at IS NULL
  AND e.status NOT IN ('cancelled', 'terminated')
  AND m.due_on <= %(day)s::date + 7
  AND (%(business_day)s OR NOT p.reminders_on_business_days)
ON CONFLICT (milestone_id, rule, due_on) DO NOTHING
"""


@dataclass
class Comparison:
    sweep_seconds: list[float]
    floor_seconds: list[float]
    created: int
    floor_rows: int
    notices: int
    deliveries: int
    by_rule: str
    # Everything the sweep wrote, written without the app: the floor's INSERT … SELECT and a COPY of the
    # same notices and deliveries.
    all_rows_floor: float

    @property
    def sweep(self) -> float:
        return statistics.median(self.sweep_seconds)

    @property
    def floor(self) -> float:
        return statistics.median(self.floor_seconds)


def _libpq(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def _copy_of(source_url: sa.URL, name: str) -> Iterator[sa.URL]:
    """A fresh copy of the source database, dropped on the way out whatever happens."""
    admin_url = _libpq(source_url.set(database="postgres"))
    _close_pooled_connections(source_url.database)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for attempt in range(COPY_ATTEMPTS):
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source_url.database}"')
                break
            except psycopg.errors.ObjectInUse:  # another process is reading the source right now
                if attempt == COPY_ATTEMPTS - 1:
                    raise
                if attempt % 30 == 0:
                    print(f"P3: waiting for the other sessions on {source_url.database} to end", flush=True)
                time.sleep(1)
    try:
        yield source_url.set(database=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _close_pooled_connections(database: str | None) -> None:
    """The measurements before this one in the same process (bench/run.py) leave their apps' engines with
    idle pooled connections to the bench database, which would keep it from serving as a template."""
    gc.collect()
    for engine in [obj for obj in gc.get_objects() if isinstance(obj, sa.Engine)]:
        if engine.url.database == database:
            engine.dispose()


def _app(url: sa.URL) -> Any:
    from config import DevelopmentConfig
    from crm import create_app

    app = create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False),
        RATELIMIT_ENABLED=False,
    )
    # The sweep warns of reminders with nobody to go to: firms without contacts, many in the bench data.
    app.logger.setLevel(logging.ERROR)
    return app


def sweep_day(today: date | None = None) -> date:
    from crm.core.time import today_kst
    from crm.notices.reminders import is_business_day

    day = today or today_kst()
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


class Copy:
    """The copied database: raw statements through psycopg, the sweep through the app."""

    def __init__(self, url: sa.URL) -> None:
        self.conn = psycopg.connect(_libpq(url), autocommit=True)
        self.app = _app(url)

    def close(self) -> None:
        from crm.extensions import db

        self.conn.close()
        with self.app.app_context():
            db.engine.dispose()

    def floor(self, day: date) -> tuple[float, int]:
        from crm.notices.reminders import is_business_day

        params = {"day": day, "business_day": is_business_day(day)}
        started = time.perf_counter()
        with self.conn.transaction():
            rows = self.conn.execute(FLOOR_SQL, params).rowcount
        return time.perf_counter() - started, rows

    def sweep(self, day: date) -> tuple[float, Any]:
        from crm.extensions import db
        from crm.notices.reminders import run_sweep

        with self.app.app_context():
            started = time.perf_counter()
            result = run_sweep(day)
            seconds = time.perf_counter() - started
            db.session.remove()
        return seconds, result

    def marks(self) -> dict[str, int]:
        return {t: self.conn.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in WRITTEN}

    def undo(self, marks: dict[str, int]) -> None:
        """Deletes what was written since `marks`, and vacuums, so the next run starts from the same state."""
        with self.conn.transaction():
            for table in WRITTEN:
                self.conn.execute(f"DELETE FROM {table} WHERE id > %s", [marks[table]])
        self.conn.execute(f"VACUUM (ANALYZE) {', '.join(WRITTEN)}")

    def seed_history(self, day: date) -> int:
        """The Reminder rows of the sweeps of the HISTORY_DAYS days before `day` (rows only, no notices)."""
        from crm.notices.reminders import is_business_day

        rows = 0
        for back in range(HISTORY_DAYS, 0, -1):
            past = day - timedelta(days=back)
            params = {"day": past, "business_day": is_business_day(past)}
            rows += self.conn.execute(FLOOR_SQL, params).rowcount
        self.conn.execute("VACUUM (ANALYZE) reminders")
        return rows

    def written_rows(self, marks: dict[str, int]) -> dict[str, bytes]:
        """The notices and deliveries written since `marks`, as COPY data."""
        data = {}
        for table in ("notices", "deliveries"):
            rows = f"SELECT * FROM {table} WHERE id > {marks[table]} ORDER BY id"
            query = f"COPY ({rows}) TO STDOUT (FORMAT binary)"
            with self.conn.cursor().copy(query) as copy:
                data[table] = b"".join(bytes(chunk) for chunk in copy)
        return data

    def all_rows_floor(self, day: date, rows: dict[str, bytes]) -> float:
        from crm.notices.reminders import is_business_day

        params = {"day": day, "business_day": is_business_day(day)}
        started = time.perf_counter()
        with self.conn.transaction():
            self.conn.execute(FLOOR_SQL, params)
            for table in ("notices", "deliveries"):
                with self.conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
                    copy.write(rows[table])
        return time.perf_counter() - started

    def compare(self, day: date, repeat: int, warmup: int = 1) -> Comparison:
        """The sweep and the floor `repeat` times each after `warmup` untimed runs, alternately, each from
        the same state; once, the floor of all the sweep's rows."""
        sweeps, floors = [], []
        created = floor_rows = notices = deliveries = 0
        by_rule = ""
        rows: dict[str, bytes] = {}
        for run in range(-warmup, repeat):
            for step in ("floor", "sweep") if run % 2 == 0 else ("sweep", "floor"):
                marks = self.marks()
                if step == "floor":
                    seconds, floor_rows = self.floor(day)
                    if run >= 0:
                        floors.append(seconds)
                else:
                    seconds, result = self.sweep(day)
                    if run >= 0:
                        sweeps.append(seconds)
                    created, deliveries = result.created, result.deliveries
                    notices = self.conn.execute(
                        "SELECT count(*) FROM notices WHERE id > %s", [marks["notices"]]
                    ).fetchone()[0]
                    by_rule = ", ".join(f"{rule.value} {n:,}" for rule, n in sorted(result.by_rule.items()))
                    rows = rows or self.written_rows(marks)
                self.undo(marks)
        marks = self.marks()
        all_rows = self.all_rows_floor(day, rows)
        self.undo(marks)
        return Comparison(sweeps, floors, created, floor_rows, notices, deliveries, by_rule, all_rows)

    def align_indexes(self) -> list[str]:
        """The copy's indexes on milestones and reminders made as the models declare them, for as long as
        the bench database was loaded by a migration older than the models. Returns what changed."""
        from sqlalchemy.dialects import postgresql

        from crm.milestones.models import Milestone
        from crm.notices.models import Reminder

        changes = []
        for table in (Milestone.__table__, Reminder.__table__):
            existing = {
                name
                for (name,) in self.conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE tablename = %s", [table.name]
                )
            }
            constraints = {constraint.name for constraint in table.constraints}
            for index in table.indexes:
                if index.name not in existing:
                    self.conn.execute(str(sa.schema.CreateIndex(index).compile(dialect=postgresql.dialect())))
                    changes.append(f"+{index.name}")
            for name in existing - {index.name for index in table.indexes} - constraints:
                self.conn.execute(f'DROP INDEX "{name}"')
                changes.append(f"-{name}")
        if changes:
            self.conn.execute("ANALYZE milestones, reminders")
        return changes


def measure(ctx: BenchContext) -> list[Result]:
    source_url = sa.make_url(ctx.database_url)
    source = source_url.database or BENCH_DATABASE
    day = sweep_day(date.fromisoformat(ctx.extra["p3_day"]) if "p3_day" in ctx.extra else None)
    repeat = 1 if ctx.quick else 3

    with _copy_of(source_url, f"{source}_p3") as url:
        copy = Copy(url)
        try:
            milestones = copy.conn.execute("SELECT count(*) FROM milestones").fetchone()[0]
            aligned = copy.align_indexes()
            history = copy.seed_history(day)
            daily = copy.compare(day, repeat)
            # Once more, kept this time, then the same day again: nothing new.
            marks = copy.marks()
            copy.sweep(day)
            again_seconds, again = copy.sweep(day)
            copy.undo(marks)
            copy.conn.execute("TRUNCATE reminders")
            catch_up = copy.compare(day, 1, warmup=0)
        finally:
            copy.close()

    runs = f"median of {repeat}" if repeat > 1 else "1 run"
    note = (
        f"{day.isoformat()}, {milestones:,} milestones, {history:,} reminders of the {HISTORY_DAYS} days "
        f"before: {daily.created:,} reminders ({daily.by_rule}), {daily.deliveries:,} deliveries queued "
        f"({runs}); the same day again: {again.created} created in {again_seconds:.2f} s"
    )
    if aligned:
        note += f"; indexes as the models declare them: {' '.join(aligned)}"
    same = "the same" if daily.created == daily.floor_rows else f"not the same: {daily.floor_rows:,}"
    floor_note = (
        f"floor: one INSERT … SELECT … ON CONFLICT DO NOTHING of the reminders ({same}) and nothing else; "
        f"with the sweep's {daily.notices:,} notices and {daily.deliveries:,} deliveries written too (COPY): "
        f"{daily.all_rows_floor:.2f} s, the sweep {daily.sweep / daily.all_rows_floor:.1f}× that"
    )
    catch_up_note = (
        f"no history: {catch_up.created:,} reminders ({catch_up.by_rule}), {catch_up.deliveries:,} "
        f"deliveries; INSERT … SELECT floor {catch_up.floor:.2f} s ({catch_up.sweep / catch_up.floor:.1f}×), "
        f"all it writes {catch_up.all_rows_floor:.2f} s ({catch_up.sweep / catch_up.all_rows_floor:.1f}×)"
    )
    nothing_again = again.created == 0 and again.deliveries == 0
    return [
        Result(
            key="P3",
            what="reminder sweep of a day, seconds",
            measured=round(daily.sweep, 2),
            floor=None,
            unit="s",
            target=f"≤ {SWEEP_LIMIT_SECONDS:g} s",
            met=daily.sweep <= SWEEP_LIMIT_SECONDS and nothing_again,
            note=note,
        ),
        Result(
            key="P3",
            what="sweep / INSERT…SELECT floor",
            measured=round(daily.sweep, 2),
            floor=round(daily.floor, 3),
            unit="s",
            target=f"≤ {RATIO_LIMIT:g}×",
            met=daily.sweep <= RATIO_LIMIT * daily.floor and daily.created == daily.floor_rows,
            note=floor_note,
        ),
        Result(
            key="P3",
            what="first sweep ever (catch-up), seconds",
            measured=round(catch_up.sweep, 2),
            floor=None,
            unit="s",
            target=f"≤ {SWEEP_LIMIT_SECONDS:g} s",
            met=catch_up.sweep <= SWEEP_LIMIT_SECONDS and catch_up.created == catch_up.floor_rows,
            note=catch_up_note,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.p3_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument("--day", help="the KST day to sweep for (YYYY-MM-DD); default today")
    parser.add_argument("--quick", action="store_true", help="one run of each instead of three")
    args = parser.parse_args(argv)
    ctx = BenchContext(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}",
        redis_url="redis://127.0.0.1:6379/0",
        workdir=Path("/tmp"),
        quick=args.quick,
        extra={"p3_day": args.day} if args.day else {},
    )
    for row in measure(ctx):
        ratio = f" = {row.ratio:.2f}× floor {row.floor} s" if row.ratio is not None else ""
        print(
            f"{row.what}: {row.measured} {row.unit}{ratio} (target {row.target}, met {row.met}) — {row.note}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
