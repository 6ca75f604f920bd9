"""The handoff queue's storage (console_handoffs): queue, take, reply-guard, resume, expire.

A mixin for channels/agents.AgentStore, which gives it `engine` and `clock` (from
channels/accounts.AccountStore). Take, resume and expire are compare-and-set updates on the row,
so one agent holds a conversation at a time however many processes share the database.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from channels.agent_tables import OPEN_STATES, Clock, handoffs
from channels.agent_tables import aware as _aware


class HandoffConflict(Exception):
    """The conversation is held by another agent (or no longer in the queue)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class HandoffQueue:
    engine: Engine
    clock: Clock

    def enqueue_handoff(self, sender_id: str, channel: str, language: str, transcript: list[dict[str, Any]]) -> str:
        """Queue a conversation; a repeat request from a conversation already queued refreshes it."""
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(
                select(handoffs.c.id).where(handoffs.c.sender_id == sender_id, handoffs.c.state.in_(OPEN_STATES))
            ).first()
            if row:
                conn.execute(
                    update(handoffs)
                    .where(handoffs.c.id == row.id)
                    .values(transcript=json.dumps(transcript, ensure_ascii=False), language=language, updated_at=now)
                )
                return str(row.id)
            hid = str(uuid.uuid4())
            conn.execute(
                handoffs.insert().values(
                    id=hid, sender_id=sender_id, channel=channel, language=language,
                    transcript=json.dumps(transcript, ensure_ascii=False), state="waiting", agent_id=None,
                    created_at=now, updated_at=now,
                )
            )
            return hid

    @staticmethod
    def _handoff(row: Any) -> dict[str, Any]:
        data = dict(row._mapping)
        data["transcript"] = json.loads(data["transcript"])
        data["created_at"] = _aware(data["created_at"])
        data["updated_at"] = _aware(data["updated_at"])
        return data

    def open_handoffs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(handoffs).where(handoffs.c.state.in_(OPEN_STATES)).order_by(handoffs.c.created_at)
            ).all()
        return [self._handoff(r) for r in rows]

    def get_handoff(self, hid: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(handoffs).where(handoffs.c.id == hid)).first()
        return self._handoff(row) if row else None

    def take_handoff(self, hid: str, agent_id: int) -> dict[str, Any]:
        """Claim a waiting conversation. One agent at a time: a compare-and-set on the row."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(handoffs)
                .where(
                    handoffs.c.id == hid,
                    (handoffs.c.state == "waiting") | ((handoffs.c.state == "taken") & (handoffs.c.agent_id == agent_id)),
                )
                .values(state="taken", agent_id=agent_id, updated_at=self.clock())
            ).rowcount
        if not n:
            current = self.get_handoff(hid)
            if current is None:
                raise HandoffConflict("not_found")
            raise HandoffConflict("held_by_other" if current["state"] == "taken" else "closed")
        return self.get_handoff(hid)  # type: ignore[return-value]

    def require_holder(self, hid: str, agent_id: int) -> dict[str, Any]:
        current = self.get_handoff(hid)
        if current is None:
            raise HandoffConflict("not_found")
        if current["state"] != "taken":
            raise HandoffConflict("not_taken" if current["state"] == "waiting" else "closed")
        if current["agent_id"] != agent_id:
            raise HandoffConflict("held_by_other")
        return current

    def waiting_handoffs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(handoffs).where(handoffs.c.state == "waiting").order_by(handoffs.c.created_at)).all()
        return [self._handoff(r) for r in rows]

    def expire_handoff(self, hid: str) -> bool:
        """Take a waiting handoff out of the queue as expired. A compare-and-set on the row: True for
        exactly one caller, however many processes sweep at once; False if it was taken meanwhile."""
        with self.engine.begin() as conn:
            n = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == hid, handoffs.c.state == "waiting")
                .values(state="expired", updated_at=self.clock())
            ).rowcount
        return n == 1

    def handoff_overview(self, since: dt.timedelta = dt.timedelta(days=1)) -> list[dict[str, Any]]:
        """For operators: every handoff still in the queue, and those closed within `since`. Id,
        channel, language, state, holder and times only: no sender id, transcript or address."""
        cols = (handoffs.c.id, handoffs.c.channel, handoffs.c.language, handoffs.c.state, handoffs.c.agent_id,
                handoffs.c.created_at, handoffs.c.updated_at)
        stmt = select(*cols).where(
            handoffs.c.state.in_(OPEN_STATES) | (handoffs.c.updated_at >= self.clock() - since)
        ).order_by(handoffs.c.created_at)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            {**r._mapping, "created_at": _aware(r.created_at), "updated_at": _aware(r.updated_at)} for r in rows
        ]

    def resume_handoff(self, hid: str, agent_id: int) -> dict[str, Any]:
        with self.engine.begin() as conn:
            n = conn.execute(
                update(handoffs)
                .where(handoffs.c.id == hid, handoffs.c.state == "taken", handoffs.c.agent_id == agent_id)
                .values(state="resumed", updated_at=self.clock())
            ).rowcount
        if not n:
            self.require_holder(hid, agent_id)  # raises the precise reason
            raise HandoffConflict("closed")
        return self.get_handoff(hid)  # type: ignore[return-value]
