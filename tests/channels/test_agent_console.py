"""The agent console's HTTP API, against a real Sanic server built with rasa's configure_app.

The case store is the real one (case_store.create_app on a loopback port, a migrated SQLite file,
the test catalogue); only Twilio's REST API and Meta's Graph API are played by
tests/support/recorder.py, which records every call. The Rasa agent is replaced by its two stores
(InMemoryTrackerStore, InMemoryLockStore) on app.ctx.agent, which is all the console uses. Time is
an injected clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import re
import types
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sanic import Sanic

from bot import refcode
from bot.launcher import free_port
from bot.privacy import phone_identity, seal_address
from channels.agent_console import (
    AgentConsoleInput,
    BadInput,
    load_config,
    next_opening_text,
    parse_new_request,
    render_page,
)
from channels.agents import AgentStore
from channels.login_throttle import PAIR_LIMIT
from tests.support.case_store import CATALOGUE, REAL_CATALOGUE, Clock, RunningCaseStore, migrated_sqlite, start_case_store
from tests.support.recorder import Recorder

Sanic.test_mode = True  # several apps with the same name in one process

PASSWORD = "correct horse battery"


class ConsoleClock(Clock):
    """The case store's test clock, started now (session timestamps must look current)."""

    def __init__(self) -> None:
        super().__init__(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


@dataclass
class Backend:
    """What the console talks to: the real case store and the recorder of Twilio and Graph calls."""

    store: RunningCaseStore
    cloud: Recorder

    def sms(self) -> list[dict[str, str]]:
        return [r["form"] for r in self.cloud.snapshot() if r["path"].endswith("/Messages.json")]

    def messenger(self) -> list[dict[str, Any]]:
        return [r for r in self.cloud.snapshot() if r["path"].endswith("/me/messages")]

    @property
    def cases(self) -> dict[str, dict[str, Any]]:
        return {r["reference"]: dict(r) for r in self.store.requests()}


@dataclass
class Console:
    url: str
    store: AgentStore
    backend: Backend
    clock: Clock
    agent: Any  # stands in for rasa's Agent: tracker_store + lock_store
    internal_token: str
    amal_id: int
    basel_id: int
    channel: Any = None  # the AgentConsoleInput serving it

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(base_url=self.url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def start_console(
    tmp_path: Path, clock: Clock | None = None, agent: Any = None, database_url: str | None = None,
    catalogue: Path = CATALOGUE, **creds: Any,
) -> tuple[Console, Any]:
    """A running console + the real case store + the recorder; returns (console, stop coroutine
    function). Used by the browser test and the fuzz test too. `database_url`: the console's own
    database (default a fresh SQLite file; a shared PostgreSQL one is reused as it is)."""
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.run import configure_app
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain

    clock = clock or ConsoleClock()
    cases = await start_case_store(migrated_sqlite(tmp_path), clock, catalogue)
    cloud = Recorder().start()
    store = AgentStore(database_url or f"sqlite:///{tmp_path / 'console.db'}", clock=clock)
    store.throttle.sweep(clock() + dt.timedelta(days=365))  # no counters left by earlier tests
    amal = store.get_agent("amal") or store.create_agent("amal", "Amal Haddad", PASSWORD)
    basel = store.get_agent("basel") or store.create_agent("basel", "Basel Odeh", PASSWORD)
    internal = "internal-" + uuid.uuid4().hex
    config = load_config({
        "internal_token": internal, "case_store_url": cases.url, "case_store_token": cases.token,
        "public_base_url": "http://127.0.0.1", "page_access_token": "page-token", "app_secret": "app-secret",
        "graph_url": cloud.url,
        "account_sid": "AC" + "0" * 32, "auth_token": "twilio-token", "twilio_from": "+96265008080",
        "twilio_api_base_url": cloud.url, "handoff_sweep_seconds": "0", **creds,  # tests sweep by hand
    })
    channel = AgentConsoleInput(config, store=store, clock=clock)
    port = free_port()
    app = configure_app([channel], enable_api=False, port=port, use_uvloop=False)
    rasa_agent = agent or types.SimpleNamespace(
        tracker_store=InMemoryTrackerStore(Domain.empty()), lock_store=InMemoryLockStore()
    )
    app.ctx.agent = rasa_agent
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()

    async def stop() -> None:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        await cases.stop()
        cloud.stop()
        store.engine.dispose()

    backend = Backend(cases, cloud)
    console = Console(f"http://127.0.0.1:{port}", store, backend, clock, rasa_agent, internal, amal.id, basel.id, channel)
    return console, stop


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    c, stop = await start_console(tmp_path)
    yield c
    await stop()


API = "/webhooks/agent_console/api"


async def login(client: aiohttp.ClientSession, username: str = "amal", password: str = PASSWORD) -> str:
    async with client.post(f"{API}/login", json={"username": username, "password": password}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["csrf_token"]


async def form_token(client: aiohttp.ClientSession) -> str:
    async with client.get(f"{API}/form_token") as r:
        assert r.status == 200, await r.text()
        return (await r.json())["form_token"]


async def file_request(client: aiohttp.ClientSession, csrf: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Submit the new-call form as the page does: with a fresh server-issued form token."""
    body = {"form_token": await form_token(client), **body}
    async with client.post(f"{API}/requests", json=body, headers={"X-CSRF-Token": csrf}) as r:
        return r.status, await r.json()


def complaint(**over: Any) -> dict[str, Any]:
    body = {
        "caller_phone": "079 123 4567", "caller_language": "ar",
        "type": "complaint", "sector": "health", "entity": "moh", "pillar": "delivery_time", "importance": "urgent",
        "description": "تأخر موعد العملية في المستشفى ثلاثة أشهر",
    }
    body.update(over)
    return body


async def seed_conversation(console: Console, sender_id: str, channel: str, address: str, *, age: dt.timedelta = dt.timedelta(minutes=2)) -> None:
    """A Messenger/SMS conversation as the channel connectors leave it in the tracker store, paused by action_handoff."""
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        ConversationPaused,
        UserUttered,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    ts = (console.clock() - age).timestamp()
    meta = {"channel": channel, "reply_address": seal_address(address)}
    tracker = DialogueStateTracker(sender_id, [])
    for e in [
        UserUttered("مرحبا", metadata=meta, timestamp=ts - 60),
        BotUttered("أهلاً بك في بخدمتكم", timestamp=ts - 59),
        UserUttered("بدي احكي مع موظف", metadata=meta, timestamp=ts),
        ActionExecuted("action_handoff", timestamp=ts + 1),
        ConversationPaused(timestamp=ts + 1),
    ]:
        tracker.update(e)
    await console.agent.tracker_store.save(tracker)


async def queue(console: Console, sender_id: str, channel: str = "messenger", language: str = "ar") -> str:
    async with aiohttp.ClientSession() as s:
        async with s.post(
            f"{console.url}/webhooks/agent_console/internal/handoff",
            headers={"Authorization": f"Bearer {console.internal_token}"},
            json={"sender_id": sender_id, "channel": channel, "language": language,
                  "transcript": [{"who": "user", "text": "بدي احكي مع موظف", "at": "2026-11-22T09:00:00Z"}]},
        ) as r:
            assert r.status == 201, await r.text()
            return (await r.json())["handoff_id"]


# --- page ------------------------------------------------------------------------------------------

async def test_page_is_arabic_rtl_by_default_and_english_on_request(console: Console) -> None:
    async with console.client() as c:
        async with c.get("/webhooks/agent_console/") as r:
            html = await r.text()
            assert r.status == 200
            assert '<html lang="ar" dir="rtl">' in html and "تسجيل الدخول" in html
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        async with c.get("/webhooks/agent_console/?lang=en") as r:
            html = await r.text()
            assert '<html lang="en" dir="ltr">' in html and ">Sign in<" in html
        async with c.get("/webhooks/agent_console/") as r:  # the choice is remembered
            assert '<html lang="en" dir="ltr">' in await r.text()
        async with c.get("/webhooks/agent_console/static/console.js") as r:
            assert r.status == 200 and "X-CSRF-Token" in await r.text()


def test_every_page_and_script_string_is_in_both_catalogs() -> None:
    from bot.i18n import translations

    root = Path(__file__).resolve().parents[2] / "channels" / "agent_console_static"
    wanted = set(re.findall(r"\{\{t:(.+?)\}\}", (root / "index.html").read_text()))
    js = (root / "console.js").read_text()
    wanted |= set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"', js))
    # Messages kept in a table and translated where they are shown (FIELD_MESSAGES, RATE_MESSAGES...).
    for table in re.findall(r"const \w+_MESSAGES = \{(.*?)\};", js, re.DOTALL):
        wanted |= set(re.findall(r':\s*"((?:[^"\\]|\\.)*)"', table))
    for language in ("ar", "en"):
        catalog = translations("console", language)._catalog  # type: ignore[attr-defined]
        missing = sorted(m for m in wanted if m not in catalog)
        assert not missing, f"{language}: {missing}"
    page = render_page("ar", (root / "index.html").read_text())
    assert "{{" not in page


def test_next_opening_text_names_the_next_opening_in_the_callers_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "sun-thu 08:00-15:00")
    friday_night = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc)  # Friday 23:00 in Amman
    en = next_opening_text("en", friday_night)
    assert en.startswith("Our agents are available ") and en.endswith("The next opening is Sunday 08:00.")
    assert "أقرب موعد: الأحد 08:00" in next_opening_text("ar", friday_night)
    sunday_morning = dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.timezone.utc)  # 10:00 in Amman
    assert next_opening_text("en", sunday_morning) == "An agent will be with you shortly."


def test_next_opening_is_told_in_bekh_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACT_CENTER_HOURS", "sun-thu 08:00-15:00")
    monkeypatch.setenv("BEKH_TIMEZONE", "UTC")
    friday_night = dt.datetime(2026, 11, 20, 20, 0, tzinfo=dt.timezone.utc)
    assert next_opening_text("en", friday_night).endswith("The next opening is Sunday 08:00.")


# --- login and sessions -----------------------------------------------------------------------------

async def test_login_sets_a_strict_httponly_cookie_and_returns_the_csrf_token(console: Console) -> None:
    async with console.client() as c:
        async with c.post(f"{API}/login", json={"username": "amal", "password": PASSWORD}) as r:
            assert r.status == 200
            data = await r.json()
            cookie = r.headers["Set-Cookie"]
        assert data["agent"] == {"id": console.amal_id, "username": "amal", "display_name": "Amal Haddad"}
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        async with c.get(f"{API}/session") as r:
            assert (await r.json())["csrf_token"] == data["csrf_token"]


async def test_cookie_is_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    cfg = load_config({"internal_token": "x" * 20, "public_base_url": "https://bekhedmetkom.gov.jo",
                       "page_access_token": "p", "app_secret": "s", "account_sid": "AC1", "auth_token": "t"})
    assert cfg.secure_cookies


async def test_wrong_password_is_401(console: Console) -> None:
    async with console.client() as c:
        async with c.post(f"{API}/login", json={"username": "amal", "password": "wrong password!!"}) as r:
            assert r.status == 401 and await r.json() == {"error": "bad_credentials"}
        async with c.get(f"{API}/session") as r:
            assert r.status == 401


async def test_login_needs_json(console: Console) -> None:
    async with console.client() as c:
        async with c.post(f"{API}/login", data={"username": "amal", "password": PASSWORD}) as r:
            assert r.status == 400


async def test_disabled_account_is_refused(console: Console) -> None:
    await console.store.run(console.store.set_disabled, "basel", True)
    async with console.client() as c:
        async with c.post(f"{API}/login", json={"username": "basel", "password": PASSWORD}) as r:
            assert r.status == 403 and (await r.json())["error"] == "account_disabled"


async def test_disabling_an_account_ends_its_open_session(console: Console) -> None:
    async with console.client() as c:
        await login(c, "basel")
        await console.store.run(console.store.set_disabled, "basel", True)
        async with c.get(f"{API}/session") as r:
            assert r.status == 401


async def test_login_throttle_locks_the_guessers_address_not_the_agent(tmp_path: Path) -> None:
    # Behind one trusted proxy: the address is the one the proxy appended to X-Forwarded-For.
    console, stop = await start_console(tmp_path, trusted_proxies="1")
    try:
        stranger, desk = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "10.1.2.3"}
        async with console.client() as c:
            for _ in range(PAIR_LIMIT):
                async with c.post(f"{API}/login", json={"username": "amal", "password": "wrong password!!"}, headers=stranger) as r:
                    assert r.status == 401 and await r.json() == {"error": "bad_credentials"}
            async with c.post(f"{API}/login", json={"username": "amal", "password": PASSWORD}, headers=stranger) as r:
                assert r.status == 429
                body = await r.json()
                assert body["error"] == "rate_limited" and body["retry_after"] > 0
            async with c.post(f"{API}/login", json={"username": "amal", "password": PASSWORD}, headers=desk) as r:
                assert r.status == 200  # the agent at her desk is not locked out
            console.clock.advance(minutes=16)
            async with c.post(f"{API}/login", json={"username": "amal", "password": PASSWORD}, headers=stranger) as r:
                assert r.status == 200
        ips = {r["ip"] for r in console.store.audit_rows() if r["action"].startswith("login")}
        assert ips == {"203.0.113.9", "10.1.2.3"}
    finally:
        await stop()


async def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(console: Console) -> None:
    async with console.client() as c:
        for i in range(PAIR_LIMIT):  # a guesser cannot dodge the throttle by inventing addresses
            async with c.post(f"{API}/login", json={"username": "amal", "password": "wrong password!!"},
                              headers={"X-Forwarded-For": f"198.51.100.{i}"}) as r:
                assert r.status == 401
        async with c.post(f"{API}/login", json={"username": "amal", "password": PASSWORD},
                          headers={"X-Forwarded-For": "198.51.100.99"}) as r:
            assert r.status == 429
    assert {r["ip"] for r in console.store.audit_rows() if r["action"].startswith("login")} == {"127.0.0.1"}


def test_trusted_proxies_must_be_a_small_number() -> None:
    from bot.settings import ConfigError

    base = {"internal_token": "x" * 20, "page_access_token": "p", "app_secret": "s", "account_sid": "AC1", "auth_token": "t"}
    assert load_config(base).trusted_proxies == 0
    assert load_config({**base, "trusted_proxies": "2"}).trusted_proxies == 2
    with pytest.raises(ConfigError, match="AGENT_CONSOLE_TRUSTED_PROXIES"):
        load_config({**base, "trusted_proxies": "yes"})


async def test_parallel_wrong_logins_check_at_most_the_limit(console: Console) -> None:
    async def attempt() -> int:
        async with console.client() as c:
            async with c.post(f"{API}/login", json={"username": "amal", "password": "wrong password!!"}) as r:
                return r.status

    statuses = await asyncio.gather(*(attempt() for _ in range(3 * PAIR_LIMIT)))
    assert statuses.count(401) == PAIR_LIMIT and statuses.count(429) == 2 * PAIR_LIMIT


@pytest.mark.parametrize(
    "raw", ["[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, "[]", '"x"', "\udcff", "{"],
    ids=["deep_list", "deep_object", "list", "string", "not_utf8", "truncated"],
)
async def test_hostile_login_bodies_are_4xx(console: Console, raw: str) -> None:
    async with console.client() as c:
        async with c.post(f"{API}/login", data=raw.encode("utf-8", "surrogateescape"),
                          headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_request"


async def test_expired_session_is_401(console: Console) -> None:
    async with console.client() as c:
        await login(c)
        console.clock.advance(minutes=29)
        async with c.get(f"{API}/session") as r:
            assert r.status == 200
        console.clock.advance(minutes=31)
        async with c.get(f"{API}/session") as r:
            assert r.status == 401 and (await r.json())["error"] == "not_signed_in"


async def test_session_ends_after_twelve_hours_even_when_active(console: Console) -> None:
    async with console.client() as c:
        await login(c)
        for _ in range(40):
            console.clock.advance(minutes=20)
            async with c.get(f"{API}/session") as r:
                if r.status == 401:
                    break
        assert r.status == 401
        assert console.clock.now  # reached within 12 h of activity every 20 min


async def test_logout_needs_csrf_and_ends_the_session(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        async with c.post(f"{API}/logout", json={}) as r:
            assert r.status == 403
        async with c.post(f"{API}/logout", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        async with c.get(f"{API}/session") as r:
            assert r.status == 401


async def test_every_state_changing_endpoint_refuses_a_missing_or_foreign_csrf_token(console: Console) -> None:
    hid = await queue(console, "messenger_" + "a" * 32)
    async with console.client() as other:
        other_csrf = await login(other, "basel")
    async with console.client() as c:
        await login(c)
        token = await form_token(c)
        for path, body in [
            ("/requests", complaint(form_token=token)), ("/lookup", {"reference": "0000000000", "phone_tail": "4567"}),
            (f"/handoffs/{hid}/take", {}), (f"/handoffs/{hid}/reply", {"text": "hi"}),
            (f"/handoffs/{hid}/resume", {}), ("/logout", {}),
        ]:
            for headers in ({}, {"X-CSRF-Token": other_csrf}, {"X-CSRF-Token": ""}):
                async with c.post(f"{API}{path}", json=body, headers=headers) as r:
                    assert r.status == 403, path
                    assert (await r.json())["error"] == "csrf_token_missing_or_wrong"
    assert console.backend.cloud.snapshot() == [] and console.backend.store.requests() == []  # nothing reached anyone


async def test_endpoints_need_a_session(console: Console) -> None:
    async with console.client() as c:
        for method, path in [("GET", "/catalogue/sectors"), ("GET", "/catalogue/entities?q=x"), ("GET", "/handoffs"),
                             ("POST", "/requests"), ("POST", "/lookup"), ("GET", f"/handoffs/{uuid.uuid4()}"),
                             ("GET", "/form_token")]:
            async with c.request(method, f"{API}{path}", json={}) as r:
                assert r.status == 401, path


# --- new call --------------------------------------------------------------------------------------

async def test_catalogue_comes_from_the_case_store(console: Console) -> None:
    async with console.client() as c:
        await login(c)
        async with c.get(f"{API}/catalogue/sectors") as r:
            assert [s["id"] for s in (await r.json())["sectors"]] == ["health", "transport", "municipal"]
        async with c.get(f"{API}/catalogue/entities", params={"sector": "health", "q": "وزارة الصحة"}) as r:
            assert [e["id"] for e in (await r.json())["entities"]][0] == "moh"
        async with c.get(f"{API}/catalogue/entities", params={"sector": "transport"}) as r:
            assert {"mot", "ltrc"} <= {e["id"] for e in (await r.json())["entities"]}
        async with c.get(f"{API}/catalogue/entities", params={"sector": "no-such-sector"}) as r:
            assert r.status == 422 and (await r.json())["fields"] == {"sector": "unknown_sector"}


@pytest.mark.parametrize(
    "limit", ["²", "١٠", "0", "26", "-1", "1e3", "ten", "9" * 40],
    ids=["superscript", "arabic_indic", "zero", "too_many", "negative", "exponent", "word", "huge"],
)
async def test_catalogue_limit_must_be_ascii_digits_within_range(console: Console, limit: str) -> None:
    async with console.client() as c:
        await login(c)
        async with c.get(f"{API}/catalogue/entities", params={"q": "health", "limit": limit}) as r:
            assert r.status == 422 and (await r.json()) == {"error": "invalid", "fields": {"limit": "invalid"}}


async def test_new_call_files_a_complaint_once_and_texts_the_reference(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        body = complaint(form_token=await form_token(c))
        async with c.post(f"{API}/requests", json=body, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 201, await r.text()
            out = await r.json()
        async with c.post(f"{API}/requests", json=body, headers={"X-CSRF-Token": csrf}) as r:  # double submit
            assert r.status == 200
            again = await r.json()
    assert again["reference"] == out["reference"] and again["sms"] == "skipped_replay"
    assert out["sms"] == "sent" and out["reference_display"] == refcode.format_grouped(out["reference"])
    [row] = console.backend.store.requests()  # filed once
    assert row["reference"] == out["reference"] and row["idempotency_key"].startswith("console-")
    assert (row["type"], row["sector"], row["entity"], row["pillar"], row["importance"], row["language"], row["channel"]) == (
        "complaint", "health", "moh", "delivery_time", "urgent", "ar", "contact_center")
    assert row["entered_by"] == f"agent:{console.amal_id}" and row["requester_id"] == phone_identity("+962791234567")
    assert row["contact_phone_enc"] and "962791234567" not in row["contact_phone_enc"]
    sms = console.backend.sms()
    assert len(sms) == 1
    assert sms[0]["To"] == "+962791234567" and sms[0]["From"] == "+96265008080"
    assert sms[0]["Body"] == f"بخدمتكم: تم تسجيل طلبك. الرقم المرجعي: {out['reference_display']}"
    assert len(sms[0]["Body"]) <= 70  # one UCS-2 segment
    audit = [r for r in console.store.audit_rows(console.amal_id) if r["action"] == "request_created"]
    assert len(audit) == 2 and audit[0]["target"] == out["reference"]


async def test_a_client_chosen_idempotency_key_is_ignored(console: Console) -> None:
    chosen = "console-" + "0" * 32
    async with console.client() as c:
        csrf = await login(c)
        async with c.post(f"{API}/requests", json=complaint(idempotency_key=chosen), headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 422 and (await r.json())["error"] == "form_expired"  # no server token: nothing filed
        assert console.backend.store.requests() == []
        for _ in range(2):  # two forms with the same chosen key are two requests, each under our own key
            status, _out = await file_request(c, csrf, complaint(idempotency_key=chosen))
            assert status == 201
    keys = [r["idempotency_key"] for r in console.backend.store.requests()]
    assert len(set(keys)) == 2 and chosen not in keys


async def test_a_form_token_is_the_agents_own(console: Console) -> None:
    async with console.client() as amal, console.client() as basel:
        await login(amal)
        b = await login(basel, "basel")
        token = await form_token(amal)
        async with basel.post(f"{API}/requests", json=complaint(form_token=token), headers={"X-CSRF-Token": b}) as r:
            assert r.status == 422 and (await r.json())["error"] == "form_expired"
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        async with amal.post(f"{API}/requests", json=complaint(form_token=forged),
                             headers={"X-CSRF-Token": await login(amal)}) as r:
            assert r.status == 422
    assert console.backend.store.requests() == []


async def test_a_retry_after_signing_in_again_files_once(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        body = complaint(form_token=await form_token(c))
        async with c.post(f"{API}/requests", json=body, headers={"X-CSRF-Token": csrf}) as r:
            first = await r.json()
        csrf = await login(c)  # a new session, the same open form
        async with c.post(f"{API}/requests", json=body, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200 and (await r.json())["reference"] == first["reference"]
    assert len(console.backend.store.requests()) == 1


def test_form_tokens_are_per_agent_and_last_one_shift() -> None:
    from channels.agent_console import FormTokens
    from channels.agents import ABSOLUTE_TIMEOUT

    clock = ConsoleClock()
    forms = FormTokens("server-secret-" + uuid.uuid4().hex, clock)
    token = forms.issue(7)
    key = forms.idempotency_key(7, token)
    assert key is not None and key.startswith("console-") and 8 <= len(key) <= 128
    assert forms.idempotency_key(7, token) == key  # a resubmission replays
    assert forms.idempotency_key(7, forms.issue(7)) != key  # a new form is a new request
    assert forms.idempotency_key(8, token) is None  # another agent's token
    assert FormTokens("another-server-secret", clock).idempotency_key(7, token) is None
    for bad in (None, 42, "", "x.y.z", token + "0", "9" * 200):
        assert forms.idempotency_key(7, bad) is None
    clock.advance(seconds=ABSOLUTE_TIMEOUT.total_seconds() + 1)
    assert forms.idempotency_key(7, token) is None  # older than a shift


async def test_new_call_in_english_texts_in_english(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        status, out = await file_request(
            c, csrf, complaint(caller_language="en", type="inquiry", pillar="", description="When does the licence office open?")
        )
        assert status == 201
    assert console.backend.sms()[0]["Body"] == f"Bekhedmetkom: your request is registered. Reference: {out['reference_display']}"
    [row] = console.backend.store.requests()
    assert row["pillar"] is None and row["type"] == "inquiry"


async def test_anonymous_report_gets_a_pin_and_no_sms(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        status, out = await file_request(c, csrf, complaint(type="report", pillar="", description="موظف يطلب مبلغاً مقابل إنجاز المعاملة"))
    assert status == 201 and re.fullmatch(r"[0-9]{6}", out["pin"]) and out["sms"] == "skipped_anonymous"
    assert console.backend.sms() == []
    [row] = console.backend.store.requests()
    assert row["anonymous"] and row["contact_phone_enc"] is None
    assert row["requester_id"] != phone_identity("+962791234567")  # unlinkable to the phone


async def test_a_human_rights_grievance_goes_to_the_national_centre_as_an_anonymous_report(tmp_path: Path) -> None:
    """The console's human-rights entry sends its intent as `track` and no body: the server presets it."""
    grievance = complaint(type="report", track="report_human_rights", sector="", entity="", pillar="",
                          description="احتجز ابني في المركز الأمني ثلاثة أيام دون أن يسمح له بمحام")
    console, stop = await start_console(tmp_path, catalogue=REAL_CATALOGUE)
    try:
        async with console.client() as c:
            csrf = await login(c)
            status, out = await file_request(c, csrf, grievance)
            # Looked up, it is named as a grievance (its track), not as a report of a violation.
            async with c.post(f"{API}/lookup", json={"reference": out["reference"], "pin": out["pin"]},
                              headers={"X-CSRF-Token": csrf}) as r:
                found = (await r.json())["request"]
            _, violation = await file_request(c, csrf, complaint(type="report", pillar="", entity="moh", sector="health",
                                                                 description="موظف يطلب مبلغاً مقابل إنجاز المعاملة"))
            async with c.post(f"{API}/lookup", json={"reference": violation["reference"], "pin": violation["pin"]},
                              headers={"X-CSRF-Token": csrf}) as r:
                other = (await r.json())["request"]
        row = next(r for r in console.backend.store.requests() if r["reference"] == out["reference"])
    finally:
        await stop()
    assert status == 201 and re.fullmatch(r"[0-9]{6}", out["pin"]) and out["sms"] == "skipped_anonymous"
    assert (row["type"], row["sector"], row["entity"]) == ("report", "justice_integrity", "nchr")
    assert row["anonymous"] and row["contact_phone_enc"] is None
    assert (found["type"], found["track"]) == ("report", "report_human_rights")
    assert (other["type"], other["track"]) == ("report", "report_violation")


@pytest.mark.parametrize(("rtype", "track"), [("complaint", "report_human_rights"), ("report", "report_violation"), ("report", "nchr")])
def test_a_track_must_be_a_preset_intent_of_the_type_chosen(rtype: str, track: str) -> None:
    with pytest.raises(BadInput) as err:
        parse_new_request(complaint(type=rtype, track=track, sector="", entity="", pillar=""))
    assert err.value.fields["type"] == "required"


@pytest.mark.parametrize("description", ["Streetlights", "الكهرباء مقطوعة".replace(" ", ""), "no water", "  a b  c  "])
def test_console_descriptions_follow_the_forms_rule(description: str) -> None:
    """bot.request_rules: 12 characters and two words, as in the chat forms (the console used to take 10)."""
    with pytest.raises(BadInput) as err:
        parse_new_request(complaint(description=description))
    assert err.value.fields == {"description": "too_short"}


def test_console_accepts_a_two_word_description_of_twelve_characters() -> None:
    assert parse_new_request(complaint(description="no water yet")).description == "no water yet"


async def test_new_call_form_errors_are_named_per_field(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        bad = complaint(caller_phone="12", pillar="", entity="", description="short", caller_language="fr")
        status, out = await file_request(c, csrf, bad)
        assert status == 422
        assert out["fields"] == {
            "caller_phone": "invalid_phone", "caller_language": "required", "entity": "required",
            "pillar": "required", "description": "too_short",
        }
        # what only the case store knows (its catalogue) comes back named by field too (`field`, not `fields`)
        status, out = await file_request(c, csrf, complaint(entity="no-such-entity"))
        assert status == 422 and out == {"error": "invalid", "fields": {"entity": "unknown_entity"}}
    assert console.backend.store.requests() == []


async def test_case_store_down_is_502(tmp_path: Path) -> None:
    c_, stop = await start_console(tmp_path)
    try:
        async with c_.client() as c:
            csrf = await login(c)
            token = await form_token(c)
            await c_.backend.store.runner.cleanup()
            async with c.post(f"{API}/requests", json=complaint(form_token=token), headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 502 and (await r.json())["error"] == "case_store_unavailable"
            async with c.get(f"{API}/catalogue/sectors") as r:
                assert r.status == 502
    finally:
        await stop()


# --- look up ---------------------------------------------------------------------------------------

async def test_lookup_needs_the_callers_proof_and_records_the_agent(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        _, created = await file_request(c, csrf, complaint())
        ref = created["reference"]
        h = {"X-CSRF-Token": csrf}
        async with c.post(f"{API}/lookup", json={"reference": ref, "phone_tail": "4567"}, headers=h) as r:
            assert r.status == 200
            found = (await r.json())["request"]
        assert found["reference"] == ref and found["timeline"][0]["status"] == "submitted"
        assert found["entity"]["name_en"] == "Ministry of Health" and "description" not in found
        async with c.post(f"{API}/lookup", json={"reference": ref, "phone_tail": "0000"}, headers=h) as r:
            assert r.status == 404 and (await r.json())["error"] == "not_found_or_unverified"
        async with c.post(f"{API}/lookup", json={"reference": ref}, headers=h) as r:
            assert r.status == 422 and (await r.json())["error"] == "verification_required"
        typo = ref[:-2] + ref[-1] + ref[-2] if ref[-1] != ref[-2] else ref[:-1] + str((int(ref[-1]) + 1) % 10)
        async with c.post(f"{API}/lookup", json={"reference": typo, "phone_tail": "4567"}, headers=h) as r:
            assert r.status == 422 and (await r.json())["error"] == "bad_check_digit"
        async with c.post(f"{API}/lookup", json={"reference": "12", "phone_tail": "4567"}, headers=h) as r:
            assert (await r.json())["error"] == "malformed_reference"
    seen = console.backend.store.rows("SELECT actor, proof FROM access_log ORDER BY id")
    assert [r["actor"] for r in seen] == [f"agent:{console.amal_id}"]  # the successful look-up, by this agent
    outcomes = [json.loads(r["detail"])["outcome"] for r in console.store.audit_rows(console.amal_id) if r["action"] == "request_lookup"]
    assert outcomes == ["found", "not_found_or_unverified"]


async def test_lookup_of_a_report_by_pin(console: Console) -> None:
    async with console.client() as c:
        csrf = await login(c)
        _, created = await file_request(c, csrf, complaint(type="report", pillar="", description="مخالفة في عطاء حكومي يجب التحقيق فيها"))
        arabic_pin = created["pin"].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        async with c.post(f"{API}/lookup", json={"reference": created["reference"], "pin": arabic_pin}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
            assert (await r.json())["request"]["confidential"] is True


# --- handoff ---------------------------------------------------------------------------------------

async def test_internal_handoff_needs_the_bearer_token(console: Console) -> None:
    async with aiohttp.ClientSession() as s:
        url = f"{console.url}/webhooks/agent_console/internal/handoff"
        body = {"sender_id": "messenger_x", "channel": "messenger", "language": "ar", "transcript": []}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": console.internal_token}):
            async with s.post(url, json=body, headers=headers) as r:
                assert r.status == 403
        async with s.post(url, json={**body, "channel": "fax"}, headers={"Authorization": f"Bearer {console.internal_token}"}) as r:
            assert r.status == 422
    assert await console.store.run(console.store.open_handoffs) == []


async def test_handoff_take_reply_and_resume_on_messenger(console: Console) -> None:
    from rasa.shared.core.events import BotUttered, ConversationResumed

    sender = "messenger_" + "b" * 32
    await seed_conversation(console, sender, "messenger", "PSID-1234567890")
    hid = await queue(console, sender)
    async with console.client() as c:
        csrf = await login(c)
        h = {"X-CSRF-Token": csrf}
        async with c.get(f"{API}/handoffs") as r:
            items = (await r.json())["handoffs"]
        assert [(i["id"], i["state"], i["channel"]) for i in items] == [(hid, "waiting", "messenger")]
        assert "PSID" not in json.dumps(items) and sender not in json.dumps(items)
        async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "hi"}, headers=h) as r:
            assert r.status == 409 and (await r.json())["error"] == "not_taken"
        async with c.post(f"{API}/handoffs/{hid}/take", json={}, headers=h) as r:
            assert r.status == 200 and (await r.json())["mine"] is True
        async with c.get(f"{API}/handoffs/{hid}") as r:
            detail = await r.json()
        assert [m["who"] for m in detail["transcript"]] == ["user", "bot", "user"]
        assert "PSID" not in json.dumps(detail)
        async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "أهلاً، معك أمل من مركز الاتصال"}, headers=h) as r:
            assert r.status == 200, await r.text()
        sent = console.backend.messenger()[-1]
        assert sent["json"] == {"recipient": {"id": "PSID-1234567890"}, "message": {"text": "أهلاً، معك أمل من مركز الاتصال"},
                                "messaging_type": "RESPONSE"}
        proof = hmac.new(b"app-secret", b"page-token", hashlib.sha256).hexdigest()
        assert sent["query"] == {"access_token": "page-token", "appsecret_proof": proof}
        assert sent["path"] == "/v21.0/me/messages"
        async with c.get(f"{API}/handoffs/{hid}") as r:
            last = (await r.json())["transcript"][-1]
        assert last["who"] == "agent" and last["agent"] == "Amal Haddad"
        async with c.post(f"{API}/handoffs/{hid}/resume", json={}, headers=h) as r:
            assert r.status == 200 and (await r.json())["notice_delivered"] is True
        assert console.backend.messenger()[-1]["json"]["message"]["text"] == "عدت إلى مساعد بخدمتكم الآلي. كيف يمكنني مساعدتك؟"
        async with c.get(f"{API}/handoffs") as r:
            assert (await r.json())["handoffs"] == []
    tracker = await console.agent.tracker_store.retrieve(sender)
    assert not tracker.is_paused()
    assert isinstance(tracker.events[-2], ConversationResumed) and isinstance(tracker.events[-1], BotUttered)
    actions = [r["action"] for r in console.store.audit_rows(console.amal_id)]
    assert actions[-3:] == ["handoff_taken", "handoff_reply", "handoff_resumed"]


async def test_messenger_reply_outside_24_hours_carries_the_human_agent_tag(console: Console) -> None:
    sender = "messenger_" + "c" * 32
    await seed_conversation(console, sender, "messenger", "PSID-42", age=dt.timedelta(hours=25))
    hid = await queue(console, sender)
    async with console.client() as c:
        csrf = await login(c)
        await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
        async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "Sorry for the wait"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
    sent = console.backend.messenger()[-1]["json"]
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "HUMAN_AGENT"


async def test_sms_handoff_reply_goes_through_twilio(console: Console) -> None:
    sender = "sms_" + "d" * 32
    await seed_conversation(console, sender, "sms", "+962781112233")
    hid = await queue(console, sender, channel="sms", language="en")
    async with console.client() as c:
        csrf = await login(c)
        await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
        async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "Hello, this is Amal."}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
        await c.post(f"{API}/handoffs/{hid}/resume", json={}, headers={"X-CSRF-Token": csrf})
    sms = console.backend.sms()
    assert [(m["To"], m["Body"]) for m in sms] == [
        ("+962781112233", "Hello, this is Amal."),
        ("+962781112233", "You are back with the Bekhedmetkom assistant. How can I help?"),
    ]
    twilio = [r for r in console.backend.cloud.snapshot() if r["path"].endswith("/Messages.json")][0]
    assert twilio["path"] == f"/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    assert twilio["headers"]["Authorization"].startswith("Basic ")


async def test_taking_an_after_hours_conversation_pauses_the_bot(console: Console) -> None:
    from rasa.shared.core.events import ConversationResumed

    sender = "messenger_" + "5" * 32
    await seed_conversation(console, sender, "messenger", "PSID-5")
    tracker = await console.agent.tracker_store.retrieve(sender)
    tracker.update(ConversationResumed())  # as if action_handoff ran after hours and did not pause
    await console.agent.tracker_store.save(tracker)
    hid = await queue(console, sender)
    async with console.client() as c:
        csrf = await login(c)
        async with c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 200
    assert (await console.agent.tracker_store.retrieve(sender)).is_paused()


async def test_voice_handoff_is_answered_by_sms_only_with_a_reply_address(console: Console) -> None:
    with_consent, without = "voice_" + "1" * 32, "voice_" + "2" * 32
    await seed_conversation(console, with_consent, "voice", "+962795556677")
    hid_ok, hid_no = await queue(console, with_consent, channel="voice"), await queue(console, without, channel="voice")
    async with console.client() as c:
        csrf = await login(c)
        h = {"X-CSRF-Token": csrf}
        for hid in (hid_ok, hid_no):
            await c.post(f"{API}/handoffs/{hid}/take", json={}, headers=h)
        async with c.post(f"{API}/handoffs/{hid_ok}/reply", json={"text": "Returning your call"}, headers=h) as r:
            assert r.status == 200
        async with c.post(f"{API}/handoffs/{hid_no}/reply", json={"text": "Returning your call"}, headers=h) as r:
            assert r.status == 409 and (await r.json())["error"] == "no_reply_address"
    assert [(m["To"], m["Body"]) for m in console.backend.sms()] == [("+962795556677", "Returning your call")]


async def test_another_agent_cannot_take_read_reply_or_resume_a_held_conversation(console: Console) -> None:
    sender = "messenger_" + "e" * 32
    await seed_conversation(console, sender, "messenger", "PSID-7")
    hid = await queue(console, sender)
    async with console.client() as amal, console.client() as basel:
        a, b = await login(amal), await login(basel, "basel")
        async with amal.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": a}) as r:
            assert r.status == 200
        for method, path, body in [("POST", "take", {}), ("POST", "reply", {"text": "hi"}), ("POST", "resume", {}), ("GET", "", None)]:
            url = f"{API}/handoffs/{hid}/{path}".rstrip("/")
            async with basel.request(method, url, json=body, headers={"X-CSRF-Token": b}) as r:
                assert r.status == 403, path
                assert (await r.json())["error"] == "held_by_another_agent"
        async with basel.get(f"{API}/handoffs") as r:
            item = (await r.json())["handoffs"][0]
        assert item["held_by"] == "Amal Haddad" and item["mine"] is False
    assert console.backend.messenger() == []


async def test_one_of_two_simultaneous_takes_wins(console: Console) -> None:
    hid = await queue(console, "messenger_" + "f" * 32)
    async with console.client() as amal, console.client() as basel:
        a, b = await login(amal), await login(basel, "basel")
        r1, r2 = await asyncio.gather(
            amal.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": a}),
            basel.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": b}),
        )
        assert sorted([r1.status, r2.status]) == [200, 403]
        r1.release()
        r2.release()


async def test_reply_that_cannot_be_delivered_is_502_and_not_recorded(tmp_path: Path) -> None:
    console, stop = await start_console(tmp_path)
    try:
        sender = "messenger_" + "9" * 32
        await seed_conversation(console, sender, "messenger", "PSID-9")
        hid = await queue(console, sender)
        async with console.client() as c:
            csrf = await login(c)
            await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
            console.backend.cloud.fail("/me/messages", status=503, times=10)  # Graph API failing
            async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "hello"}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 502 and (await r.json())["error"] == "not_delivered"
            async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": " "}, headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 422
            async with c.get(f"{API}/handoffs/{hid}") as r:
                assert [m["who"] for m in (await r.json())["transcript"]] == ["user", "bot", "user"]  # no agent turn
    finally:
        await stop()


async def test_without_a_tracker_the_actions_transcript_is_shown_and_replies_are_refused(console: Console) -> None:
    hid = await queue(console, "messenger_" + "6" * 32)
    async with console.client() as c:
        csrf = await login(c)
        await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
        async with c.get(f"{API}/handoffs/{hid}") as r:
            assert (await r.json())["transcript"][0]["text"] == "بدي احكي مع موظف"
        async with c.post(f"{API}/handoffs/{hid}/reply", json={"text": "hello"}, headers={"X-CSRF-Token": csrf}) as r:
            assert r.status == 409 and (await r.json())["error"] == "no_reply_address"


async def test_new_user_messages_while_paused_show_in_the_live_transcript(console: Console) -> None:
    from rasa.shared.core.events import UserUttered

    sender = "messenger_" + "8" * 32
    await seed_conversation(console, sender, "messenger", "PSID-8")
    hid = await queue(console, sender)
    tracker = await console.agent.tracker_store.retrieve(sender)
    tracker.update(UserUttered("هل من أحد هنا؟", metadata={"channel": "messenger", "reply_address": seal_address("PSID-8")}))
    await console.agent.tracker_store.save(tracker)
    async with console.client() as c:
        await login(c)
        async with c.get(f"{API}/handoffs/{hid}") as r:
            assert (await r.json())["transcript"][-1] == {"who": "user", "text": "هل من أحد هنا؟", "at": (await r.json())["transcript"][-1]["at"]}


async def test_no_personal_data_in_logs(console: Console, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    sender = "sms_" + "7" * 32
    await seed_conversation(console, sender, "sms", "+962781112299")
    hid = await queue(console, sender, channel="sms")
    async with console.client() as c:
        csrf = await login(c)
        assert (await file_request(c, csrf, complaint()))[0] == 201
        await c.post(f"{API}/handoffs/{hid}/take", json={}, headers={"X-CSRF-Token": csrf})
        await c.post(f"{API}/handoffs/{hid}/reply", json={"text": "secret reply text"}, headers={"X-CSRF-Token": csrf})
    text = caplog.text
    for needle in ("962781112299", "0791234567", "962791234567", "secret reply text", PASSWORD, csrf, "page-token"):
        assert needle not in text
