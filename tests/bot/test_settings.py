from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import settings


def test_tests_never_touch_the_developers_var_directory() -> None:
    # tests/conftest.py must set BEKH_VAR_DIR before anything imports bot.settings.
    assert Path(os.environ["BEKH_VAR_DIR"]) == settings.VAR
    assert settings.VAR != settings.ROOT / "var"


def test_local_timezone_follows_bekh_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEKH_TIMEZONE", raising=False)
    assert settings.local_timezone() == ZoneInfo("Asia/Amman")
    monkeypatch.setenv("BEKH_TIMEZONE", "Europe/London")
    assert settings.local_timezone() == ZoneInfo("Europe/London")


def test_a_bad_bekh_timezone_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEKH_TIMEZONE", "Amman")
    with pytest.raises(settings.ConfigError, match="BEKH_TIMEZONE"):
        settings.local_timezone()
