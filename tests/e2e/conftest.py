"""The `system` fixture: the real processes, started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import RunningSystem, start_system


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def system() -> Iterator[RunningSystem]:
    running = start_system()
    try:
        yield running
    finally:
        running.stop()
