"""Agent accounts, console sessions and the audit trail (storage for channels/agent_console/).

Like bot/channel_state.py this is synchronous SQLAlchemy 1.4 (2.0-style calls) and the console
runs every call in a worker thread. The database is AGENT_CONSOLE_DATABASE_URL (default: sqlite
file var/agent_console.db); the tables are in channels/agent_tables.py. channels/agents.py joins
this store with the handoff queue's (channels/handoff_queue.py) as AgentStore.

Security decisions, so nobody has to rediscover them:
- Passwords: hashlib.scrypt (n=2**14, r=8, p=1, 32-byte key) with a 16-byte per-user salt,
  stored as "scrypt$n$r$p$salt_hex$hash_hex"; compared with hmac.compare_digest. A login for an
  unknown user still spends one scrypt so response time does not reveal which names exist.
- Sessions: the cookie holds a random token; the table holds only its SHA-256, so a copy of the
  database cannot be replayed as a cookie. Idle expiry 30 min, absolute 12 h, both checked on
  every request against an injectable clock.
- CSRF: each session has its own random token that every state-changing request must echo in
  the X-CSRF-Token header (csrf_ok, used by the console and the dashboards alike).
- Roles: agent (the console), ops_room, minister (a sector), entity (one entity). Each room
  signs in only the roles it serves (`login(..., roles=)`, `session(..., roles=)`): an agent's
  password opens no dashboard, a minister's opens no console. insights/scope.py turns a role
  into what its holder may see.
- Login throttling in the database (so it holds across processes and restarts), per account
  and per source without letting a stranger lock an agent out: see channels/login_throttle.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.sql import AGENT_CONSOLE, migrate, sync_engine
from channels import login_throttle
from channels.agent_tables import ACCOUNT_ROLES, Clock, agents, audit, sessions, utcnow
from channels.agent_tables import aware as _aware

IDLE_TIMEOUT = dt.timedelta(minutes=30)
ABSOLUTE_TIMEOUT = dt.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
SCOPE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # a catalogue sector or entity id


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


def csrf_ok(sent: str | None, expected: str) -> bool:
    """The CSRF token a state-changing request echoed matches its session's, in constant time."""
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def check_role(role: str, sector: str | None, entity: str | None) -> None:
    """A role with exactly the scope it needs (the table's CHECK says the same)."""
    if role not in ACCOUNT_ROLES:
        raise AgentError(f"role {role!r} is not one of {', '.join(ACCOUNT_ROLES)}")
    need = {"minister": "sector", "entity": "entity"}.get(role)
    given = {"sector": sector, "entity": entity}
    for key, value in given.items():
        if key == need and not value:
            raise AgentError(f"a {role} account needs --{key} (its catalogue id)")
        if key != need and value:
            raise AgentError(f"a {role} account takes no --{key}")
        if value and not SCOPE_ID_RE.match(value):
            raise AgentError(f"{key} {value!r} is not a catalogue id (a-z 0-9 _ . -)")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- results -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agent:
    id: int
    username: str
    display_name: str
    disabled: bool
    role: str = "agent"
    sector: str | None = None
    entity: str | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "display_name": self.display_name}


@dataclass(frozen=True)
class LoginResult:
    outcome: str  # "ok" | "bad_credentials" | "disabled" | "rate_limited" | "wrong_room"
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


# --- the store -----------------------------------------------------------------------------------

class AccountStore:
    """Accounts, login and sessions, the audit trail; the engine and clock the handoff queue shares."""

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
        return Agent(id=row.id, username=row.username, display_name=row.display_name, disabled=bool(row.disabled),
                     role=row.role, sector=row.sector, entity=row.entity)

    def create_agent(
        self, username: str, display_name: str, password: str, role: str = "agent",
        sector: str | None = None, entity: str | None = None,
    ) -> Agent:
        username = username.strip().lower()
        if not USERNAME_RE.match(username):
            raise AgentError(f"username {username!r} is not allowed: use 2-40 of a-z 0-9 . _ -, starting with a letter or digit")
        check_role(role, sector, entity)
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
                        role=role,
                        sector=sector,
                        entity=entity,
                    )
                ).inserted_primary_key[0]
        except IntegrityError:
            raise AgentError(f"an agent named {username!r} already exists (use reset-password or enable)") from None
        self.record(new_id, "account_created", username, {"role": role, "sector": sector, "entity": entity})
        return Agent(new_id, username, display_name.strip() or username, False, role, sector, entity)

    def set_role(self, username: str, role: str, sector: str | None = None, entity: str | None = None) -> Agent:
        """Give an account another role or scope; its sessions end (what it may see changed)."""
        agent = self._require(username)
        check_role(role, sector, entity)
        with self.engine.begin() as conn:
            conn.execute(update(agents).where(agents.c.id == agent.id).values(role=role, sector=sector, entity=entity))
            conn.execute(delete(sessions).where(sessions.c.agent_id == agent.id))
        self.record(agent.id, "role_changed", agent.username, {"role": role, "sector": sector, "entity": entity})
        return Agent(agent.id, agent.username, agent.display_name, agent.disabled, role, sector, entity)

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
        return Agent(agent.id, agent.username, agent.display_name, disabled, agent.role, agent.sector, agent.entity)

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
    def login(self, username: str, password: str, ip: str, roles: tuple[str, ...] | None = None) -> LoginResult:
        """Check a password (throttled) and open a session; `roles`: the roles this room signs in
        (None: any), so a right password for the wrong room opens nothing ("wrong_room")."""
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
        if roles is not None and agent.role not in roles:
            self.record(agent.id, "login_wrong_room", username, ip=ip)
            return LoginResult("wrong_room")
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

    def session(self, token: str | None, roles: tuple[str, ...] | None = None) -> Session | None:
        """The live session for a cookie token (touching its idle timer), or None; also None when
        the account's role is not one of `roles` (None: any)."""
        if not token:
            return None
        now = self.clock()
        key = _token_hash(token)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(sessions, agents.c.username, agents.c.display_name, agents.c.disabled, agents.c.role,
                       agents.c.sector, agents.c.entity)
                .join(agents, agents.c.id == sessions.c.agent_id)
                .where(sessions.c.token_hash == key)
            ).first()
            if row is None or (roles is not None and row.role not in roles):
                return None
            created, seen = _aware(row.created_at), _aware(row.last_seen_at)
            if row.disabled or now - seen >= IDLE_TIMEOUT or now - created >= ABSOLUTE_TIMEOUT:
                conn.execute(delete(sessions).where(sessions.c.token_hash == key))
                return None
            conn.execute(update(sessions).where(sessions.c.token_hash == key).values(last_seen_at=now))
        agent = Agent(row.agent_id, row.username, row.display_name, bool(row.disabled), row.role, row.sector, row.entity)
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
