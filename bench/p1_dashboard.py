"""P1: the quota dashboard (HTML) and `GET /api/v1/quotas` against the raw SQL of the same aggregates.

Measured in-process through the Flask test client: the page with a signed-in session, the API with a bearer
token issued by `POST /api/v1/auth/tokens`. Two viewers: the consortium manager whose current programme
year holds the most engagements, and the national viewer, whose dashboard covers every consortium's current
year (the widest scope a dashboard has). Everything the app writes (sessions, the token) is rolled back.

The floor is what a hand-written report would send through psycopg for the same figures, on one open
connection: the programmes in scope with their current year, then per programme the funnel, counted,
arrivals in the rate window and engagements past their SLA (one statement over engagements and their
history), applications, trained people and GPU hours; for the page also the five breakdowns (one statement)
and, for a manager, the number of firms it sees. Before timing, the floor's figures are compared with the
API's, so a floor that computes something else fails the row instead of flattering the app.

App and floor calls alternate, so drift on a shared machine touches both alike.

    python -m bench.p1_dashboard [--quick] [--database axcrm_bench]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from bench.common import (
    BENCH_DATABASE,
    BenchContext,
    Result,
    bench_app,
    p95,
    rolled_back,
    sign_in,
)

KEY = "P1"
TARGET = "≤ 1.5× floor and p95 ≤ 100 ms"
RATIO_LIMIT = 1.5
P95_LIMIT_MS = 100.0
REPEAT = 50
QUICK_REPEAT = 8
WARMUP = 5
RATE_WINDOW_DAYS = 56  # crm.dashboard.quotas.RATE_WINDOW_DAYS

SLA_STATUSES = ("pending_agreement", "agreed", "in_progress", "final_report", "final_check", "settlement")
AGREED = ("agreed", "in_progress", "final_report", "final_check", "settlement", "closed", "follow_up")
COMMITTED = (*AGREED, "terminated")
COMPLETED = ("closed", "follow_up")


@dataclass
class Viewer:
    label: str
    email: str
    consortium_ids: list[int]
    is_manager: bool


# --- the floor: raw SQL through psycopg ---------------------------------------------------------------------

PROGRAMMES_SQL = """
WITH current_years AS (
    SELECT DISTINCT ON (y.consortium_id) y.id
    FROM programme_years y
    WHERE y.consortium_id = ANY(%(consortia)s)
    ORDER BY y.consortium_id, (y.starts_on <= %(today)s AND %(today)s <= y.ends_on) DESC,
             y.starts_on DESC, y.ordinal DESC
)
SELECT p.id, p.name, p.track, p.unit, p.counting_point, p.target, p.sla_days, y.id, y.ordinal, y.starts_on,
       y.ends_on, c.id, c.name, i.id, i.name
FROM programmes p
JOIN current_years cy ON cy.id = p.programme_year_id
JOIN programme_years y ON y.id = p.programme_year_id
JOIN consortia c ON c.id = y.consortium_id
JOIN institutions i ON i.id = p.institution_id
ORDER BY c.name, y.ordinal, p.track, p.id
"""

# The rate window's arrivals read the history only of counted engagements whose status changed since the
# window opened (an arrival is a status change), as a careful hand-written report would.
ENGAGEMENTS_SQL = f"""
SELECT e.programme_id,
       COUNT(*) FILTER (WHERE e.status <> 'cancelled'),
       COUNT(*) FILTER (WHERE e.status IN {COMMITTED}),
       COUNT(*) FILTER (WHERE e.status IN {COMPLETED}),
       COUNT(*) FILTER (WHERE CASE p.counting_point WHEN 'selected' THEN e.status <> 'cancelled'
                                                    WHEN 'agreed' THEN e.status IN {AGREED}
                                                    ELSE e.status IN {COMPLETED} END),
       COUNT(*) FILTER (WHERE CASE
           WHEN p.counting_point = 'selected' THEN e.status <> 'cancelled'
               AND e.created_at >= %(window_utc)s AND e.created_at < %(tomorrow_utc)s
           WHEN e.status_changed_at < %(window_utc)s - INTERVAL '1 day' THEN false
           WHEN p.counting_point = 'agreed' AND e.status IN {AGREED} THEN (
               SELECT COALESCE(MIN(h.at), e.status_changed_at) >= %(window_utc)s
                      AND COALESCE(MIN(h.at), e.status_changed_at) < %(tomorrow_utc)s
               FROM engagement_history h WHERE h.engagement_id = e.id AND h.to_status IN {AGREED})
           WHEN p.counting_point = 'completed' AND e.status IN {COMPLETED} THEN (
               SELECT COALESCE(MIN(h.at), e.status_changed_at) >= %(window_utc)s
                      AND COALESCE(MIN(h.at), e.status_changed_at) < %(tomorrow_utc)s
               FROM engagement_history h WHERE h.engagement_id = e.id AND h.to_status IN {COMPLETED})
           ELSE false END),
       COUNT(*) FILTER (WHERE e.status_changed_at < sla.cutoff)
FROM engagements e
JOIN programmes p ON p.id = e.programme_id
LEFT JOIN unnest(%(sla_programme)s::int[], %(sla_status)s::text[], %(sla_cutoff)s::timestamptz[])
    AS sla (programme_id, status, cutoff) ON sla.programme_id = e.programme_id AND sla.status = e.status
WHERE e.programme_id = ANY(%(ids)s)
GROUP BY e.programme_id
"""

APPLIED_SQL = """
SELECT c.programme_id, COUNT(*)
FROM applications a JOIN calls c ON c.id = a.call_id
WHERE c.programme_id = ANY(%(ids)s)
  AND a.status <> 'draft' AND (a.status <> 'withdrawn' OR a.submitted_at IS NOT NULL)
GROUP BY c.programme_id
"""

PEOPLE_SQL = """
SELECT programme_id, COUNT(*), COUNT(*) FILTER (WHERE first_on BETWEEN %(window)s AND %(today)s)
FROM (
    SELECT s.programme_id, lower(r.email), MIN(s.held_on) AS first_on
    FROM training_registrations r JOIN training_sessions s ON s.id = r.session_id
    WHERE r.attended AND s.programme_id = ANY(%(ids)s)
    GROUP BY s.programme_id, lower(r.email)
) people
GROUP BY programme_id
"""

GPU_SQL = """
SELECT e.programme_id, SUM(g.hours_granted),
       COALESCE(SUM(g.hours_granted) FILTER (WHERE g.granted_on BETWEEN %(window)s AND %(today)s), 0)
FROM gpu_allocations g JOIN engagements e ON e.id = g.engagement_id
WHERE e.programme_id = ANY(%(ids)s)
GROUP BY e.programme_id
"""

BREAKDOWNS_SQL = f"""
WITH counted AS (
    SELECT p.institution_id, i.name AS institution, f.sigungu_code, substr(f.ksic_code, 1, 2) AS division,
           f.employees,
           (SELECT revenue_krw FROM firm_financials
            WHERE firm_id = f.id AND revenue_krw IS NOT NULL ORDER BY year DESC LIMIT 1) AS revenue
    FROM engagements e
    JOIN programmes p ON p.id = e.programme_id
    JOIN institutions i ON i.id = p.institution_id
    JOIN firms f ON f.id = e.firm_id
    WHERE e.programme_id = ANY(%(ids)s) AND p.unit = 'firms'
      AND CASE p.counting_point WHEN 'selected' THEN e.status <> 'cancelled'
                                WHEN 'agreed' THEN e.status IN {AGREED}
                                ELSE e.status IN {COMPLETED} END
)
SELECT 'institution', MIN(institution), COUNT(*) FROM counted GROUP BY institution_id
UNION ALL SELECT 'sigungu', sigungu_code, COUNT(*) FROM counted GROUP BY sigungu_code
UNION ALL SELECT 'ksic', division, COUNT(*) FROM counted GROUP BY division
UNION ALL SELECT 'employees', band, COUNT(*) FROM (
    SELECT CASE WHEN employees IS NULL THEN NULL WHEN employees < 10 THEN '1-9'
                WHEN employees < 50 THEN '10-49' WHEN employees < 100 THEN '50-99'
                WHEN employees < 300 THEN '100-299' ELSE '300plus' END AS band
    FROM counted) banded GROUP BY band
UNION ALL SELECT 'revenue', band, COUNT(*) FROM (
    SELECT CASE WHEN revenue IS NULL THEN NULL WHEN revenue < 1000000000 THEN 'lt10'
                WHEN revenue < 5000000000 THEN '10-50' WHEN revenue < 10000000000 THEN '50-100'
                WHEN revenue < 50000000000 THEN '100-500' ELSE '500plus' END AS band
    FROM counted) banded GROUP BY band
"""

FIRM_COUNT_SQL = """
SELECT COUNT(*) FROM firms f
WHERE EXISTS (SELECT 1 FROM firm_links l WHERE l.firm_id = f.id AND l.consortium_id = %(consortium)s)
"""


class Floor:
    """The dashboard's figures from raw SQL on one psycopg connection, returned as plain rows."""

    def __init__(self, conn: psycopg.Connection, viewer: Viewer, today: date) -> None:
        from crm.core.time import kst_to_utc

        self.conn = conn
        self.viewer = viewer
        window = today - timedelta(days=RATE_WINDOW_DAYS - 1)
        self.params: dict[str, Any] = {
            "consortia": viewer.consortium_ids,
            "today": today,
            "window": window,
            "today_utc": kst_to_utc(today),
            "window_utc": kst_to_utc(window),
            "tomorrow_utc": kst_to_utc(today + timedelta(days=1)),
        }

    def quotas(self) -> dict[int, dict[str, Any]]:
        """Per programme in scope: what the API returns (target, counted, funnel) and the recent and stuck
        counts the projection and the page use."""
        with self.conn.cursor() as cursor:
            programmes = cursor.execute(PROGRAMMES_SQL, self.params).fetchall()
            params = {**self.params, "ids": [row[0] for row in programmes], **self._sla(programmes)}
            engagements = {row[0]: row[1:] for row in cursor.execute(ENGAGEMENTS_SQL, params)}
            applied = dict(cursor.execute(APPLIED_SQL, params).fetchall())
            people = {row[0]: row[1:] for row in cursor.execute(PEOPLE_SQL, params)}
            gpu = {row[0]: row[1:] for row in cursor.execute(GPU_SQL, params)}
        figures = {}
        for programme_id, _name, _track, unit, _point, target, *_rest in programmes:
            selected, agreed, completed, counted, recent, stuck = engagements.get(programme_id, (0,) * 6)
            if unit == "people":
                counted, recent = people.get(programme_id, (0, 0))
            elif unit == "gpu_hours":
                counted, recent = gpu.get(programme_id, (Decimal(0), Decimal(0)))
            figures[programme_id] = {
                "target": target,
                "counted": counted,
                "recent": recent,
                "stuck": stuck,
                "funnel": {
                    "applied": applied.get(programme_id, 0),
                    "selected": selected,
                    "agreed": agreed,
                    "completed": completed,
                },
            }
        return figures

    def _sla(self, programmes: list[tuple]) -> dict[str, list[Any]]:
        """Each programme's SLA as (programme, status, the instant a change must precede to be late)."""
        from crm.core.time import kst_to_utc

        today = self.params["today"]
        cutoffs = [
            (row[0], status, kst_to_utc(today - timedelta(days=days)))
            for row in programmes
            for status, days in (row[6] or {}).items()
            if status in SLA_STATUSES and isinstance(days, int) and days > 0
        ]
        return {
            "sla_programme": [c[0] for c in cutoffs],
            "sla_status": [c[1] for c in cutoffs],
            "sla_cutoff": [c[2] for c in cutoffs],
        }

    def page(self) -> None:
        """Everything the HTML page aggregates: the quotas, the breakdowns and a manager's firm count."""
        figures = self.quotas()
        with self.conn.cursor() as cursor:
            cursor.execute(BREAKDOWNS_SQL, {**self.params, "ids": list(figures)}).fetchall()
            if self.viewer.is_manager:
                cursor.execute(FIRM_COUNT_SQL, {"consortium": self.viewer.consortium_ids[0]}).fetchone()


# --- the app ------------------------------------------------------------------------------------------------


BUSIEST_SQL = """
WITH current_years AS (
    SELECT DISTINCT ON (y.consortium_id) y.id, y.consortium_id
    FROM programme_years y
    ORDER BY y.consortium_id, (y.starts_on <= :today AND :today <= y.ends_on) DESC, y.starts_on DESC,
             y.ordinal DESC
)
SELECT cy.consortium_id, COUNT(e.id) AS n
FROM current_years cy
JOIN programmes p ON p.programme_year_id = cy.id
LEFT JOIN engagements e ON e.programme_id = p.id
GROUP BY cy.consortium_id
ORDER BY n DESC, cy.consortium_id
"""


def _viewers(today: date) -> list[Viewer]:
    """The manager of the consortium with the most engagements in its current year, and the national
    viewer (every consortium)."""
    import sqlalchemy as sa

    from crm.auth.models import Role, User
    from crm.extensions import db

    ranked = db.session.execute(sa.text(BUSIEST_SQL), {"today": today}).all()
    busiest = ranked[0].consortium_id
    manager = db.session.scalar(
        sa.select(User.email)
        .where(User.role == Role.consortium_manager, User.consortium_id == busiest)
        .order_by(User.id)
    )
    national = db.session.scalar(
        sa.select(User.email).where(User.role == Role.national_viewer).order_by(User.id)
    )
    return [
        Viewer("consortium manager", manager, [busiest], True),
        Viewer("national viewer", national, sorted(row.consortium_id for row in ranked), False),
    ]


def _api_token(app: Any, email: str) -> str:
    """A bearer token issued the way an integration gets one: POST /api/v1/auth/tokens."""
    from bench.common import PASSWORD

    response = app.test_client().post("/api/v1/auth/tokens", json={"email": email, "password": PASSWORD})
    if response.status_code != 201:
        raise RuntimeError(
            f"no API token for {email}: HTTP {response.status_code} {response.get_data()[:300]}"
        )
    return response.get_json()["token"]


def _getter(client: Any, url: str, headers: dict[str, str] | None = None) -> Callable[[], Any]:
    def get() -> Any:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
        return response

    return get


def _compare(api_items: list[dict[str, Any]], floor: dict[int, dict[str, Any]]) -> None:
    """The floor must compute what the app shows, programme by programme."""
    if sorted(item["programme_id"] for item in api_items) != sorted(floor):
        raise RuntimeError("the floor covers other programmes than the API")
    for item in api_items:
        mine = floor[item["programme_id"]]
        theirs = (item["target"], Decimal(str(item["counted"])), item["funnel"])
        ours = (mine["target"], Decimal(str(mine["counted"])), mine["funnel"])
        if theirs != ours:
            raise RuntimeError(f"programme {item['programme_id']}: API {theirs} but floor {ours}")


def paired(
    app_call: Callable[[], Any], floor_call: Callable[[], Any], repeat: int
) -> tuple[list[float], list[float]]:
    """Milliseconds of `repeat` calls of each, alternating, after WARMUP untimed rounds."""
    for _ in range(WARMUP):
        app_call()
        floor_call()
    app_ms: list[float] = []
    floor_ms: list[float] = []
    for _ in range(repeat):
        for action, samples in ((app_call, app_ms), (floor_call, floor_ms)):
            started = time.perf_counter()
            action()
            samples.append((time.perf_counter() - started) * 1000)
    return app_ms, floor_ms


def _result(what: str, app_ms: list[float], floor_ms: list[float], note: str) -> Result:
    measured, floor = p95(app_ms), p95(floor_ms)
    met = measured <= RATIO_LIMIT * floor and measured <= P95_LIMIT_MS
    return Result(KEY, what, round(measured, 1), round(floor, 1), "ms", TARGET, met, note)


def measure(ctx: BenchContext) -> list[Result]:
    from crm.core.time import today_kst
    from crm.extensions import db

    repeat = QUICK_REPEAT if ctx.quick else REPEAT
    today = today_kst()
    app = bench_app(ctx.database_url)
    app.logger.setLevel("WARNING")
    results: list[Result] = []
    with rolled_back(app), psycopg.connect(ctx.psycopg_url, autocommit=True) as conn:
        with app.app_context():
            viewers = _viewers(today)
            db.session.remove()
        for viewer in viewers:
            floor = Floor(conn, viewer, today)
            client = app.test_client()
            sign_in(client, viewer.email)
            token = _api_token(app, viewer.email)
            page = _getter(client, "/dashboard")
            api = _getter(app.test_client(), "/api/v1/quotas", {"Authorization": f"Bearer {token}"})
            items = api().get_json()["items"]
            _compare(items, floor.quotas())
            for what, app_call, floor_call in (
                (f"quota dashboard HTML ({viewer.label}), p95", page, floor.page),
                (f"GET /api/v1/quotas ({viewer.label}), p95", api, floor.quotas),
            ):
                app_ms, floor_ms = paired(app_call, floor_call, repeat)
                note = (
                    f"{len(items)} programmes; medians {statistics.median(app_ms):.0f} / "
                    f"{statistics.median(floor_ms):.0f} ms; {repeat} runs"
                )
                results.append(_result(what, app_ms, floor_ms, note))
    return results


def main(argv: list[str] | None = None) -> int:
    from bench.run import context, print_table

    parser = argparse.ArgumentParser(
        prog="python -m bench.p1_dashboard", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=BENCH_DATABASE)
    args = parser.parse_args(argv)
    results = measure(context(args.database, args.quick))
    print_table(results)
    return 0 if all(result.met for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
