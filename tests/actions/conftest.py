"""The actions run against the real case store, in-process on a loopback port with a fresh SQLite
database per test; actions.common's one client (and its catalogue cache) point at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions import common
from backend_client import CaseStoreClient
from tests.support.case_store import CATALOGUE, REAL_CATALOGUE, Clock, RunningCaseStore, migrated_sqlite, start_case_store

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    """The bot's domain as the action server receives it (forms and their required slots)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def point_actions_at(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> CaseStoreClient:
    client = CaseStoreClient(url, token, timeout=4.0)
    monkeypatch.setattr(common, "_client", client)
    monkeypatch.setattr(common, "_cache", {})  # the catalogue of another test's store
    monkeypatch.setattr(common, "_lock", asyncio.Lock())  # bound to this test's event loop
    return client


async def _actions_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, catalogue: Path) -> AsyncIterator[RunningCaseStore]:
    running = await start_case_store(migrated_sqlite(tmp_path), Clock(), catalogue)
    client = point_actions_at(running.url, running.token, monkeypatch)
    try:
        yield running
    finally:
        await client.close()
        await running.stop()


@pytest.fixture
async def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningCaseStore]:
    async for running in _actions_store(tmp_path, monkeypatch, CATALOGUE):
        yield running


@pytest.fixture
async def real_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunningCaseStore]:
    """The same, with the shipped catalogue: for bodies only it has (the human-rights track's)."""
    async for running in _actions_store(tmp_path, monkeypatch, REAL_CATALOGUE):
        yield running
