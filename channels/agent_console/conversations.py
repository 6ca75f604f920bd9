"""The conversations behind handoffs, in Rasa's tracker store: read them, and append events under
Rasa's lock (what POST /conversations/<id>/tracker/events does). `agent` is Rasa's Agent, found on
app.ctx.agent; only its tracker_store and lock_store are used."""

from __future__ import annotations

import datetime as dt
from typing import Any

Json = dict[str, Any]


def rasa_agent(app: Any) -> Any:
    agent = getattr(app.ctx, "agent", None)
    return agent if agent is not None and getattr(agent, "tracker_store", None) is not None else None


async def tracker(agent: Any, sender_id: str) -> Any:
    if agent is None:
        return None
    return await agent.tracker_store.retrieve(sender_id)


async def append(agent: Any, sender_id: str, events: list[Any]) -> None:
    if agent is None:
        return
    async with agent.lock_store.lock(sender_id):
        found = await agent.tracker_store.retrieve(sender_id)
        if found is None:
            return
        for e in events:
            found.update(e)
        await agent.tracker_store.save(found)


def _iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts or 0, dt.timezone.utc).isoformat()


def transcript_from_tracker(tracker: Any) -> list[Json]:
    """User and bot turns of a tracker (agent replies are bot turns with {"agent": name} metadata)."""
    from rasa.shared.core.events import BotUttered, UserUttered

    out: list[Json] = []
    for e in tracker.events:
        if isinstance(e, UserUttered) and e.text:
            out.append({"who": "user", "text": e.text, "at": _iso(e.timestamp)})
        elif isinstance(e, BotUttered) and e.text:
            agent = (e.metadata or {}).get("agent")
            out.append({"who": "agent" if agent else "bot", "text": e.text, "at": _iso(e.timestamp), **({"agent": agent} if agent else {})})
    return out[-200:]

