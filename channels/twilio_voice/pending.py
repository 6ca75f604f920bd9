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
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

KEEP_SECONDS = 60.0  # a finished turn stays for the redirect that collects it


@dataclass
class PendingTurn:
    call: dict[str, Any] = field(default_factory=dict)  # the call state the turn works on
    task: asyncio.Task[str] = field(init=False)

    @property
    def lang(self) -> str:
        """The caller's language as the turn knows it so far: the "one moment" speaks it."""
        return str(self.call.get("lang") or "ar")

    async def within(self, seconds: float) -> str | None:
        """The turn's TwiML if it is done within `seconds`, else None (the turn goes on)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.task), timeout=max(seconds, 0.0))
        except asyncio.TimeoutError:
            return None
        except asyncio.CancelledError:
            if self.task.cancelled():  # the turn was stopped (shutdown): no answer to serve
                return None
            raise


class PendingTurns:
    def __init__(self) -> None:
        self._turns: dict[tuple[str, int], PendingTurn] = {}

    def start(self, call_sid: str, step: int, run: Callable[[PendingTurn], Coroutine[Any, Any, str]]) -> PendingTurn:
        """Run `run(pending)` (returns the step's TwiML) as the one turn of this step."""
        key = (call_sid, step)
        pending = PendingTurn()
        pending.task = asyncio.get_running_loop().create_task(run(pending))
        self._turns[key] = pending

        def forget() -> None:
            if self._turns.get(key) is pending:
                del self._turns[key]

        def finished(_: asyncio.Task[str]) -> None:
            # Keep only the language: the call state (prompts, a pending description) leaves memory now.
            pending.call = {"lang": pending.lang}
            asyncio.get_running_loop().call_later(KEEP_SECONDS, forget)

        pending.task.add_done_callback(finished)
        return pending

    def get(self, call_sid: str, step: int) -> PendingTurn | None:
        return self._turns.get((call_sid, step))

    async def drain(self) -> None:
        """Wait for every turn in flight (tests, shutdown)."""
        tasks = [p.task for p in self._turns.values() if not p.task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
