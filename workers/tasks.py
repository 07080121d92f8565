"""Celery tasks. Each takes ids, runs inside the Flask app context, has a retry limit with backoff for
infrastructure trouble (the database or broker away for a moment), and is safe to run twice: the outbox
claims deliveries atomically, and reminders are unique per milestone, rule and day."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from sqlalchemy.exc import OperationalError

from crm.core.db import utcnow

RETRY = {
    "autoretry_for": (OperationalError, ConnectionError),
    "retry_backoff": 2,
    "retry_backoff_max": 120,  # never a far-future countdown
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="outbox.send_batch", **RETRY)
def send_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Sends a batch of deliveries over one SMTP connection; returns how many ended how."""
    from collections import Counter

    from crm.notices.outbox import send_batch as send

    return dict(Counter(send(delivery_ids).values()))


@shared_task(name="outbox.send_delivery", **RETRY)
def send_delivery(delivery_id: int) -> str:
    # Kept for tasks already queued by a relay of one delivery per task; the relay now sends batches.
    from crm.notices.outbox import send_delivery as send

    return send(delivery_id)


def enqueue_batch(delivery_ids: list[int]) -> None:
    # The task id names the batch, so two copies in flight are recognisable in the broker's logs.
    task_id = f"deliveries-{delivery_ids[0]}-{len(delivery_ids)}-{utcnow():%Y%m%d%H%M%S%f}"
    send_batch.apply_async(args=[delivery_ids], task_id=task_id)


@shared_task(name="outbox.relay", **RETRY)
def relay() -> int:
    from crm.notices.outbox import relay_batches

    beat("relay")
    return relay_batches(enqueue_batch)


@shared_task(name="reminders.sweep", **RETRY)
def sweep_reminders(day: str | None = None) -> int:
    from crm.notices.reminders import run_sweep

    result = run_sweep(date.fromisoformat(day) if day else None)
    return result.created


@shared_task(name="privacy.purge", **RETRY)
def purge_personal_data(day: str | None = None) -> int:
    """Nightly PIPA purge; a second run the same day finds nothing left to remove."""
    from crm.extensions import db
    from crm.privacy.purge import purge_expired

    result = purge_expired(date.fromisoformat(day) if day else None)
    db.session.commit()
    return result.total


def beat(name: str) -> None:
    """Records a sign of life (upsert by name) in its own transaction."""
    from crm.notices.health import record_heartbeat

    record_heartbeat(name)


@shared_task(name="imports.apply", **RETRY)
def apply_import(job_id: int) -> str:
    """Applies a queued import chunk by chunk; a second delivery finds the job claimed and does nothing."""
    from crm.imports.operations import run_import

    return run_import(job_id)
