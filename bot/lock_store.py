"""A Redis lock store whose tickets are issued atomically, for several Rasa processes.

Rasa 3.6's open-source RedisLockStore issues a ticket by reading the lock from Redis, adding a
ticket and writing it back. Two processes receiving messages for the same conversation at the
same moment can both read "no lock", both take ticket 0 and both go ahead; the SQL tracker store
then keeps only one of the two turns (RasaHQ/rasa#11256 fixed this in Rasa's commercial edition
only). Here the read-modify-write of issuing and of cleaning up runs under a short per-conversation
Redis mutex (SET NX PX, redis-py's Lock), so tickets are unique across processes and the ticket
lock does its job. Configured by bot.launcher when LOCK_STORE_URL is set.
"""

from __future__ import annotations

from typing import Any

from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

MUTEX_TIMEOUT_S = 10.0  # the mutex guards a few Redis round trips, never a whole turn


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    def _mutex(self, conversation_id: str) -> Any:
        return self.red.lock(f"{self.key_prefix}{conversation_id}:mutex", timeout=MUTEX_TIMEOUT_S,
                             blocking_timeout=MUTEX_TIMEOUT_S, sleep=0.005)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)
