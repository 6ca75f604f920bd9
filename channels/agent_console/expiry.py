"""Handoffs that wait too long leave the queue.

A waiting handoff may wait `ConsoleConfig.handoff_wait` (HANDOFF_WAIT_MINUTES, default 30) counted
from when agents are next on duty: from the moment it was queued during business hours, or from
the next opening when it was queued after hours (that person was already told the hours and the
assistant was not paused). Past that, it expires: the row moves from "waiting" to "expired" in one
compare-and-set UPDATE, so when several Rasa processes sweep the same database exactly one of them
wins and tells the person. The winner then hands the conversation back to the assistant
(ConversationResumed, as an agent's hand-back does) and tells the person, in their language and
on their own channel, that no agent could take it and what they can do instead. On Messenger that
notice is automatic, so it is sent only inside Meta's 24-hour window (HUMAN_AGENT is for people).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from channels.agent_console.hours import next_opening
from channels.agent_console.page import t

if TYPE_CHECKING:
    from channels.agent_console.channel import AgentConsoleInput

logger = logging.getLogger(__name__)

NOTICE = (
    "No agent could take your conversation this time, sorry. The Bekhedmetkom assistant can carry on "
    "with you here, or you can call the contact center on 06 5008080."
)


def deadline(created_at: dt.datetime, wait: dt.timedelta) -> dt.datetime:
    """When a handoff queued at `created_at` expires if nobody takes it."""
    try:
        start = next_opening(created_at)
    except ValueError:  # no opening hours configured in the next three weeks: count from now
        start = created_at
    return max(start, created_at) + wait


async def expire_due(console: AgentConsoleInput, agent: Any) -> list[str]:
    """Expire every waiting handoff past its deadline; returns the ids this process expired.

    `agent` is Rasa's Agent (tracker and lock stores). Without it (the model is still loading) the
    sweep waits for the next round: expiring a handoff we cannot tell the person about helps nobody.
    """
    if agent is None:
        return []
    store, now = console.store, console.clock()
    expired: list[str] = []
    for h in await store.run(store.waiting_handoffs):
        if now < deadline(h["created_at"], console.config.handoff_wait):
            continue
        if not await store.run(store.expire_handoff, h["id"]):
            continue  # taken meanwhile, or another process expired it first
        # No agent is behind this notice: on Messenger it goes out only inside the 24-hour window.
        delivered = await console.hand_back(agent, h, t(h["language"], NOTICE), by_agent=False)
        waited = int((now - h["created_at"]).total_seconds() // 60)
        await store.run(
            store.record, None, "handoff_expired", h["id"], {"notice_delivered": delivered, "waited_minutes": waited}
        )
        expired.append(h["id"])
    return expired


async def sweep_forever(console: AgentConsoleInput, app: Any, every: float) -> None:
    """The timer inside the Rasa process: one sweep every `every` seconds until cancelled."""
    from channels.agent_console.conversations import rasa_agent

    while True:
        await asyncio.sleep(every)
        try:
            await expire_due(console, rasa_agent(app))
        except Exception as e:  # one failed round (database down) must not stop the timer
            logger.warning("handoff expiry sweep failed (%s); trying again in %ss", type(e).__name__, every)
