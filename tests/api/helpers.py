"""API test helpers: a token for a user, and requests that carry it."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from crm.api.auth import issue_token
from crm.auth.models import User
from crm.extensions import db


class Api:
    """A client that sends `Authorization: Bearer …` (and a language) with every request."""

    def __init__(self, app: Flask, user: User | None = None, language: str = "en") -> None:
        self.client: FlaskClient = app.test_client()
        self.headers: dict[str, str] = {"Accept-Language": language}
        if user is not None:
            _token, secret = issue_token(user, "test")
            db.session.commit()
            self.headers["Authorization"] = f"Bearer {secret}"

    def _call(self, method: str, path: str, **kw: Any):
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any):
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any):
        return self._call("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any):
        return self._call("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any):
        return self._call("DELETE", path, **kw)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]
