"""Hostile input on every console API route: never a server error.

A seeded hypothesis run sends bodies (any JSON, deep nesting, bytes, the route's own fields with
odd values), query strings and path ids to each route: signed in with the CSRF token, signed in
without it, and signed out. Every answer must be below 500. The console runs with the real case
store and the recorder (tests/channels/test_agent_console.py:start_console) in a thread of its own,
with its own tables on SQLite and on PostgreSQL.

Budget: CONSOLE_FUZZ_EXAMPLES examples per database (default 100, about 12 s); set it higher for a
longer run, e.g. `CONSOLE_FUZZ_EXAMPLES=5000 pytest tests/channels/test_agent_console_fuzz.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.channels.test_agent_console import API, PASSWORD, complaint, queue, start_console

EXAMPLES = int(os.environ.get("CONSOLE_FUZZ_EXAMPLES", "100"))

ROUTES: list[tuple[str, str, list[str]]] = [  # method, path ({hid} = a queued handoff), the body's own keys
    ("POST", "/login", ["username", "password"]),
    ("POST", "/logout", []),
    ("GET", "/session", []),
    ("GET", "/form_token", []),
    ("GET", "/catalogue/sectors", []),
    ("GET", "/catalogue/entities", []),
    ("POST", "/requests", [*complaint(), "form_token", "contact_ok"]),
    ("POST", "/lookup", ["reference", "phone_tail", "pin"]),
    ("GET", "/handoffs", []),
    ("GET", "/handoffs/{hid}", []),
    ("POST", "/handoffs/{hid}/take", []),
    ("POST", "/handoffs/{hid}/reply", ["text"]),
    ("POST", "/handoffs/{hid}/resume", []),
    ("POST", "/../internal/handoff", ["sender_id", "channel", "language", "transcript"]),  # bearer, not a session
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40),
    st.sampled_from(["²", "١٢٣٤", "\x00", "0" * 300, "1e999", "-1", "/affirm", "‮"]),
)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


PLAUSIBLE: dict[str, dict[str, Any]] = {  # near-valid bodies, so the fuzz also reaches the case store
    "/requests": {**complaint(), "form_token": "FRESH", "contact_ok": False},
    "/lookup": {"reference": "4829103756", "phone_tail": "4567", "pin": "123456"},
    "/handoffs/{hid}/reply": {"text": "hello"},
    "/../internal/handoff": {"sender_id": "messenger_x", "channel": "messenger", "language": "ar", "transcript": []},
}


@st.composite
def bodies(draw: st.DrawFn, path: str, keys: list[str]) -> bytes:
    kind = draw(st.sampled_from(["plausible", "plausible", "fields", "json", "deep", "bytes", "empty"]))
    if kind == "plausible" and path in PLAUSIBLE:
        body = dict(PLAUSIBLE[path])
        for k in draw(st.lists(st.sampled_from(sorted(body)), max_size=2, unique=True)):
            body[k] = draw(json_values)
        return json.dumps(body).encode()
    if kind in ("fields", "plausible"):
        chosen = draw(st.lists(st.sampled_from(keys or ["x"]), max_size=len(keys) + 1, unique=True))
        return json.dumps({k: draw(json_values) for k in chosen}).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        n = draw(st.integers(30, 6000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        return (opener * n + "1" + ("]" if opener == "[" else "}") * n).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    return b""


queries = st.dictionaries(
    st.sampled_from(["limit", "sector", "q", "lang", "x"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["²", "٣", "25", "26", "0", "health", "9" * 30])),
    max_size=3,
)


class Running:
    """The console on its own event loop in a thread, so hypothesis can drive it synchronously."""

    def __init__(self, tmp_path: Path, database_url: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.console, self._stop = self.call(start_console(tmp_path, database_url=database_url))
        self.hid = self.call(queue(self.console, "messenger_" + uuid.uuid4().hex))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(params=["sqlite", "postgresql"])
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    # The console's own tables on both databases: PostgreSQL refuses what SQLite takes (NUL in text).
    r = Running(tmp_path, None if request.param == "sqlite" else request.getfixturevalue("postgres_url"))
    yield r
    r.close()


def _signed_in(base: str, username: str) -> tuple[requests.Session, str]:
    s = requests.Session()
    r = s.post(f"{base}{API}/login", json={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return s, r.json()["csrf_token"]


def test_no_console_route_answers_a_server_error(running: Running) -> None:
    base = running.console.url
    amal, csrf = _signed_in(base, "amal")
    anonymous = requests.Session()
    seen: dict[int, int] = {}

    @seed(20261129)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(
        route=st.sampled_from(ROUTES), who=st.sampled_from(["agent", "agent_no_csrf", "signed_out"]),
        data=st.data(), query=queries,
        hid=st.one_of(st.just("known"), st.text(min_size=1, max_size=40).filter(lambda t: "/" not in t and t not in (".", ".."))),
        content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None]),
    )
    def attempt(route: tuple[str, str, list[str]], who: str, data: st.DataObject, query: dict[str, str],
                hid: str, content_type: str | None) -> None:
        method, path, keys = route
        template = path
        if "{hid}" in path:
            path = path.replace("{hid}", running.hid if hid == "known" else requests.utils.quote(hid, safe=""))
        if path == "/login" and who != "signed_out":
            who = "signed_out"  # a failed login must not end the shared agent session's usefulness
        session = anonymous if who == "signed_out" else amal
        headers = {"Content-Type": content_type} if content_type else {}
        if who == "agent":
            headers["X-CSRF-Token"] = csrf
            if "internal" in path:
                headers["Authorization"] = f"Bearer {running.console.internal_token}"
        body = data.draw(bodies(template, keys)) if method == "POST" else None
        if body and b'"FRESH"' in body:  # a real token of this agent's: the request can reach the store
            body = body.replace(b'"FRESH"', json.dumps(amal.get(f"{base}{API}/form_token", timeout=10).json()["form_token"]).encode())
        if path == "/logout" and who == "agent":
            return  # would end the session the rest of the run uses
        url = f"{base}/webhooks/agent_console/internal/handoff" if "internal" in path else f"{base}{API}{path}"
        r = session.request(method, url, params=query, data=body, headers=headers, timeout=30)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1
        assert r.status_code < 500, (method, path, who, r.status_code, r.text[:200])

    attempt()
    print(f"console fuzz: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    assert not any(code >= 500 for code in seen)
