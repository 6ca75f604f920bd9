"""Agent accounts, console sessions, login throttling, the audit trail and the handoff queue.

Storage for the agent console (channels/agent_console/). Like bot/channel_state.py this is
synchronous SQLAlchemy 1.4 (2.0-style calls) and the console runs every call in a worker thread.
The database is AGENT_CONSOLE_DATABASE_URL (default: sqlite file var/agent_console.db).

Security decisions, so nobody has to rediscover them:
- Passwords: hashlib.scrypt (n=2**14, r=8, p=1, 32-byte key) with a 16-byte per-user salt,
  stored as "scrypt$n$r$p$salt_hex$hash_hex"; compared with hmac.compare_digest. A login for an
  unknown user still spends one scrypt so response time does not reveal which names exist.
- Sessions: the cookie holds a random token; the table holds only its SHA-256, so a copy of the
  database cannot be replayed as a cookie. Idle expiry 30 min, absolute 12 h, both checked on
  every request against an injectable clock.
- CSRF: each session has its own random token that every state-changing request must echo in
  the X-CSRF-Token header.
- Login throttling in the database (so it holds across processes and restarts), per account
  and per source without letting a stranger lock an agent out: see channels/login_throttle.py.

CLI: `python -m channels.agents create|disable|enable|reset-password|list|handoffs`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import hashlib
import hmac
import json
import re
import secrets
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.sql import AGENT_CONSOLE, migrate, sync_engine
from channels import login_throttle

Clock = Callable[[], dt.datetime]

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
HANDOFF_STATES = ("waiting", "taken", "resumed", "expired")
OPEN_STATES = ("waiting", "taken")  # still in the queue

metadata = MetaData()
agents = Table(
    "console_agents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(40), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("password_changed_at", DateTime(timezone=True), nullable=False),
)
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
)
audit = Table(
    "console_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=True, index=True),
    Column("action", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Text, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
handoffs = Table(
    "console_handoffs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("sender_id", String(200), nullable=False, index=True),
    Column("channel", String(20), nullable=False),
    Column("language", String(2), nullable=False),
    Column("transcript", Text, nullable=False),
    Column("state", String(10), nullable=False),
    Column("agent_id", Integer, ForeignKey("console_agents.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('waiting', 'taken', 'resumed', 'expired')", name="ck_handoff_state"),
    CheckConstraint("language IN ('ar', 'en')", name="ck_handoff_language"),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; we only ever store UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def default_url() -> str:
    return AGENT_CONSOLE.default_url()


# --- passwords -----------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, hash_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt_hex), n=int(n), r=int(r), p=int(p), dklen=len(hash_hex) // 2
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- results -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agent:
    id: int
    username: str
    display_name: str
    disabled: bool

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name}


@dataclass(frozen=True)
class LoginResult:
    outcome: str  # "ok" | "bad_credentials" | "disabled" | "rate_limited"
    agent: Agent | None = None
    session_token: str | None = None
    csrf_token: str | None = None
    retry_after: int = 0


@dataclass(frozen=True)
class Session:
    agent: Agent
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime


class AgentError(ValueError):
    """A CLI or store operation refused, with a message saying what to do."""


class HandoffConflict(Exception):
    """The conversation is held by another agent (or no longer in the queue)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- the store -----------------------------------------------------------------------------------

class AgentStore:
    def __init__(self, url: str | None = None, clock: Clock = utcnow) -> None:
        self.url = url or default_url()
        self.clock = clock
        migrate(AGENT_CONSOLE, self.url)
        self.engine: Engine = sync_engine(self.url)
        self.throttle = login_throttle.LoginThrottle(self.engine)

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a synchronous store method in a worker thread (the Sanic loop never blocks on disk)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    # accounts ------------------------------------------------------------------------------
    @staticmethod
    def _agent(row: Any) -> Agent:
        return Agent(id=row.id, username=row.username, display_name=row.display_name, disabled=bool(row.disabled))

    def create_agent(self, username: str, display_name: str, password: str) -> Agent:
        username = username.strip().lower()
        if not USERNAME_RE.match(username):
            raise AgentError(f"username {username!r} is not allowed: use 2-40 of a-z 0-9 . _ -, starting with a letter or digit")
        check_password_policy(password)
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                new_id = conn.execute(
                    agents.insert().values(
                        username=username,
                        display_name=display_name.strip() or username,
                        password_hash=hash_password(password),
                        disabled=False,
                        created_at=now,
                        password_changed_at=now,
                    )
                ).inserted_primary_key[0]
        except IntegrityError:
            raise AgentError(f"an agent named {username!r} already exists (use reset-password or enable)") from None
        self.record(new_id, "account_created", username)
        return Agent(new_id, username, display_name.strip() or username, False)

    def get_agent(self, username: str) -> Agent | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(agents).where(agents.c.username == username.strip().lower())).first()
        return self._agent(row) if row else None

    def _require(self, username: str) -> Agent:
        agent = self.get_agent(username)
        if agent is None:
            raise AgentError(f"no agent named {username!r} (see `python -m channels.agents list`)")
        return agent

    def set_disabled(self, username: str, disabled: bool) -> Agent:
        agent = self._require(username)
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.id == agent.id).values(disabled=disabled))
            if disabled:  # a disabled agent is logged out everywhere at once
                conn.execute(delete(sessions).where(sessions.c.agent_id == agent.id))
        self.record(agent.id, "account_disabled" if disabled else "account_enabled", agent.username)
        return Agent(agent.id, agent.username, agent.display_name, disabled)

    def reset_password(self, username: str, password: str) -> Agent:
        agent = self._require(username)
        check_password_policy(password)
        with self.engine.begin() as conn:
            conn.execute(
                update(agents)
                .where(agents.c.id == agent.id)
                .values(password_hash=hash_password(password), password_changed_at=self.clock())
            )
            conn.execute(delete(sessions).where(sessions.c.agent_id == agent.id))
        self.record(agent.id, "password_reset", agent.username)
        return agent

    def list_agents(self) -> list[Agent]:
        with self.engine.connect() as conn:
            return [self._agent(r) for r in conn.execute(select(agents).order_by(agents.c.username))]

    # login and sessions --------------------------------------------------------------------
    def login(self, username: str, password: str, ip: str) -> LoginResult:
        now = self.clock()
        # No account name or address holds control characters, and PostgreSQL refuses NUL in text.
        username = _CONTROL.sub("", username or "").strip().lower()[:40]
        ip = _CONTROL.sub("", ip or "")[:64] or "unknown"
        admission = self.throttle.admit(username, ip, now)
        with self.engine.connect() as conn:
            row = conn.execute(select(agents).where(agents.c.username == username)).first()
        if not admission.allowed:
            self.record(row.id if row else None, "login_rate_limited", username, ip=ip)
            return LoginResult("rate_limited", retry_after=admission.retry_after)
        ok = verify_password(password or "", row.password_hash if row else _DUMMY_HASH) and row is not None
        self.throttle.settle(username, ip, ok, now)
        if not ok:
            self.record(row.id if row else None, "login_failed", username, ip=ip)
            return LoginResult("bad_credentials")
        agent = self._agent(row)
        if agent.disabled:
            self.record(agent.id, "login_disabled", username, ip=ip)
            return LoginResult("disabled")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                sessions.insert().values(
                    token_hash=_token_hash(token), agent_id=agent.id, csrf_token=csrf, created_at=now, last_seen_at=now
                )
            )
            # Expired sessions of anyone are swept here rather than by a cron nobody sets up.
            conn.execute(
                delete(sessions).where(
                    (sessions.c.last_seen_at < now - IDLE_TIMEOUT) | (sessions.c.created_at < now - ABSOLUTE_TIMEOUT)
                )
            )
        self.throttle.sweep(now)
        self.record(agent.id, "login", None, ip=ip)
        return LoginResult("ok", agent=agent, session_token=token, csrf_token=csrf)

    def session(self, token: str | None) -> Session | None:
        """The live session for a cookie token (touching its idle timer), or None."""
        if not token:
            return None
        now = self.clock()
        key = _token_hash(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(sessions, agents.c.username, agents.c.display_name, agents.c.disabled)
                .join(agents, agents.c.id == sessions.c.agent_id)
                .where(sessions.c.token_hash == key)
            ).first()
            if row is None:
                return None
            created, seen = _aware(row.created_at), _aware(row.last_seen_at)
            if row.disabled or now - seen >= IDLE_TIMEOUT or now - created >= ABSOLUTE_TIMEOUT:
                conn.execute(delete(sessions).where(sessions.c.token_hash == key))
                return None
            conn.execute(update(sessions).where(sessions.c.token_hash == key).values(last_seen_at=now))
        agent = Agent(row.agent_id, row.username, row.display_name, bool(row.disabled))
        return Session(agent=agent, csrf_token=row.csrf_token, created_at=created, last_seen_at=now)

    def logout(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _token_hash(token)))

    # audit ----------------------------------------------------------------------------------
    def record(
        self, agent_id: int | None, action: str, target: str | None = None, detail: dict[str, Any] | None = None,
        ip: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                audit.insert().values(
                    agent_id=agent_id,
                    action=action[:40],
                    target=(target or None) and target[:200],
                    detail=json.dumps(detail, ensure_ascii=False) if detail else None,
                    ip=ip and ip[:64],
                    at=self.clock(),
                )
            )

    def audit_rows(self, agent_id: int | None = None) -> list[dict[str, Any]]:
        stmt = select(audit).order_by(audit.c.id)
        if agent_id is not None:
            stmt = stmt.where(audit.c.agent_id == agent_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # handoff queue --------------------------------------------------------------------------
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


# --- CLI -----------------------------------------------------------------------------------------

def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise AgentError("the two passwords differ; nothing changed")
    return first


def _minutes(delta: dt.timedelta) -> str:
    m = max(int(delta.total_seconds() // 60), 0)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m"


def print_handoffs(store: AgentStore, since: dt.timedelta) -> None:
    """One line per handoff: id, channel, language, state, age, time in its state, holder."""
    now, names = store.clock(), {a.id: a.username for a in store.list_agents()}
    rows = store.handoff_overview(since)
    print("id\tchannel\tlang\tstate\tage\tin_state\tagent")
    for r in rows:
        end = now if r["state"] in OPEN_STATES else r["updated_at"]
        print(
            f"{r['id']}\t{r['channel']}\t{r['language']}\t{r['state']}\t{_minutes(end - r['created_at'])}"
            f"\t{_minutes(now - r['updated_at'])}\t{names.get(r['agent_id'], '-') if r['agent_id'] else '-'}"
        )
    counts = {s: sum(r["state"] == s for r in rows) for s in HANDOFF_STATES}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))


def main(argv: list[str] | None = None, clock: Clock = utcnow) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m channels.agents", description="Manage contact-center agent accounts for the console."
    )
    parser.add_argument("--database-url", default=None, help="default: $AGENT_CONSOLE_DATABASE_URL or var/agent_console.db")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="create an account")
    c.add_argument("username")
    c.add_argument("--name", default="", help="display name shown in the console")
    c.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    for verb in ("disable", "enable"):
        sub.add_parser(verb, help=f"{verb} an account").add_argument("username")
    r = sub.add_parser("reset-password", help="set a new password and end the agent's sessions")
    r.add_argument("username")
    r.add_argument("--password-stdin", action="store_true")
    sub.add_parser("list", help="list accounts")
    h = sub.add_parser("handoffs", help="the handoff queue: waiting and taken, and those closed lately, with their age")
    h.add_argument("--hours", type=int, default=24, help="also show handoffs resumed or expired in the last N hours")
    args = parser.parse_args(argv)
    store = AgentStore(args.database_url, clock=clock)
    try:
        if args.command == "create":
            a = store.create_agent(args.username, args.name, _read_password(args))
            print(f"created agent {a.username} (id {a.id})")
        elif args.command in ("disable", "enable"):
            a = store.set_disabled(args.username, args.command == "disable")
            print(f"{a.username}: {'disabled' if a.disabled else 'enabled'}")
        elif args.command == "reset-password":
            a = store.reset_password(args.username, _read_password(args))
            print(f"{a.username}: password changed, sessions ended")
        elif args.command == "list":
            for a in store.list_agents():
                print(f"{a.id}\t{a.username}\t{'disabled' if a.disabled else 'active'}\t{a.display_name}")
        elif args.command == "handoffs":
            print_handoffs(store, dt.timedelta(hours=max(args.hours, 0)))
    except (AgentError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
