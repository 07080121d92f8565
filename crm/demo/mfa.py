"""Demo data for two-step sign-in: every demo account whose role requires MFA gets one published TOTP key.

The key is public (README, demo section) on purpose so anyone trying the demo can add it to an authenticator
or run `oathtool --totp -b AXCRMDEMOTOTPKEYJBSWY3DPEHPK3PXP`; it must never be used outside demo data.
"""

from __future__ import annotations

import random
from datetime import date

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import Role, User
from crm.core.db import utcnow
from crm.extensions import db

DEMO_TOTP_SECRET = "AXCRMDEMOTOTPKEYJBSWY3DPEHPK3PXP"


def seed_mfa(rng: random.Random, today: date) -> None:
    # Only where MFA is required (the test configuration requires it nowhere, so demo sign-ins stay simple).
    required = {Role(value) for value in current_app.config["MFA_REQUIRED_ROLES"]}
    if not required:
        return
    now = utcnow()
    for user in db.session.scalars(sa.select(User).where(User.role.in_(required), User.mfa_secret.is_(None))):
        user.mfa_secret = DEMO_TOTP_SECRET
        user.mfa_enabled_at = now
        # No recovery codes: the published key is the way back in for a demo account.
        user.mfa_recovery_hashes = []
    db.session.flush()


def demo_code_hint() -> str | None:
    """Under `make run` only (DEMO_MFA_HINT, never in production): the current code of a demo account that
    uses the published demo key, so trying the demo needs no authenticator app."""
    import pyotp

    from crm.auth.mfa import pending_user

    if not current_app.config.get("DEMO_MFA_HINT"):
        return None
    user = pending_user()
    if user is None or user.mfa_secret != DEMO_TOTP_SECRET:
        return None
    return pyotp.TOTP(DEMO_TOTP_SECRET).now()
