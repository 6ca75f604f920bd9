"""Agent accounts and the handoff queue: AgentStore, and the operators' command line.

CLI: `python -m channels.agents create|set-role|disable|enable|reset-password|list|handoffs`.
Roles (`--role`): agent (default; the contact-center console), ops_room (every dashboard figure),
minister (`--sector ID`: one sector's figures), entity (`--entity ID`: one entity's figures, for its
focal point or secretary general). Dashboard accounts sign in at insights/ (`make run` starts it).

The storage lives in small modules; this one joins them and re-exports the names the console
(channels/agent_console/) and the tests import from here:
- channels/agent_tables.py: the one MetaData (accounts, sessions, audit, handoffs) for bot/sql.py;
- channels/accounts.py: passwords, accounts, login and sessions, the audit trail;
- channels/handoff_queue.py: the handoff queue (queue, take, resume, expire, overview).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from channels.accounts import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    MIN_PASSWORD_LENGTH,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    USERNAME_RE,
    AccountStore,
    Agent,
    AgentError,
    LoginResult,
    Session,
    check_password_policy,
    check_role,
    csrf_ok,
    default_url,
    hash_password,
    verify_password,
)
from channels.agent_tables import (
    ACCOUNT_ROLES,
    HANDOFF_STATES,
    OPEN_STATES,
    Clock,
    agents,
    audit,
    handoffs,
    metadata,
    sessions,
    utcnow,
)
from channels.handoff_queue import HandoffConflict, HandoffQueue

__all__ = [
    "ABSOLUTE_TIMEOUT", "ACCOUNT_ROLES", "HANDOFF_STATES", "IDLE_TIMEOUT", "MIN_PASSWORD_LENGTH", "OPEN_STATES", "SCRYPT_N",
    "SCRYPT_P", "SCRYPT_R", "USERNAME_RE", "Agent", "AgentError", "AgentStore", "Clock", "HandoffConflict",
    "LoginResult", "Session", "agents", "audit", "check_password_policy", "check_role", "csrf_ok", "default_url", "handoffs",
    "hash_password", "main", "metadata", "print_handoffs", "sessions", "utcnow", "verify_password",
]


class AgentStore(AccountStore, HandoffQueue):
    """The console's one store: accounts, sessions and audit, plus the handoff queue on the same engine."""


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


def _scope_text(a: Agent) -> str:
    return f" of sector {a.sector}" if a.sector else f" of entity {a.entity}" if a.entity else ""


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
    role_help = "agent (console, default), ops_room, minister (needs --sector), entity (needs --entity)"
    c.add_argument("--role", default="agent", choices=ACCOUNT_ROLES, help=role_help)
    c.add_argument("--sector", default=None, help="a minister's sector (catalogue id)")
    c.add_argument("--entity", default=None, help="an entity account's entity (catalogue id)")
    sr = sub.add_parser("set-role", help="change an account's role and scope (its sessions end)")
    sr.add_argument("username")
    sr.add_argument("role", choices=ACCOUNT_ROLES, help=role_help)
    sr.add_argument("--sector", default=None)
    sr.add_argument("--entity", default=None)
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
            check_role(args.role, args.sector, args.entity)  # before asking for a password
            a = store.create_agent(args.username, args.name, _read_password(args), args.role, args.sector, args.entity)
            kind = "agent" if a.role == "agent" else f"{a.role} account"
            print(f"created {kind} {a.username} (id {a.id}){_scope_text(a)}")
        elif args.command == "set-role":
            a = store.set_role(args.username, args.role, args.sector, args.entity)
            print(f"{a.username}: now {a.role}{_scope_text(a)}; sessions ended")
        elif args.command in ("disable", "enable"):
            a = store.set_disabled(args.username, args.command == "disable")
            print(f"{a.username}: {'disabled' if a.disabled else 'enabled'}")
        elif args.command == "reset-password":
            a = store.reset_password(args.username, _read_password(args))
            print(f"{a.username}: password changed, sessions ended")
        elif args.command == "list":
            for a in store.list_agents():
                print(f"{a.id}\t{a.username}\t{'disabled' if a.disabled else 'active'}\t{a.display_name}\t{a.role}{_scope_text(a)}")
        elif args.command == "handoffs":
            print_handoffs(store, dt.timedelta(hours=max(args.hours, 0)))
    except (AgentError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
