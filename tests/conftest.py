from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.httpserver import LocalServer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required on CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available ({reason}); set MONITOR_TEST_DATABASE_URL to run these tests")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards.

    Reads MONITOR_TEST_DATABASE_URL. On CI (CI=true) an unreachable server fails the test;
    elsewhere it is skipped with the reason.
    """
    base = os.environ.get("MONITOR_TEST_DATABASE_URL")
    if not base:
        _postgres_unavailable("MONITOR_TEST_DATABASE_URL is not set")
        return
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(plain, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.Error as exc:
        _postgres_unavailable(f"{type(exc).__name__}: {exc}".strip())
        return
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(plain, connect_timeout=5, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on both engines."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))
