"""Turns in flight, keyed by (CallSid, step): the per-turn deadline's memory.

Twilio gives a webhook 15 s. A turn that is not done by `VoiceSettings.turn_deadline` is
answered "one moment" and keeps running here, shielded from the request that started it; the
`<Redirect>` (or a Twilio retry of the step) then waits on the same task, so the bot hears the
caller once and the finished answer is served when ready. Finished turns stay a little while
for a late redirect; the answer is also saved with the call, which is what another Rasa process
behind the load balancer reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

KEEP_SECONDS = 60.0  # a finished turn stays for the redirect that collects it


@dataclass
class PendingTurn:
    task: asyncio.Task[str]
    call: dict[str, Any] = field(default_factory=dict)  # the call state the turn works on

    @property
    def lang(self) -> str:
        """The caller's language as the turn knows it so far: the "one moment" speaks it."""
        return str(self.call.get("lang") or "ar")

    async def within(self, seconds: float) -> str | None:
        """The turn's TwiML if it is done within `seconds`, else None (the turn goes on)."""
        if seconds <= 0 and not self.task.done():
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self.task), timeout=max(seconds, 0))
        except asyncio.TimeoutError:
            return None


@dataclass
class PendingTurns:
    _turns: dict[tuple[str, int], PendingTurn] = field(default_factory=dict)

    def start(self, call_sid: str, step: int, make: Any) -> PendingTurn:
        """Run `make(pending)` (a coroutine function returning TwiML) as the turn of this step."""
        key = (call_sid, step)
        pending = PendingTurn(task=None)  # type: ignore[arg-type]
        coro: Coroutine[Any, Any, str] = make(pending)
        pending.task = asyncio.get_running_loop().create_task(coro)
        self._turns[key] = pending

        def forget_later(_: asyncio.Task[str]) -> None:
            asyncio.get_running_loop().call_later(KEEP_SECONDS, lambda: self._turns.pop(key, None) if self._turns.get(key) is pending else None)

        pending.task.add_done_callback(forget_later)
        return pending

    def get(self, call_sid: str, step: int) -> PendingTurn | None:
        return self._turns.get((call_sid, step))

    async def drain(self) -> None:
        """Wait for every turn in flight (tests, shutdown)."""
        tasks = [p.task for p in self._turns.values() if not p.task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
