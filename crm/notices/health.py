"""Signs of life of the scheduler and the workers."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crm.core.db import utcnow
from crm.extensions import db
from crm.notices.models import Heartbeat


def record_heartbeat(name: str, detail: dict[str, Any] | None = None) -> None:
    """Upserts the named heartbeat and commits it on its own session."""
    from crm.notices.outbox import _sender_session

    values = {"seen_at": utcnow(), "detail": detail or {}}
    with _sender_session() as session:
        updated = session.execute(sa.update(Heartbeat).where(Heartbeat.name == name).values(**values))
        if not updated.rowcount:
            try:
                with session.begin_nested():
                    session.add(Heartbeat(name=name, **values))
            except IntegrityError:  # another process wrote the first one at the same moment
                session.execute(sa.update(Heartbeat).where(Heartbeat.name == name).values(**values))
        session.commit()


def last_seen(name: str) -> Any:
    return db.session.scalar(sa.select(Heartbeat.seen_at).where(Heartbeat.name == name))
