"""Shared fixtures. The environment is set before anything imports bot.settings (whose
get_settings() is cached), so no test ever reads or writes the developer's var/ directory."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_VAR = tempfile.mkdtemp(prefix="bekh-test-var-")
os.environ["BEKH_ENV"] = "test"
os.environ["BEKH_VAR_DIR"] = _VAR
os.environ.setdefault("CASE_STORE_TOKEN", "test-token-" + uuid.uuid4().hex)
os.environ.setdefault("CASE_STORE_ENCRYPTION_KEY", "test-encryption-key-" + uuid.uuid4().hex)
os.environ.setdefault("SENDER_ID_KEY", "test-sender-id-key-" + uuid.uuid4().hex)
os.environ.pop("CASE_STORE_DATABASE_URL", None)

# Only now may bot.* be imported: bot.settings reads BEKH_VAR_DIR when it is first imported.
from bot.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent
TEST_POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def var_dir() -> Path:
    return Path(_VAR)


@pytest.fixture
def unused_port() -> int:
    return free_port()


def _postgres_unreachable(reason: str) -> None:
    # On CI a missing PostgreSQL is a broken pipeline, not a reason to pass quietly.
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required on CI (CI is set) but {reason}")
    pytest.skip(f"PostgreSQL not reachable at TEST_POSTGRES_URL: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this test session, dropped afterwards."""
    psycopg2 = pytest.importorskip("psycopg2")
    from sqlalchemy.engine import make_url

    try:
        admin = psycopg2.connect(TEST_POSTGRES_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        _postgres_unreachable(str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed")
    admin.autocommit = True
    name = f"bekh_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(TEST_POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
