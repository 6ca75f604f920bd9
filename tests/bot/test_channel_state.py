from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.channel_state import ChannelState


async def test_claims_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = ChannelState(url)
    assert await first.claim("messenger:mid.1")
    assert not await first.claim("messenger:mid.1")
    again = ChannelState(url)  # a new process after a restart
    assert not await again.claim("messenger:mid.1")
    assert await again.claim("messenger:mid.2")


async def test_release_lets_a_failed_delivery_be_retried(tmp_path: Path) -> None:
    s = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    assert await s.claim("k")
    await s.release("k")
    assert await s.claim("k")


async def test_sender_state_merges_and_removes(tmp_path: Path) -> None:
    s = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    assert await s.get("sms_x") == {}
    await s.update("sms_x", language="ar", choices=["/complain"])
    assert await s.update("sms_x", choices=None) == {"language": "ar"}


async def test_prune_forgets_old_deliveries(tmp_path: Path) -> None:
    s = ChannelState(f"sqlite:///{tmp_path / 'state.db'}")
    await s.claim("old")
    assert s.prune(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8)) == 1
    assert await s.claim("old")
