"""P2: the firm list and its search at 100,000 firms — queries per page, and a deep page against the first.

Measured in-process through the Flask test client with a signed-in session, as the consortium manager and
a coordinator of the consortium that sees the most firms, and as the admin. Everything runs inside one
database transaction that is rolled back at the end: signing in writes a session row, and the bench database
must stay as bench/generate.py left it.

The deep page is the one 2,000 pages in at 50 a page, or the last page where the scope is smaller (the widest
consortium sees 18,000 firms of the bench data: page 360; the admin sees all 100,000: page 2,000). It is
opened straight from the cursor of the row before it (`?after=`), as a user who clicked "Next" that often
would hold it; the first and the deep page are timed alternately so that drift on a shared machine touches
both alike. A last page is the dearest keyset page of a scoped list: proving that no row follows walks the
name index to its end past the firms of other consortia.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from bench.common import BenchContext, Result, bench_app, median, p95, rolled_back, sign_in
from tests.statements import recorded_statements

DEEP_PAGE = 2_000
DEEP_PAGE_SIZE = 50
QUERY_LIMIT = 8
RATIO_LIMIT = 1.2


@dataclass
class Viewer:
    label: str  # "manager", "coordinator", "admin"
    email: str
    scope: int  # firms this user may see
    consortium_id: int | None


@contextmanager
def _counting(app: Any) -> Iterator[list[str]]:
    from crm.extensions import db

    with app.app_context():
        engine = db.engine
    with recorded_statements(engine) as statements:
        yield statements


def _viewers() -> list[Viewer]:
    """The manager and a coordinator of the consortium linked to the most firms, and the admin."""
    from crm.auth.models import Role, User
    from crm.extensions import db
    from crm.firms.models import Firm, FirmLink
    from crm.organisation.models import Institution

    widest = db.session.execute(
        sa.select(FirmLink.consortium_id, sa.func.count(sa.distinct(FirmLink.firm_id)).label("firms"))
        .group_by(FirmLink.consortium_id)
        .order_by(sa.text("firms DESC"), FirmLink.consortium_id)
        .limit(1)
    ).one()
    manager = db.session.scalar(
        sa.select(User.email)
        .where(User.role == Role.consortium_manager, User.consortium_id == widest.consortium_id)
        .order_by(User.id)
        .limit(1)
    )
    coordinator = db.session.scalar(
        sa.select(User.email)
        .join(Institution, Institution.id == User.institution_id)
        .where(User.role == Role.coordinator, Institution.consortium_id == widest.consortium_id)
        .order_by(User.id)
        .limit(1)
    )
    admin = db.session.scalar(sa.select(User.email).where(User.role == Role.admin).order_by(User.id).limit(1))
    everyone = db.session.scalar(sa.select(sa.func.count()).select_from(Firm)) or 0
    viewers = [
        Viewer("manager", manager, widest.firms, widest.consortium_id),
        Viewer("coordinator", coordinator, widest.firms, widest.consortium_id),
        Viewer("admin", admin, everyone, None),
    ]
    return [viewer for viewer in viewers if viewer.email]


def _client(app: Any) -> Any:
    """A test client whose every request gets its own app context (its own `g` and signed-in user), as in
    production, even when a measurement calls it inside an app context of its own."""
    from flask.globals import _cv_app
    from flask.testing import FlaskClient

    class IsolatedClient(FlaskClient):
        def open(self, *args: Any, **kwargs: Any) -> Any:
            token = _cv_app.set(None)
            try:
                return super().open(*args, **kwargs)
            finally:
                _cv_app.reset(token)

    return IsolatedClient(app, app.response_class, use_cookies=True)


def _get(client: Any, url: str) -> str:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code}")
    return response.get_data(as_text=True)


def _deep_cursor(email: str, scope: int) -> tuple[str, int, str]:
    """The `?after=` cursor of the page 2,000 pages in at 50 a page (or of the deepest page when the scope
    is smaller), the page's number, and a note on which it is."""
    from crm.auth.models import User
    from crm.core.pagination import key_cursor
    from crm.extensions import db
    from crm.firms.operations import search_firms

    user = db.session.scalar(sa.select(User).where(User.email == email))
    wanted = (DEEP_PAGE - 1) * DEEP_PAGE_SIZE
    start = min(wanted, ((scope - 1) // DEEP_PAGE_SIZE) * DEEP_PAGE_SIZE)
    if start < 1:
        raise RuntimeError(f"{email} sees only {scope} firms: no page after the first")
    row = db.session.execute(
        search_firms(user).with_only_columns(*_key_columns()).offset(start - 1).limit(1)
    ).one()
    page = start // DEEP_PAGE_SIZE + 1
    note = f"page {page:,} (rows {start + 1:,}–{min(start + DEEP_PAGE_SIZE, scope):,} of {scope:,})"
    if start + DEEP_PAGE_SIZE >= scope:
        # The last page: proving that no row follows walks the name index past the scope's last firm.
        name, id_ = _key_columns()
        last = db.session.execute(
            search_firms(user).with_only_columns(name, id_).order_by(None).order_by(name.desc(), id_.desc())
        ).first()
        beyond = db.session.scalar(sa.select(sa.func.count()).where(sa.tuple_(name, id_) > sa.tuple_(*last)))
        if beyond:
            note += f", the last: its has-next check walks past {beyond:,} firms of other consortia"
    return key_cursor(list(row)), page, note


def _key_columns() -> tuple[Any, ...]:
    from crm.firms.models import Firm

    return (Firm.name, Firm.id)


def _alternating(actions: list[Callable[[], object]], repeat: int, warmup: int = 2) -> list[list[float]]:
    """Milliseconds of each action, run in turn `repeat` times after `warmup` untimed rounds."""
    for _ in range(warmup):
        for action in actions:
            action()
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(repeat):
        for index, action in enumerate(actions):
            started = time.perf_counter()
            action()
            samples[index].append((time.perf_counter() - started) * 1000)
    return samples


def _figures(samples: list[float]) -> str:
    return f"median {median(samples):.1f} ms, p95 {p95(samples):.1f} ms"


def measure(ctx: BenchContext) -> list[Result]:
    from crm.extensions import db

    app = bench_app(ctx.database_url, LOG_LEVEL="WARNING")
    repeat = 5 if ctx.quick else 30
    results: list[Result] = []
    with rolled_back(app):
        with app.app_context():
            viewers = _viewers()
            cursors = {viewer.label: _deep_cursor(viewer.email, viewer.scope) for viewer in viewers}
            db.session.remove()
        for viewer in viewers:
            client = _client(app)
            sign_in(client, viewer.email)
            results += _queries(app, client, viewer)
            results += _depth(app, client, viewer, cursors[viewer.label], repeat)
            if viewer.label == "manager":
                results += _searches(app, client, viewer, repeat)
    return results


def _queries(app: Any, client: Any, viewer: Viewer) -> list[Result]:
    """SQL statements of one page at 20 and at 100 rows, of the HTML list and of the API's."""
    pages = {"/firms": lambda size: "/firms", "API /firms": lambda size: f"/api/v1/firms?limit={size}"}
    results = []
    for label, url_for in pages.items():
        counts = {}
        for size in (20, 100):
            app.config["PAGE_SIZE"] = size
            _get(client, url_for(size))  # per-process caches (templates, translations) are not per-page work
            with _counting(app) as statements:
                body = _get(client, url_for(size))
            rows = body.count('href="/firms/') if label == "/firms" else body.count('"brn_display"')
            if rows < min(size, viewer.scope):
                raise RuntimeError(f"{label} at {size} a page showed {rows} rows")
            counts[size] = len(statements)
        results.append(
            Result(
                "P2",
                f"{label} queries per page (20 vs 100 rows), {viewer.label}",
                max(counts.values()),
                None,
                "queries",
                f"≤ {QUERY_LIMIT} and independent of page size",
                counts[20] == counts[100] and counts[20] <= QUERY_LIMIT,
                f"{counts[20]} at 20 rows, {counts[100]} at 100; scope {viewer.scope:,} firms",
            )
        )
    return results


def _depth(app: Any, client: Any, viewer: Viewer, deep: tuple[str, int, str], repeat: int) -> list[Result]:
    cursor, _page, where = deep
    app.config["PAGE_SIZE"] = DEEP_PAGE_SIZE
    first_html = _get(client, "/firms")
    deep_html = _get(client, f"/firms?after={cursor}")
    if first_html == deep_html or 'rel="prev"' not in deep_html:
        raise RuntimeError("the deep page is not a later page of the list")
    first, later = _alternating(
        [lambda: _get(client, "/firms"), lambda: _get(client, f"/firms?after={cursor}")], repeat
    )
    api_first, api_later = _alternating(
        [
            lambda: _get(client, f"/api/v1/firms?limit={DEEP_PAGE_SIZE}"),
            lambda: _get(client, f"/api/v1/firms?limit={DEEP_PAGE_SIZE}&cursor={cursor}"),
        ],
        repeat,
    )
    counting = _count_timings(app, viewer.email, repeat)
    html_ratio = median(later) / median(first)
    api_ratio = median(api_later) / median(api_first)
    return [
        Result(
            "P2",
            f"/firms deep page / first page (median), {viewer.label}",
            median(later),
            median(first),
            "ms",
            f"≤ {RATIO_LIMIT}×",
            html_ratio <= RATIO_LIMIT,
            f"{where}; first {_figures(first)}; deep {_figures(later)}; "
            f"of which the total count {_figures(counting)}",
        ),
        Result(
            "P2",
            f"API /firms deep cursor / first page (median), {viewer.label}",
            median(api_later),
            median(api_first),
            "ms",
            f"≤ {RATIO_LIMIT}×",
            api_ratio <= RATIO_LIMIT,
            f"{where}; first {_figures(api_first)}; deep {_figures(api_later)}",
        ),
    ]


def _search_cases(viewer: Viewer) -> list[tuple[str, dict[str, str]]]:
    """Searches a manager would type, on the data bench/generate.py makes: names carry the region's
    prefixes and industry words, so these match hundreds to thousands of the consortium's firms."""
    from crm.extensions import db
    from crm.firms.models import Firm, FirmLink

    district = db.session.execute(
        sa.select(Firm.sigungu_code, sa.func.count())
        .where(Firm.id.in_(sa.select(FirmLink.firm_id).where(FirmLink.consortium_id == viewer.consortium_id)))
        .group_by(Firm.sigungu_code)
        .order_by(sa.func.count().desc())
        .limit(1)
    ).first()
    return [
        ("name, 3 characters (스마트)", {"q": "스마트"}),
        ("name, 2 characters (정밀)", {"q": "정밀"}),
        ("name, no match (없는회사)", {"q": "없는회사"}),
        ("초성, 3 (ㅇㅅㅅ)", {"q": "ㅇㅅㅅ"}),
        ("초성, 2 (ㅇㅅ)", {"q": "ㅇㅅ"}),
        ("BRN digits (81009)", {"q": "81009"}),
        ("시군구 + KSIC section C", {"sigungu": district[0] if district else "", "ksic": "C"}),
    ]


_PLAN_NODE = re.compile(
    r"(Seq Scan on \w+|Index Only Scan using \w+|Index Scan using \w+|Bitmap Index Scan on \w+)"
)


def _plans(app: Any, client: Any, url: str) -> str:
    """How PostgreSQL reads `firms` for the page's queries: the index names, or "Seq Scan on firms"."""
    from crm.extensions import db

    captured: list[tuple[str, Any]] = []

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if "FROM firms" in statement and statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before_cursor_execute)
    try:
        _get(client, url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before_cursor_execute)
    nodes: list[str] = []
    with app.app_context():
        connection = db.session.connection()
        for statement, parameters in captured:
            plan = connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
            for line in plan:
                for node in _PLAN_NODE.findall(line):
                    if node not in nodes and "firm_links" not in node:  # the visibility probe
                        nodes.append(node)
        db.session.remove()
    return ", ".join(nodes)


def _count_timings(app: Any, email: str, repeat: int) -> list[float]:
    """The total ("N in all") each page counts, timed alone: the part of a page that grows with the scope."""
    from crm.auth.models import User
    from crm.core.pagination import count_rows
    from crm.extensions import db
    from crm.firms.operations import search_firms

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        statement = search_firms(user)
        samples = _alternating([lambda: count_rows(statement)], repeat)[0]
        db.session.remove()
    return samples


def _searches(app: Any, client: Any, viewer: Viewer, repeat: int) -> list[Result]:
    """Searches and filters: the issue's target (queries per page) judged, the first page at 50 a page timed
    against the unfiltered first page for information, and how PostgreSQL reads `firms` for them."""
    with app.app_context():
        cases = _search_cases(viewer)
    urls = [f"/firms?{urlencode(query)}" for _label, query in cases]
    counts: dict[str, dict[int, int]] = {url: {} for url in urls}
    for size in (20, 100):
        app.config["PAGE_SIZE"] = size
        for url in urls:
            with _counting(app) as statements:
                _get(client, url)
            counts[url][size] = len(statements)
    app.config["PAGE_SIZE"] = DEEP_PAGE_SIZE
    samples = _alternating([lambda url=url: _get(client, url) for url in ["/firms", *urls]], repeat)
    floor = samples[0]
    results = []
    for (label, _query), url, timed in zip(cases, urls, samples[1:], strict=True):
        small, large = counts[url][20], counts[url][100]
        results.append(
            Result(
                "P2",
                f"/firms search {label}: queries per page (20 vs 100 rows), {viewer.label}",
                max(small, large),
                None,
                "queries",
                f"≤ {QUERY_LIMIT} and independent of page size",
                small == large and small <= QUERY_LIMIT,
                f"{small} at 20 rows, {large} at 100; first page at 50 {_figures(timed)}, "
                f"{median(timed) / median(floor):.2f}× the unfiltered one ({_figures(floor)}); "
                f"reads {_plans(app, client, url)}",
            )
        )
    return results
