"""Side effects (enqueueing tasks, sending mail) that run only after the transaction commits.

Operations never talk to the broker or SMTP inside the transaction: they call `after_commit(fn)`, and the
callbacks run once the session commits, or are dropped if it rolls back.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "crm_after_commit"


def after_commit(callback: Callable[[], object], session: Session | None = None) -> None:
    from crm.extensions import db

    target = session or db.session()
    target.connection()  # begin the transaction now, so a rollback (which is a no-op without one) drops these
    target.info.setdefault(_KEY, []).append(callback)


@sa.event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # a failed side effect must not turn a committed request into an error page
            current_app.logger.exception("after-commit callback %r failed", callback)


@sa.event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:  # a savepoint rolled back; the outer transaction may still commit
        return
    session.info.pop(_KEY, None)
