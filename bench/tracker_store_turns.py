"""A turn's tracker-store cost (retrieve + save) early and late in a long session, in-process.

    .venv/bin/python bench/tracker_store_turns.py [--turns 300]
    TRACKER_CACHE_SIZE=0 .venv/bin/python bench/tracker_store_turns.py   # without the per-process cache

bot/tracker_store.py on a temporary SQLite file, five events a turn (the shape of a short REST
turn), as Rasa drives it: retrieve, append, save. Prints the medians of turns 3-12 and of the last
10. Never part of the pass/fail suite.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _turn_events() -> list:
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

    parse = {"text": "hello", "intent": {"name": "greet", "confidence": 0.9},
             "intent_ranking": [{"name": f"intent_{k}", "confidence": 0.01} for k in range(40)], "entities": []}
    return [UserUttered("hello", intent={"name": "greet", "confidence": 0.9}, parse_data=parse, input_channel="rest",
                        metadata={"channel": "rest"}),
            SlotSet("language", "en"), ActionExecuted("utter_greet"),
            BotUttered("Hello! How can I help you today?", metadata={"utter_action": "utter_greet"}),
            ActionExecuted("action_listen")]


async def run(turns: int) -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.tracker_store import ConfidentialSQLTrackerStore

    domain = Domain.load(str(ROOT / "domain.yml"))
    store = ConfidentialSQLTrackerStore(domain=domain, dialect="sqlite", db=str(Path(tempfile.mkdtemp()) / "tracker.db"))
    sender = "bench"
    tracker = DialogueStateTracker(sender, domain.slots)
    for e in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
        tracker.update(e)
    await store.save(tracker)
    times = []
    for _ in range(turns):
        t0 = time.perf_counter()
        found = await store.retrieve(sender)
        t1 = time.perf_counter()
        assert found is not None
        for e in _turn_events():
            found.update(e)
        t2 = time.perf_counter()
        await store.save(found)
        times.append((t1 - t0, time.perf_counter() - t2))
        tracker = found
    for label, part in (("turns 3-12", times[2:12]), (f"last 10 of {turns}", times[-10:])):
        print(f"{label}: retrieve {statistics.median(r for r, _ in part) * 1000:.1f} ms, "
              f"save {statistics.median(w for _, w in part) * 1000:.1f} ms")
    print(f"events in the session: {len(tracker.events)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args(argv)
    asyncio.run(run(args.turns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
