"""Engines and schema migrations for the two channel-side databases.

Two small databases sit beside Rasa, each its own Alembic environment (bot/migrations/<name>/),
because operators may point them at different servers or at the same one:

- `channel_state` (CHANNEL_STATE_DATABASE_URL): delivery de-dup and sender state
  (bot/channel_state.py), the durable outbox (channels/outbound.py), the notifier's attempts
  (channels/notifier/tables.py);
- `agent_console` (AGENT_CONSOLE_DATABASE_URL): agents, sessions, audit, handoff queue
  (channels/agent_tables.py) and the login throttle (channels/login_throttle.py);
- `insights` (INSIGHTS_DATABASE_URL): the dashboards' analytics store (insights/analytics_tables.py),
  folded from Rasa's event broker with no text or identity.

Each keeps its revision in its own version table (`alembic_version_<name>`), so both, and the case
store's `alembic_version`, can share one PostgreSQL database without reading each other's history.
The tables stay defined where they are used; the revisions are self-contained (they import no
model), and the models' metadata is loaded only to autogenerate a revision or to compare.

`python -m bot.sql migrate channel_state|agent_console|all` migrates before pods start;
`python -m bot.sql revision NAME -m "what changed"` writes the next revision from the models.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, event, inspect, pool, text
from sqlalchemy.engine import Connection, Engine, make_url

from bot.settings import VAR, env

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK = "bekh_migration_lock"  # execution option: this connection migrates


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (its folder created), None for other databases; in-memory refused."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        # Each connection to an in-memory database is a new, empty one: migrating it means nothing.
        raise ValueError("an in-memory SQLite database cannot hold the channel-side tables; use a file")
    path = Path(parsed.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sync_engine(url: str) -> Engine:
    """The engine the stores use. On SQLite: WAL so readers never block the writer, a busy timeout
    instead of "database is locked", foreign keys on. On PostgreSQL none of that applies."""
    kwargs: dict[str, Any] = {"future": True, "pool_pre_ping": True}
    sqlite = _sqlite_file(url) is not None
    if sqlite:
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    engine = create_engine(url, **kwargs)
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cur = conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _journal_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def _journal_wal(cur: Any, patience: float = 30.0) -> None:
    """WAL mode, set on a connection's first use. SQLite can refuse even the no-op switch of a file
    already in WAL with "database is locked" without waiting out the busy timeout, when several
    processes open the file at the same moment (the notifier's lease race on CI, 2026-12-01):
    tried again for up to `patience` seconds, as the busy timeout would have waited."""
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


@dataclass(frozen=True)
class Schema:
    """One migration environment: its folder, its version table, where its URL comes from."""

    name: str
    url_variable: str
    models: tuple[str, ...]  # "module:attribute" of each MetaData whose tables live in this database

    @property
    def script_location(self) -> Path:
        return MIGRATIONS / self.name

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def default_url(self) -> str:
        return env(self.url_variable) or f"sqlite:///{VAR / (self.name + '.db')}"

    def metadata(self) -> MetaData:
        """The models' tables in one MetaData. Imported on demand (autogenerate, tests): the stores
        never need it to migrate, and bot/ must not import channels/ when it runs."""
        merged = MetaData()
        for ref in self.models:
            module, attribute = ref.split(":")
            for table in getattr(importlib.import_module(module), attribute).tables.values():
                table.to_metadata(merged)
        return merged


CHANNEL_STATE = Schema(
    "channel_state",
    "CHANNEL_STATE_DATABASE_URL",
    ("bot.channel_state:metadata", "channels.outbound:metadata", "channels.notifier.tables:metadata"),
)
AGENT_CONSOLE = Schema(
    "agent_console",
    "AGENT_CONSOLE_DATABASE_URL",
    ("channels.agent_tables:metadata", "channels.login_throttle:metadata"),
)
# The dashboards' own analytics store: conversation figures folded from Rasa's event broker.
INSIGHTS = Schema("insights", "INSIGHTS_DATABASE_URL", ("insights.analytics_tables:metadata",))
SCHEMAS = {s.name: s for s in (CHANNEL_STATE, AGENT_CONSOLE, INSIGHTS)}


def alembic_config(schema: Schema) -> Config:
    """Alembic driven from code (no alembic.ini to keep in sync with the environment)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(schema.script_location))
    cfg.set_main_option("bekh_schema", schema.name)
    return cfg


def _migration_engine(url: str) -> Engine:
    """An engine for migrating only. On SQLite the driver's own transaction handling is switched
    off, so a migration runs in one `BEGIN IMMEDIATE` transaction: all of it or none, and a second
    process waits (busy timeout) for the first to finish instead of racing it. Foreign keys stay
    off, as Alembic's batch mode (copy-and-swap of a table) needs."""
    sqlite = _sqlite_file(url) is not None
    engine = create_engine(
        url, future=True, poolclass=pool.NullPool, connect_args={"timeout": 60} if sqlite else {}
    )
    if sqlite:

        @event.listens_for(engine, "connect")
        def _autocommit(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # A plain read (is it at head?) takes no lock; a migration takes the write lock up front.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_LOCK) else "BEGIN")

    return engine


def current_revision(schema: Schema, connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def head_revision(schema: Schema) -> str | None:
    return ScriptDirectory.from_config(alembic_config(schema)).get_current_head()


def migrate(schema: Schema, url: str | None = None, revision: str = "head") -> None:
    """Bring `url`'s schema to `revision`; a quick read and nothing more when it is already there.

    Safe when several processes start at once: the upgrade runs in one transaction that first takes
    a lock (PostgreSQL: an advisory lock per environment; SQLite: the database's write lock), and
    Alembic reads the current revision only once it holds it, so the last comer finds it done.
    """
    url = url or schema.default_url()
    cfg = alembic_config(schema)
    target = ScriptDirectory.from_config(cfg).get_current_head() if revision == "head" else revision
    engine = _migration_engine(url)
    try:
        with engine.connect() as conn:
            if current_revision(schema, conn) == target:
                return
        with engine.connect() as conn:
            conn.execution_options(**{_LOCK: True})
            with conn.begin():
                _upgrade(schema, cfg, conn, revision)
    finally:
        engine.dispose()


def _upgrade(schema: Schema, cfg: Config, conn: Connection, revision: str) -> None:
    if conn.dialect.name == "postgresql":
        # Held until the transaction ends; SQLite's BEGIN IMMEDIATE already holds the write lock.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def create_table_if_missing(name: str, *elements: Any, indexes: dict[str, list[str]] | None = None) -> None:
    """For the first revision of each environment: a database made by `create_all` before these
    databases were under Alembic holds some of the tables (they were added one by one over time,
    each already in the shape of that revision), so a present table is kept as it is and only the
    missing ones are created. A new database gets them all."""
    from alembic import op

    if inspect(op.get_bind()).has_table(name):
        return
    op.create_table(name, *elements)
    for index, columns in (indexes or {}).items():
        op.create_index(index, name, columns)


def _lock_key(schema: Schema) -> int:
    return zlib.crc32(schema.version_table.encode())


def run_environment() -> None:
    """The body of each env.py under bot/migrations/: Alembic runs env.py, env.py runs this."""
    from alembic import context

    cfg = context.config
    schema = SCHEMAS[cfg.get_main_option("bekh_schema") or ""]
    connection = cfg.attributes.get("connection")
    if context.is_offline_mode() or connection is None:
        raise RuntimeError(f"run the {schema.name} migrations with `python -m bot.sql migrate {schema.name}`")
    context.configure(
        connection=connection,
        target_metadata=cfg.attributes.get("target_metadata"),
        version_table=schema.version_table,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def write_revision(schema: Schema, message: str) -> Path:
    """Autogenerate the next revision: a scratch SQLite database is migrated to head and compared
    with the models. Read the result before committing it (renames look like drop + add)."""
    cfg = alembic_config(schema)
    script = ScriptDirectory.from_config(cfg)
    number = len(list(script.walk_revisions())) + 1
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'scratch.db'}"
        migrate(schema, url)
        engine = _migration_engine(url)
        try:
            with engine.connect() as conn:
                cfg.attributes.update(connection=conn, target_metadata=schema.metadata())
                written = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{number:04d}")
        finally:
            engine.dispose()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.sql", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="upgrade a database to the newest revision (what the stores do at start)")
    m.add_argument("schema", choices=[*SCHEMAS, "all"])
    m.add_argument("--url", help="database URL (default: the schema's *_DATABASE_URL, else var/<schema>.db)")
    c = sub.add_parser("current", help="print a database's revision and the newest one")
    c.add_argument("schema", choices=list(SCHEMAS))
    c.add_argument("--url")
    r = sub.add_parser("revision", help="autogenerate the next revision from the models")
    r.add_argument("schema", choices=list(SCHEMAS))
    r.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.command == "migrate":
        if args.url and args.schema == "all":
            parser.error("--url names one database: give a schema, not 'all'")
        for schema in SCHEMAS.values() if args.schema == "all" else [SCHEMAS[args.schema]]:
            migrate(schema, args.url)
            print(f"{schema.name}: at {head_revision(schema)}")
    elif args.command == "current":
        schema = SCHEMAS[args.schema]
        engine = _migration_engine(args.url or schema.default_url())
        try:
            with engine.connect() as conn:
                print(f"{schema.name}: at {current_revision(schema, conn) or 'nothing'}, newest {head_revision(schema)}")
        finally:
            engine.dispose()
    else:
        print(write_revision(SCHEMAS[args.schema], args.message))
    return 0


if __name__ == "__main__":
    sys.exit(main())
