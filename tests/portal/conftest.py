from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config import TestConfig
from crm import create_app
from tests.conftest import DATABASE_URL, IsolatedClient


@pytest.fixture
def limited_client(app: Flask) -> Iterator[FlaskClient]:
    """A browser on a second app built with rate limits on (the test configuration turns them off). It
    shares the test's database connection; creating it re-binds the shared limiter with fresh counters, and
    the root conftest turns the limiter off again after the test."""
    limited = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=DATABASE_URL, RATELIMIT_ENABLED=True)
    limited.test_client_class = IsolatedClient
    yield limited.test_client()
