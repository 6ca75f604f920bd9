"""The production path: PostgreSQL for the tracker and case stores, Redis for the lock store, and
two Rasa processes behind an imaginary load balancer that does no stickiness.

On CI (CI set) a missing PostgreSQL or Redis fails the run instead of skipping it.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from bot import refcode
from tests.e2e.harness import RunningSystem, rest_sender_id, start_system

PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def _unavailable(what: str, err: Exception) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required on CI but unreachable: {err}")
    pytest.skip(f"{what} unreachable: {err}")


@pytest.fixture(scope="module")
def scaled() -> Iterator[tuple[RunningSystem, Any, str]]:
    import psycopg2
    import redis

    try:
        admin = psycopg2.connect(PG_ADMIN)
        admin.autocommit = True
    except Exception as err:
        _unavailable("PostgreSQL", err)
    try:
        r = redis.Redis.from_url(REDIS_URL)
        r.ping()
    except Exception as err:
        _unavailable("Redis", err)
    suffix = uuid.uuid4().hex[:8]
    dbs = {"tracker": f"bekh_tracker_{suffix}", "cases": f"bekh_cases_{suffix}"}
    with admin.cursor() as cur:
        for name in dbs.values():
            cur.execute(f"CREATE DATABASE {name}")
    base = PG_ADMIN.rsplit("/", 1)[0]
    running = start_system(
        {
            "TRACKER_STORE_URL": f"{base}/{dbs['tracker']}",
            "CASE_STORE_DATABASE_URL": f"{base}/{dbs['cases']}",
            "LOCK_STORE_URL": REDIS_URL,
            "LOCK_STORE_PREFIX": f"bekh{suffix}",
        },
        rasa_processes=2,
    )
    try:
        yield running, r, f"{base}/{dbs['tracker']}"
    finally:
        running.stop()
        with admin.cursor() as cur:
            for name in dbs.values():
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def turn(url: str, token: str, sender: str, text: str, *, button: bool = False) -> list[dict[str, Any]]:
    body = {"sender": sender, ("payload" if button else "message"): text}
    req = urllib.request.Request(f"{url}/webhooks/rest/webhook", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def buttons(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [b for m in messages for b in (m.get("buttons") or [])]


def file_a_suggestion(urls: list[str], token: str, sender: str) -> list[dict[str, Any]]:
    """A whole suggestion, turn i sent to urls[i % len(urls)]; the replies to the last turn."""
    def send(i: int, text: str, button: bool = False) -> list[dict[str, Any]]:
        return turn(urls[i % len(urls)], token, sender, text, button=button)

    out = send(0, "I want to make a suggestion")
    sector = next(x["payload"] for x in buttons(out) if '"health"' in x["payload"])
    out = send(1, sector, button=True)
    out = send(2, "ministry of health")
    out = send(3, "Please open the health centres in the evening for people who work")
    skip = next(x["payload"] for x in buttons(out) if x["payload"] == "/deny")
    out = send(4, skip, button=True)
    return send(5, "/affirm", button=True)


def filed_once(running: RunningSystem, out: list[dict[str, Any]]) -> None:
    text = "\n".join(m.get("text") or "" for m in out)
    refs = [c for c in refcode.find_candidates(text) if refcode.is_valid_digits(c)]
    assert refs, text
    rows = [r for r in running.case_store_requests() if r["reference"] == refs[0]]
    assert len(rows) == 1 and rows[0]["type"] == "suggestion"


def test_a_conversation_hopping_between_two_rasa_processes_files_one_request(scaled: tuple[RunningSystem, Any, str]) -> None:
    """Each process keeps its own tracker cache (bot/tracker_store.py): every turn here is served
    by the other process than the one before, which must see it."""
    running, _, tracker_url = scaled
    sender = f"scale-{uuid.uuid4().hex[:8]}"
    filed_once(running, file_a_suggestion(running.system.rasa_urls, running.env["RASA_TOKEN"], sender))

    import psycopg2

    with psycopg2.connect(tracker_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM events WHERE sender_id = %s AND type_name = 'user'", (rest_sender_id(running, sender),))
        assert cur.fetchone()[0] == 6, "every turn, from either process, is in the one PostgreSQL tracker store"


def test_simultaneous_messages_for_one_person_on_both_processes_lose_nothing(scaled: tuple[RunningSystem, Any, str]) -> None:
    running, r, _ = scaled
    a, b = running.system.rasa_urls
    before = int(r.info("stats")["total_commands_processed"])
    senders = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        for s in senders:
            jobs.append(pool.submit(turn, a, running.env["RASA_TOKEN"], s, "مرحبا"))
            jobs.append(pool.submit(turn, b, running.env["RASA_TOKEN"], s, "بدي اعرف شو بتقدر تعمل"))
        for j in jobs:
            assert j.result(), "every message gets an answer"
    for s in senders:
        events = running.tracker(rest_sender_id(running, s))["events"]
        users = [e for e in events if e["event"] == "user"]
        assert len(users) == 2, f"{s}: {len(users)} user events; a lost update without the lock store"
        # Each user message is followed by the bot's answer before the next user message starts:
        # the Redis lock serialised the two processes' turns on the same conversation.
        kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
        first_user = kinds.index("user")
        second_user = kinds.index("user", first_user + 1)
        assert "bot" in kinds[first_user:second_user]
    assert int(r.info("stats")["total_commands_processed"]) > before + len(senders) * 2, "the lock store is Redis"


def test_a_conversation_through_haproxy_over_both_processes_files_one_request(scaled: tuple[RunningSystem, Any, str]) -> None:
    """`make run` with RASA_PROCESSES=2: HAProxy (bot/balancer.py) in front of the two processes.
    Each keeps its own tracker cache (bot/tracker_store.py); whichever serves a turn must see the
    turns the other served."""
    import shutil

    from bot.launcher import free_port

    if not (shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy")):
        _unavailable("HAProxy", FileNotFoundError("haproxy (make system-deps)"))
    running, _, _ = scaled
    port = free_port()
    proc = running.system.start_balancer(port)
    try:
        filed_once(running, file_a_suggestion([f"http://127.0.0.1:{port}"], running.env["RASA_TOKEN"], f"lb-{uuid.uuid4().hex[:8]}"))
    finally:
        proc.terminate()
        proc.wait(15)
        running.system.procs.remove(proc)
