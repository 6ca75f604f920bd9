from __future__ import annotations

import os
from pathlib import Path

from bot import settings


def test_tests_never_touch_the_developers_var_directory() -> None:
    # tests/conftest.py must set BEKH_VAR_DIR before anything imports bot.settings.
    assert Path(os.environ["BEKH_VAR_DIR"]) == settings.VAR
    assert settings.VAR != settings.ROOT / "var"
