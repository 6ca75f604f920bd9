"""The admin CLI, run as subprocesses against a temporary SQLite database."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from service_fixtures import CATALOGUE, complaint

from bot.settings import get_settings
from case_store import sla
from case_store.catalogue import Catalogue
from case_store.constants import UTC
from case_store.db import Database
from case_store.schemas import parse_create
from case_store.service import CaseService

ROOT = Path(__file__).resolve().parents[2]


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CASE_STORE_DATABASE_URL": url, "CASE_STORE_CATALOGUE": str(CATALOGUE)}
    return subprocess.run(
        [sys.executable, "-m", "case_store", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def seed(url: str) -> str:
    async def main() -> str:
        db = Database(url)
        try:
            settings = get_settings()
            service = CaseService(db, Catalogue.load(CATALOGUE), sla.load(settings.timezone), settings.case_store_encryption_key)
            data, anonymous = parse_create(complaint(importance="urgent"))
            created = await service.create(data, anonymous, "cli-seed-0001", now=dt.datetime(2025, 5, 4, 7, tzinfo=UTC))
            return str(created.request["reference"])
        finally:
            await db.dispose()

    return asyncio.run(main())


def test_migrate_list_show_move_escalate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = cli(url, "migrate")
    assert result.returncode == 0, result.stderr
    assert cli(url, "migrate").returncode == 0  # idempotent
    ref = seed(url)
    grouped = f"{ref[:3]} {ref[3:6]} {ref[6:]}"

    listed = cli(url, "list")
    assert listed.returncode == 0 and grouped in listed.stdout and "submitted" in listed.stdout
    assert "no requests with status answered" in cli(url, "list", "--status", "answered").stdout

    shown = cli(url, "show", ref)
    assert shown.returncode == 0 and f'"reference": "{ref}"' in shown.stdout

    bad = cli(url, "move", ref, "closed")
    assert bad.returncode == 1 and "transition_not_allowed" in bad.stderr
    assert cli(url, "move", ref, "answered").returncode == 2  # needs --answer

    # Due Wed 7 May 15:00 Amman; sweep at 8 May: escalated once, then nothing more.
    swept = cli(url, "escalate", "--now", "2025-05-08T09:00:00+00:00")
    assert swept.returncode == 0 and "escalated 1 request(s)" in swept.stdout and ref in swept.stdout
    assert "escalated 0 request(s)" in cli(url, "escalate", "--now", "2025-05-08T09:00:00+00:00").stdout

    moved = cli(url, "move", ref, "in_progress", "--note", "assigned", "--actor", "entity:moh")
    assert moved.returncode == 0 and "in_progress" in moved.stdout
    answered = cli(url, "move", ref, "answered", "--answer", "Two doctors were added.")
    assert answered.returncode == 0
    assert "answered" in cli(url, "list", "--status", "answered").stdout
    assert cli(url, "show", "12345").returncode == 1
