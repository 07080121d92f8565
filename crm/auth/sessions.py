"""Server-side session rows behind the Flask-Login cookie."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app, flash, request, session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm.auth.fresh import mark_fresh
from crm.auth.models import Role, User, UserSession, hash_token
from crm.core.db import utcnow
from crm.extensions import db, login_manager

SESSION_KEY = "sid"
_TOUCH_EVERY = timedelta(minutes=1)


def start_session(user: User) -> UserSession:
    """A new session row; the old cookie's contents are dropped to prevent session fixation."""
    key = UserSession.new_key()
    session.clear()
    session[SESSION_KEY] = key
    session.permanent = True
    mark_fresh()  # a password was just entered
    row = UserSession(
        user_id=user.id,
        key_hash=hash_token(key),
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:255],
    )
    db.session.add(row)
    return row


def end_current_session() -> None:
    key = session.get(SESSION_KEY)
    if key:
        db.session.execute(
            sa.update(UserSession)
            .where(UserSession.key_hash == hash_token(key), UserSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
    session.clear()


def end_sessions_of(user: User, except_current: bool = False) -> int:
    """Ends every open session of a user (password change, deactivation); returns how many."""
    statement = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    key = session.get(SESSION_KEY) if except_current else None
    if key:
        statement = statement.where(UserSession.key_hash != hash_token(key))
    result = db.session.execute(statement.values(ended_at=utcnow()))
    return result.rowcount or 0


def idle_timeout(user: User) -> timedelta:
    """Staff see personal data of many firms, so their idle browsers close sooner than a firm's own."""
    if user.role is Role.firm_user:
        return current_app.config["SESSION_IDLE_TIMEOUT_FIRM"]
    return current_app.config["SESSION_IDLE_TIMEOUT_STAFF"]


def _load_user(user_id: str) -> User | None:
    key = session.get(SESSION_KEY)
    if not key or not user_id.isdigit():
        return None
    row = db.session.execute(
        sa.select(UserSession).where(
            UserSession.key_hash == hash_token(key),
            UserSession.user_id == int(user_id),
            UserSession.ended_at.is_(None),
        )
    ).scalar_one_or_none()
    if row is None or not row.user.is_active:
        return None
    now = utcnow()
    too_old = now - row.created_at > current_app.config["PERMANENT_SESSION_LIFETIME"]
    if too_old or now - row.last_seen_at > idle_timeout(row.user):
        row.ended_at = now
        db.session.commit()
        session.pop(SESSION_KEY, None)  # tell it once; the next request is simply signed out
        flash(_("Your session has expired. Please sign in again."), "info")
        return None
    if now - row.last_seen_at > _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row.user


def register_session_loader(app: Flask) -> None:
    login_manager.user_loader(_load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
