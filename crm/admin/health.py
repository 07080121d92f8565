"""Scheduler health for the admin page and the staff banner: is beat running (the outbox relay records a
heartbeat every few seconds), did the daily reminder sweep run, which workers are alive, and how the
outbox queue looks.

The banner rule: the sweep is due daily at 09:00 KST (workers/celery_app.py). Staff see the banner once a
due run is more than two hours late, i.e. when no sweep heartbeat is newer than the latest 09:00 KST that
lies at least two hours in the past. So from 11:00 KST on, a sweep that did not run at 09:00 that day
shows the banner, and before 11:00 the previous day's run is what counts. A sweep that never ran shows it
only while there is an open milestone to remind anyone of (a fresh installation has nothing to miss).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from crm.core.db import utcnow
from crm.core.time import kst_to_utc, to_kst
from crm.extensions import db
from crm.notices.models import Delivery, DeliveryStatus, Heartbeat, Notice

RELAY = "relay"  # recorded by the outbox relay task, which beat starts every few seconds
SWEEP = "sweep"  # recorded by the daily reminder sweep
WORKER_PREFIX = "worker@"
BEAT_STALE_AFTER = timedelta(minutes=2)
SWEEP_STALE_AFTER = timedelta(hours=26)
WORKER_ALIVE_WITHIN = timedelta(minutes=3)
SWEEP_DUE_AT = time(9, 0)  # KST, as in the beat schedule
SWEEP_GRACE = timedelta(hours=2)
OLDEST_PENDING_WARNING = timedelta(minutes=15)
FAILED_WINDOW = timedelta(hours=24)
BROKER_QUEUE = "celery"  # Celery's default queue: a Redis list of that name
REDIS_TIMEOUT_SECONDS = 1.0
UNKNOWN = "unknown"


def _aware(moment: datetime | None) -> datetime | None:
    """Heartbeats come back naive from SQLite; they are stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _signal(seen_at: datetime | None, now: datetime, stale_after: timedelta) -> dict[str, Any]:
    seen_at = _aware(seen_at)
    age = now - seen_at if seen_at is not None else None
    return {"seen_at": seen_at, "age": age, "ok": age is not None and age <= stale_after}


def last_sweep_due(now: datetime) -> datetime:
    """The latest 09:00 KST that is at least SWEEP_GRACE before `now` (UTC-aware): the run that should
    have happened by now."""
    cutoff = (_aware(now) or utcnow()) - SWEEP_GRACE
    due = kst_to_utc(to_kst(cutoff).date(), SWEEP_DUE_AT)
    return due if due <= cutoff else due - timedelta(days=1)


def sweep_overdue(last_seen: datetime | None, now: datetime, *, anything_to_remind: bool = True) -> bool:
    """The banner rule (see the module's docstring)."""
    last_seen = _aware(last_seen)
    if last_seen is None:
        return anything_to_remind
    return last_seen < last_sweep_due(now)


def _open_milestones_exist() -> bool:
    from crm.milestones.models import Milestone

    return db.session.scalar(sa.select(Milestone.id).where(Milestone.open_clause()).limit(1)) is not None


def sweep_banner(now: datetime | None = None) -> dict[str, Any] | None:
    """What the staff banner says, or None when the sweep is on time."""
    now = _aware(now) or utcnow()
    last_seen = _aware(db.session.scalar(sa.select(Heartbeat.seen_at).where(Heartbeat.name == SWEEP)))
    anything = last_seen is not None or _open_milestones_exist()
    if not sweep_overdue(last_seen, now, anything_to_remind=anything):
        return None
    return {"last_seen": last_seen, "due_at": last_sweep_due(now)}


def broker_queue_length() -> int | str | None:
    """LLEN of Celery's queue in Redis; None without REDIS_URL (the embedded broker has no list to count),
    "unknown" when Redis does not answer within a second."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    try:
        import redis

        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            return int(client.llen(BROKER_QUEUE))
        finally:
            client.close()
    except Exception as error:  # any Redis trouble only makes the figure unknown; the page must render
        current_app.logger.warning("health: Redis queue length unavailable: %s", error)
        return UNKNOWN


def scheduler_health(now: datetime | None = None) -> dict[str, Any]:
    """Beat, sweep, workers, queue depth, the oldest pending delivery and recent failures, each with an
    `ok` flag, and `ok` overall."""
    now = _aware(now) or utcnow()
    heartbeats = {h.name: h for h in db.session.scalars(sa.select(Heartbeat))}
    relay = heartbeats.get(RELAY)
    sweep = heartbeats.get(SWEEP)
    beat = _signal(relay.seen_at if relay else None, now, BEAT_STALE_AFTER)
    sweep_state = _signal(sweep.seen_at if sweep else None, now, SWEEP_STALE_AFTER)
    sweep_state["due_at"] = last_sweep_due(now)
    sweep_state["overdue"] = sweep_overdue(
        sweep_state["seen_at"], now, anything_to_remind=sweep is not None or _open_milestones_exist()
    )
    sweep_state["ok"] = sweep_state["ok"] and not sweep_state["overdue"]
    workers = [
        {"name": name.removeprefix(WORKER_PREFIX), **_signal(h.seen_at, now, WORKER_ALIVE_WITHIN)}
        for name, h in sorted(heartbeats.items())
        if name.startswith(WORKER_PREFIX)
    ]
    alive = [w for w in workers if w["ok"]]

    pending = [DeliveryStatus.queued, DeliveryStatus.sending]
    depth = db.session.scalar(sa.select(sa.func.count(Delivery.id)).where(Delivery.status.in_(pending))) or 0
    # Pending since its notice became due; a notice scheduled for later is not late yet.
    oldest_since = _aware(
        db.session.scalar(
            sa.select(sa.func.min(Notice.send_at))
            .join(Delivery, Delivery.notice_id == Notice.id)
            .where(Delivery.status.in_(pending), Notice.cancelled_at.is_(None), Notice.send_at <= now)
        )
    )
    oldest = None
    if oldest_since is not None:
        age = now - oldest_since
        oldest = {"since": oldest_since, "age": age, "ok": age <= OLDEST_PENDING_WARNING}
    failed = (
        db.session.scalar(
            sa.select(sa.func.count(Delivery.id)).where(
                Delivery.status == DeliveryStatus.failed, Delivery.claimed_at >= now - FAILED_WINDOW
            )
        )
        or 0
    )
    broker = broker_queue_length()
    queue = {
        "deliveries": depth,
        "broker": broker,
        "broker_ok": broker != UNKNOWN,
    }
    return {
        "now": now,
        "beat": beat,
        "sweep": sweep_state,
        "workers": workers,
        "workers_alive": len(alive),
        "workers_ok": bool(alive),
        "queue": queue,
        "oldest_pending": oldest,
        "failed_24h": failed,
        "failed_ok": failed == 0,
        "ok": all(
            [
                beat["ok"],
                sweep_state["ok"],
                bool(alive),
                queue["broker_ok"],
                oldest is None or oldest["ok"],
                failed == 0,
            ]
        ),
    }


def format_age(age: timedelta | None) -> str:
    """An age in words for the page, to the two largest units: "3 min 20 s", "1 d 4 h"."""
    if age is None:
        return ""
    seconds = max(int(age.total_seconds()), 0)
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return _("%(days)s d %(hours)s h", days=days, hours=hours)
    if hours:
        return _("%(hours)s h %(minutes)s min", hours=hours, minutes=minutes)
    if minutes:
        return _("%(minutes)s min %(seconds)s s", minutes=minutes, seconds=seconds % 60)
    return _("%(seconds)s s", seconds=seconds)
