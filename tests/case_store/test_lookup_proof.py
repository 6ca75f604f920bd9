"""Lookups with proof: every proof obeys the failed-lookup limit (issue 10, item 3), and an
unknown reference costs the same work as an unproven one (item 9). SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from service_fixtures import Running, complaint, report
from sqlalchemy import event

from bot import refcode
from bot.privacy import FieldCipher
from case_store.secrets_ import Verifier

OWNER = "messenger_" + "a" * 32


async def create(http: aiohttp.ClientSession, body: dict[str, object], key: str) -> dict[str, Any]:
    async with http.post("/v1/requests", json=body, headers={"Idempotency-Key": key}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def lookup(http: aiohttp.ClientSession, ref: str, headers: dict[str, str]) -> int:
    async with http.get(f"/v1/requests/{ref}", headers=headers) as resp:
        await resp.read()
        return resp.status


# --- item 3: the requester id is a proof like the others ------------------------------------


async def test_a_guesser_past_the_reference_limit_does_not_lock_the_owner_out(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint(), "proof-key-0001"))["reference"]
    for i in range(5):
        assert await lookup(http, ref, {"X-Verify-Phone-Tail": f"000{i}"}) == 404
    assert await lookup(http, ref, {"X-Verify-Phone-Tail": "4567"}) == 429  # a guessable proof, even right
    assert await lookup(http, ref, {"X-Requester-Id": "messenger_" + "9" * 32}) == 429  # a stranger's id
    assert await lookup(http, ref, {"X-Requester-Id": OWNER}) == 200  # the owner's own id


async def test_requester_id_failures_block_that_identity(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint(), "proof-key-0002"))["reference"]
    for _ in range(5):  # the same claimed identity probing unknown references
        assert await lookup(http, refcode.generate(), {"X-Requester-Id": OWNER}) == 404
    assert await lookup(http, ref, {"X-Requester-Id": OWNER}) == 429


async def test_wrong_requester_ids_count_against_the_reference(http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint(), "proof-key-0003"))["reference"]
    for i in range(5):
        assert await lookup(http, ref, {"X-Requester-Id": f"messenger_{i:032d}"}) == 404
    assert await lookup(http, ref, {"X-Verify-Phone-Tail": "4567"}) == 429


async def test_requester_id_proof_works_within_the_limit(store: Running, http: aiohttp.ClientSession) -> None:
    ref = (await create(http, complaint(), "proof-key-0004"))["reference"]
    for i in range(4):
        assert await lookup(http, ref, {"X-Verify-Phone-Tail": f"000{i}"}) == 404
    assert await lookup(http, ref, {"X-Requester-Id": OWNER}) == 200
    store.clock.advance(minutes=16)
    for i in range(5):
        assert await lookup(http, ref, {"X-Verify-Phone-Tail": f"000{i}"}) == 404
    store.clock.advance(minutes=16)  # a new window: the owner is back in
    assert await lookup(http, ref, {"X-Requester-Id": OWNER}) == 200


# --- item 9: unknown and unproven cost the same --------------------------------------------


class Work:
    """Counts the SQL statements (shape only, values stripped) and the proof/decrypt calls."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        self.sql.clear()
        self.calls.clear()

    def snapshot(self) -> tuple[list[str], Counter[str]]:
        return list(self.sql), Counter(self.calls)


@pytest.fixture
def work(store: Running, monkeypatch: pytest.MonkeyPatch) -> Iterator[Work]:
    w = Work()
    engine = store.service.db.engine.sync_engine

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        w.sql.append(re.sub(r"\s+", " ", statement).strip())

    event.listen(engine, "before_cursor_execute", on_execute)
    for cls, name in ((Verifier, "digest"), (Verifier, "identity_key"), (FieldCipher, "decrypt")):
        real = getattr(cls, name)

        def spy(self: Any, *args: Any, _real: Any = real, _name: str = f"{cls.__name__}.{name}") -> Any:
            w.calls[_name] += 1
            return _real(self, *args)

        monkeypatch.setattr(cls, name, spy)
    try:
        yield w
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


PROOFS = [
    {"X-Verify-Phone-Tail": "0000"},
    {"X-Verify-Pin": "000000"},
    {"X-Requester-Id": "sms_" + "9" * 32},
    {"X-Requester-Id": "sms_" + "8" * 32, "X-Verify-Phone-Tail": "0000", "X-Verify-Pin": "000000", "X-Actor": "agent:1"},
    {},
]


@pytest.mark.parametrize("proof", PROOFS, ids=["tail", "pin", "requester", "all", "none"])
async def test_unknown_and_unproven_run_the_same_queries_and_hashing(
    http: aiohttp.ClientSession, work: Work, proof: dict[str, str]
) -> None:
    existing = [
        (await create(http, complaint(), "proof-key-0101"))["reference"],
        (await create(http, report(), "proof-key-0102"))["reference"],  # anonymous: no phone hash
    ]
    for n, ref in enumerate(existing):
        # A fresh identity per lookup so both start from the same counter state.
        headers = {k: (v + str(n) if k == "X-Requester-Id" else v) for k, v in proof.items()}
        work.reset()
        assert await lookup(http, refcode.generate(), headers) == 404
        unknown = work.snapshot()
        headers = {k: (v + f"b{n}" if k == "X-Requester-Id" else v) for k, v in proof.items()}
        work.reset()
        assert await lookup(http, ref, headers) == 404
        unproven = work.snapshot()
        assert unproven == unknown
        assert unknown[1]["Verifier.digest"] == 2  # the phone tail and the PIN, always both
