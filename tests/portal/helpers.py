"""Shared pieces of the portal tests: a sign-up form as a browser sends it, and the mail in the outbox."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

from crm.auth.models import User
from crm.extensions import db
from tests.mail import deliver_queued

_seq = itertools.count(1)
_LINK = re.compile(r"https?://[^/\s]+(/portal/verify/[A-Za-z0-9_\-]+)")
NEW_PASSWORD = "a long enough passphrase"


def unique_email(prefix: str = "signup") -> str:
    """The outbox folder lives for the whole run, so every test writes to its own address."""
    return f"{prefix}{next(_seq)}-{id(object())}@firm.example"


def signup_form(**changes: Any) -> dict[str, Any]:
    values = {
        "email": unique_email(),
        "name": "홍길동",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
        "brn": "124-81-00998",
        "firm_name": "(주)포털테스트",
        "ceo_name": "김대표",
        "sido_code": "31",
        "sigungu_code": "31140",
        "phone": "010-2222-3333",
        "message": "",
        "consent_privacy": "y",
        "consent_marketing": "y",
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def mails_to(app: Flask, address: str) -> list[EmailMessage]:
    """The messages written to the outbox for `address`, oldest first (after the relay delivered what was
    queued, as the workers would)."""
    deliver_queued()
    outbox = Path(app.config["OUTBOX_DIR"])
    found = []
    # Files are named by Message-ID; the order they were written in is the order of sending.
    paths = sorted(outbox.glob("*.eml"), key=lambda path: path.stat().st_mtime_ns) if outbox.exists() else []
    for path in paths:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            found.append(message)
    return found


def verification_path(message: EmailMessage) -> str:
    match = _LINK.search(message.get_content())
    assert match, message.get_content()
    return match.group(1)


def user_by_email(address: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == address))
