"""Tokens and the caller: POST/DELETE /auth/tokens, GET /me, and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import BaseModel

from crm.api.core import ApiError, api_route, body
from crm.api.models import ApiToken
from crm.api.openapi import document
from crm.api.schemas import TokenIn, TokenOut
from crm.audit.operations import record_audit
from crm.auth import mfa
from crm.auth.models import User, hash_token
from crm.auth.operations import AuthError, authenticate
from crm.core.db import utcnow
from crm.core.exceptions import OperationError
from crm.extensions import db, limiter


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    consortium_id: int | None
    institution_id: int | None
    firm_id: int | None
    locale: str | None


def user_out(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "role": user.role.value}


def issue_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`; the secret is returned once and only its hash is kept. Never commits."""
    secret = ApiToken.new_secret()
    token = ApiToken(
        user_id=user.id,
        token_hash=hash_token(secret),
        name=name.strip()[:100],
        expires_at=utcnow() + timedelta(days=current_app.config["API_TOKEN_DAYS"]),
        ip=request.remote_addr,
    )
    db.session.add(token)
    db.session.flush()
    record_audit("api_token.create", token, {"name": token.name, "expires_at": token.expires_at}, actor=user)
    return token, secret


def revoke_token(token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        record_audit("api_token.revoke", token, {}, actor=actor)


@api_route(
    "POST",
    "/auth/tokens",
    summary="Create a token from e-mail and password",
    tag="auth",
    request_model=TokenIn,
    response=TokenOut,
    status=201,
    errors=(401, 429),
    public_route=True,
)
@limiter.limit(lambda: current_app.config["API_TOKEN_RATE_LIMIT"], key_func=lambda: request.remote_addr or "")
def create_token():
    data = body(TokenIn)
    try:
        user = authenticate(data.email, data.password)
    except AuthError as error:
        db.session.commit()  # the failed attempt counts towards the lockout
        raise ApiError(401, "unauthorized", error.message) from None
    if mfa.applies_to(user):
        if not mfa.is_enabled(user):
            db.session.commit()
            raise ApiError(401, "mfa_enrolment_required", _("Turn on two-step sign-in in the web app first."))
        if not data.otp:
            db.session.commit()
            message = _("This account uses two-step sign-in: send the code as otp.")
            raise ApiError(401, "mfa_required", message)
        try:
            mfa.verify(user, data.otp)
        except OperationError as error:
            db.session.commit()  # the failed code counts towards the limit
            raise ApiError(401, "mfa_invalid", error.message) from None
    token, secret = issue_token(user, data.name)
    db.session.commit()
    return jsonify({"token": secret, "expires_at": token.expires_at.isoformat(), "user": user_out(user)}), 201


@api_route(
    "DELETE",
    "/auth/tokens/current",
    summary="Revoke the token this request carries",
    tag="auth",
    response=None,
    status=204,
)
def revoke_current_token():
    token = getattr(g, "api_token", None)
    if token is None:
        raise ApiError(401, "unauthorized", _("This request carries no API token."))
    revoke_token(token, current_user)
    db.session.commit()
    return "", 204


@api_route("GET", "/me", summary="The caller: user, role and scope", tag="auth", response=MeOut)
def me():
    user = current_user
    return jsonify(
        {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role.value,
            "consortium_id": user.scope_consortium_id,
            "institution_id": user.institution_id,
            "firm_id": user.firm_id,
            "locale": user.locale,
        }
    )


@api_route(
    "GET",
    "/openapi.json",
    summary="This document (OpenAPI 3.1)",
    tag="meta",
    response={"type": "object"},
    public_route=True,
)
def openapi_document():
    return jsonify(document(request.host_url))


def live_tokens_of(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())
            .order_by(ApiToken.created_at.desc())
        )
    )
