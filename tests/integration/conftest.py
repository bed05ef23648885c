"""Fixtures of the service tests: an app over the `store` fixture (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.store import Store
from tests.integration.support import make_app, new_token, new_webhook_secret


@pytest.fixture
def secret() -> str:
    return new_webhook_secret()


@pytest.fixture
def token() -> str:
    return new_token()


@pytest.fixture
def app(store: Store, secret: str, token: str) -> Flask:
    return make_app(store, secret=secret, token=token)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
