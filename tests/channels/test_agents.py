"""channels/agents.py: accounts, passwords, sessions, login throttling, the handoff queue, the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from pathlib import Path

import pytest

from channels import agents as agents_mod
from channels.agents import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    AgentError,
    AgentStore,
    HandoffConflict,
    csrf_ok,
    hash_password,
    verify_password,
)
from channels.login_throttle import ACCOUNT_LIMIT, PAIR_LIMIT, SOURCE_LIMIT, WINDOW

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> AgentStore:
    s = AgentStore(f"sqlite:///{tmp_path / 'agents.db'}", clock=clock)
    s.create_agent("amal", "Amal Haddad", PASSWORD)
    return s


def test_password_hash_is_scrypt_with_per_user_salt() -> None:
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a.startswith("scrypt$16384$8$1$") and b.startswith("scrypt$16384$8$1$")
    assert a != b  # different salts
    assert verify_password(PASSWORD, a) and verify_password(PASSWORD, b)
    assert not verify_password(PASSWORD + "x", a)
    assert not verify_password(PASSWORD, "garbage")
    assert PASSWORD not in a


def test_create_refuses_duplicates_bad_names_and_short_passwords(store: AgentStore) -> None:
    with pytest.raises(AgentError, match="already exists"):
        store.create_agent("AMAL", "", PASSWORD)
    with pytest.raises(AgentError, match="not allowed"):
        store.create_agent("x y", "", PASSWORD)
    with pytest.raises(ValueError, match="at least 12"):
        store.create_agent("basel", "", "short")


def test_login_success_makes_a_session_with_csrf_token(store: AgentStore) -> None:
    result = store.login("amal", PASSWORD, "10.0.0.1")
    assert result.outcome == "ok" and result.agent and result.agent.username == "amal"
    session = store.session(result.session_token)
    assert session is not None and session.csrf_token == result.csrf_token
    assert [r["action"] for r in store.audit_rows()] == ["account_created", "login"]


def test_session_token_is_stored_hashed(store: AgentStore) -> None:
    result = store.login("amal", PASSWORD, "10.0.0.1")
    with store.engine.connect() as conn:
        stored = [r.token_hash for r in conn.execute(agents_mod.sessions.select())]
    assert result.session_token not in stored and len(stored) == 1


def test_wrong_password_and_unknown_user_look_the_same(store: AgentStore) -> None:
    assert store.login("amal", "wrong password!!", "10.0.0.1").outcome == "bad_credentials"
    assert store.login("nobody", PASSWORD, "10.0.0.1").outcome == "bad_credentials"


def test_disabled_account_cannot_log_in_and_loses_its_sessions(store: AgentStore) -> None:
    token = store.login("amal", PASSWORD, "10.0.0.1").session_token
    store.set_disabled("amal", True)
    assert store.session(token) is None
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "disabled"
    store.set_disabled("amal", False)
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "ok"


def test_reset_password_ends_sessions(store: AgentStore) -> None:
    token = store.login("amal", PASSWORD, "10.0.0.1").session_token
    store.reset_password("amal", "a brand new passphrase")
    assert store.session(token) is None
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "bad_credentials"
    assert store.login("amal", "a brand new passphrase", "10.0.0.1").outcome == "ok"


def test_session_expires_after_idle_timeout(store: AgentStore, clock: Clock) -> None:
    token = store.login("amal", PASSWORD, "10.0.0.1").session_token
    clock.advance(seconds=IDLE_TIMEOUT.total_seconds() - 60)
    assert store.session(token) is not None  # touching it resets the idle timer
    clock.advance(seconds=IDLE_TIMEOUT.total_seconds() - 60)
    assert store.session(token) is not None
    clock.advance(seconds=IDLE_TIMEOUT.total_seconds() + 1)
    assert store.session(token) is None
    assert store.session(token) is None  # and it is gone for good


def test_session_expires_after_absolute_timeout_even_when_active(store: AgentStore, clock: Clock) -> None:
    token = store.login("amal", PASSWORD, "10.0.0.1").session_token
    for _ in range(int(ABSOLUTE_TIMEOUT / dt.timedelta(minutes=20))):
        clock.advance(minutes=20)
        if store.session(token) is None:
            break
    assert clock.now - dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.timezone.utc) >= ABSOLUTE_TIMEOUT
    assert store.session(token) is None


def test_logout_ends_the_session(store: AgentStore) -> None:
    token = store.login("amal", PASSWORD, "10.0.0.1").session_token
    store.logout(token)
    assert store.session(token) is None


WRONG = "wrong password!!"


def test_failures_lock_only_the_account_source_pair(store: AgentStore, clock: Clock) -> None:
    for _ in range(PAIR_LIMIT):
        assert store.login("amal", WRONG, "198.51.100.7").outcome == "bad_credentials"
    limited = store.login("amal", PASSWORD, "198.51.100.7")  # the guesser's own address is locked
    assert limited.outcome == "rate_limited" and 0 < limited.retry_after <= WINDOW.total_seconds() + 1
    # ... but a stranger guessing does not lock the agent out of her desk
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "ok"
    clock.advance(seconds=WINDOW.total_seconds() + 1)
    assert store.login("amal", PASSWORD, "198.51.100.7").outcome == "ok"


def test_a_success_clears_its_pairs_counter(store: AgentStore) -> None:
    for _ in range(PAIR_LIMIT - 1):
        store.login("amal", WRONG, "10.0.0.1")
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "ok"
    for _ in range(PAIR_LIMIT - 1):
        assert store.login("amal", WRONG, "10.0.0.1").outcome == "bad_credentials"
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "ok"


def test_an_account_under_attack_from_many_sources_still_opens_from_a_clean_source(store: AgentStore) -> None:
    for i in range(ACCOUNT_LIMIT):
        assert store.login("amal", WRONG, f"203.0.113.{i}").outcome == "bad_credentials"
    # Past the account limit each attacking address has had its one try ...
    assert store.login("amal", PASSWORD, "203.0.113.0").outcome == "rate_limited"
    # ... while the agent's desk, with no failure on the account, still gets in.
    assert store.login("amal", PASSWORD, "10.0.0.1").outcome == "ok"


def test_one_nat_address_is_not_locked_by_colleagues_typos(store: AgentStore) -> None:
    store.create_agent("basel", "Basel", PASSWORD)
    nat = "192.0.2.10"
    for name in ("basel", "nobody", "someone"):
        for _ in range(PAIR_LIMIT):
            store.login(name, WRONG, nat)
    assert store.login("amal", PASSWORD, nat).outcome == "ok"


def test_spraying_from_one_source_stops_it_but_not_agents_known_there(store: AgentStore) -> None:
    store.create_agent("basel", "Basel", PASSWORD)
    nat = "192.0.2.10"
    assert store.login("amal", PASSWORD, nat).outcome == "ok"  # amal works from here
    for i in range(SOURCE_LIMIT):
        store.login(f"guess{i}", WRONG, nat)
    # The sprayer gets nothing more, for real and unknown names alike (no enumeration) ...
    assert store.login("basel", PASSWORD, nat).outcome == "rate_limited"
    assert store.login("nobody-at-all", WRONG, nat).outcome == "rate_limited"
    # ... an agent who signed in from here keeps working, and the rest of the world is unaffected.
    assert store.login("amal", PASSWORD, nat).outcome == "ok"
    assert store.login("basel", PASSWORD, "10.0.0.2").outcome == "ok"


def test_a_source_stays_trusted_for_an_agent_thirty_days_and_counters_are_swept(store: AgentStore, clock: Clock) -> None:
    from channels.login_throttle import TRUSTED_SOURCE_FOR, counters

    nat = "192.0.2.10"
    assert store.login("amal", PASSWORD, nat).outcome == "ok"
    clock.advance(seconds=TRUSTED_SOURCE_FOR.total_seconds() + 1)
    for i in range(SOURCE_LIMIT):
        store.login(f"guess{i}", WRONG, nat)
    assert store.login("amal", PASSWORD, nat).outcome == "rate_limited"  # not seen here for a month
    clock.advance(seconds=WINDOW.total_seconds() + 1)
    store.throttle.sweep(clock())
    with store.engine.connect() as conn:
        assert conn.execute(counters.select()).all() == []  # nothing left to remember


def test_unknown_and_real_accounts_are_throttled_alike(store: AgentStore) -> None:
    outcomes = {
        name: [store.login(name, WRONG, "10.0.0.9").outcome for _ in range(PAIR_LIMIT + 1)]
        for name in ("amal", "ghost")
    }
    assert outcomes["amal"] == outcomes["ghost"] == ["bad_credentials"] * PAIR_LIMIT + ["rate_limited"]


def test_throttle_survives_a_new_store_on_the_same_database(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    AgentStore(url, clock=clock).create_agent("amal", "Amal", PASSWORD)
    for _ in range(PAIR_LIMIT):
        AgentStore(url, clock=clock).login("amal", WRONG, "10.0.0.1")
    assert AgentStore(url, clock=clock).login("amal", PASSWORD, "10.0.0.1").outcome == "rate_limited"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_control_characters_in_a_login_are_a_failed_login_not_an_error(
    backend: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'nul.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    store = AgentStore(url, clock=clock)
    assert store.login("\x00ghost\x1b", "wrong\x00password", "10.0.0.8\x00").outcome == "bad_credentials"
    store.engine.dispose()


async def _parallel_wrong_logins(store: AgentStore, n: int) -> list[str]:
    results = await asyncio.gather(*(store.run(store.login, "amal", WRONG, "10.0.0.5") for _ in range(n)))
    return [r.outcome for r in results]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_parallel_wrong_attempts_cannot_overshoot_the_limit(
    backend: str, tmp_path: Path, clock: Clock, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    store = AgentStore(url, clock=clock)
    if store.get_agent("amal") is None:
        store.create_agent("amal", "Amal", PASSWORD)
    store.throttle.sweep(clock() + WINDOW * 10_000)  # a fresh start on the shared PostgreSQL database
    outcomes = await _parallel_wrong_logins(store, 3 * PAIR_LIMIT)
    assert outcomes.count("bad_credentials") == PAIR_LIMIT, outcomes
    assert outcomes.count("rate_limited") == 2 * PAIR_LIMIT
    checked = [r for r in store.audit_rows() if r["action"] == "login_failed" and r["ip"] == "10.0.0.5"]
    assert len(checked) == PAIR_LIMIT  # only that many passwords were ever checked
    store.engine.dispose()


def test_handoff_queue_one_agent_at_a_time(store: AgentStore) -> None:
    basel = store.create_agent("basel", "Basel", PASSWORD)
    amal = store.get_agent("amal")
    assert amal is not None
    hid = store.enqueue_handoff("messenger_abc", "messenger", "ar", [{"who": "user", "text": "مرحبا", "at": ""}])
    assert store.enqueue_handoff("messenger_abc", "messenger", "ar", []) == hid  # asking again: same entry
    assert store.take_handoff(hid, amal.id)["agent_id"] == amal.id
    assert store.take_handoff(hid, amal.id)["state"] == "taken"  # re-opening your own is fine
    with pytest.raises(HandoffConflict) as e:
        store.take_handoff(hid, basel.id)
    assert e.value.code == "held_by_other"
    with pytest.raises(HandoffConflict) as e:
        store.require_holder(hid, basel.id)
    assert e.value.code == "held_by_other"
    with pytest.raises(HandoffConflict):
        store.resume_handoff(hid, basel.id)
    assert store.resume_handoff(hid, amal.id)["state"] == "resumed"
    assert store.open_handoffs() == []
    # A new request from the same person after the resume is a new queue entry.
    assert store.enqueue_handoff("messenger_abc", "messenger", "ar", []) != hid


def test_cli_create_list_disable_enable_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert agents_mod.main(["--database-url", url, "create", "rana", "--name", "Rana K", "--password-stdin"]) == 0
    assert agents_mod.main(["--database-url", url, "list"]) == 0
    assert "rana\tactive\tRana K" in capsys.readouterr().out
    assert agents_mod.main(["--database-url", url, "disable", "rana"]) == 0
    assert AgentStore(url).login("rana", PASSWORD, "1.1.1.1").outcome == "disabled"
    assert agents_mod.main(["--database-url", url, "enable", "rana"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another long passphrase\n"))
    assert agents_mod.main(["--database-url", url, "reset-password", "rana", "--password-stdin"]) == 0
    assert AgentStore(url).login("rana", "another long passphrase", "1.1.1.2").outcome == "ok"
    assert agents_mod.main(["--database-url", url, "disable", "ghost"]) == 2
    assert "no agent named 'ghost'" in capsys.readouterr().err


# --- roles (dashboards sign in with the same accounts) -----------------------------------------

def test_roles_need_exactly_their_scope(store: AgentStore) -> None:
    with pytest.raises(AgentError, match="needs --sector"):
        store.create_agent("min", "Minister", PASSWORD, role="minister")
    with pytest.raises(AgentError, match="takes no --sector"):
        store.create_agent("ops", "Ops", PASSWORD, role="ops_room", sector="health")
    with pytest.raises(AgentError, match="not one of"):
        store.create_agent("boss", "Boss", PASSWORD, role="admin")
    with pytest.raises(AgentError, match="not a catalogue id"):
        store.create_agent("fp", "Focal", PASSWORD, role="entity", entity="Bad Id")
    fp = store.create_agent("fp", "Focal point", PASSWORD, role="entity", entity="moh")
    assert (fp.role, fp.entity, fp.sector) == ("entity", "moh", None)
    assert store.get_agent("fp") == fp
    assert store.get_agent("amal").role == "agent"  # accounts made before roles are agents


def test_login_only_for_the_rooms_roles(store: AgentStore) -> None:
    store.create_agent("ops", "Ops room", PASSWORD, role="ops_room")
    assert store.login("ops", PASSWORD, "1.1.1.1", roles=("agent",)).outcome == "wrong_room"
    assert store.login("amal", PASSWORD, "1.1.1.1", roles=("ops_room", "minister", "entity")).outcome == "wrong_room"
    ok = store.login("ops", PASSWORD, "1.1.1.1", roles=("ops_room",))
    assert ok.outcome == "ok" and ok.agent is not None and ok.agent.role == "ops_room"
    # the session of one room's account is nobody in the other room
    assert store.session(ok.session_token, roles=("agent",)) is None
    s = store.session(ok.session_token, roles=("ops_room",))
    assert s is not None and s.agent.role == "ops_room"
    assert csrf_ok(s.csrf_token, s.csrf_token) and not csrf_ok("", s.csrf_token) and not csrf_ok(None, s.csrf_token)


def test_set_role_ends_sessions(store: AgentStore) -> None:
    store.create_agent("sg", "Secretary general", PASSWORD, role="entity", entity="moh")
    token = store.login("sg", PASSWORD, "1.1.1.1").session_token
    a = store.set_role("sg", "minister", sector="health")
    assert (a.role, a.sector, a.entity) == ("minister", "health", None)
    assert store.session(token) is None


def test_cli_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert agents_mod.main(["--database-url", url, "create", "fp", "--role", "entity", "--entity", "moh", "--password-stdin"]) == 0
    assert "created entity account fp" in capsys.readouterr().out
    assert agents_mod.main(["--database-url", url, "create", "m", "--role", "minister", "--password-stdin"]) == 2
    assert "needs --sector" in capsys.readouterr().err
    assert agents_mod.main(["--database-url", url, "set-role", "fp", "minister", "--sector", "health"]) == 0
    assert agents_mod.main(["--database-url", url, "list"]) == 0
    assert "minister of sector health" in capsys.readouterr().out
