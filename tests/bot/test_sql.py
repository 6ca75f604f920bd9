"""bot/sql.py: the channel-side databases under Alembic.

Each environment, on SQLite and PostgreSQL: migrating an empty database gives exactly the models'
tables; a database made by `create_all` before Alembic (whole, or from before some table existed)
is adopted and its rows kept; four processes starting at once all succeed; the CLI migrates.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, Integer, MetaData, String, Table, inspect, select, text
from sqlalchemy.engine import make_url

from bot.sql import (
    AGENT_CONSOLE,
    CHANNEL_STATE,
    SCHEMAS,
    Schema,
    _migration_engine,
    alembic_config,
    current_revision,
    head_revision,
    migrate,
    sync_engine,
)

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def _postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database beside the session's one (each test here needs its own)."""
    import psycopg2

    name = f"bekh_mig_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Iterator[str]]:
    """empty_database(backend) -> context manager giving the URL of a new empty database."""

    @contextmanager
    def make(backend: str) -> Iterator[str]:
        if backend == "sqlite":
            yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            with _postgres_database(request.getfixturevalue("postgres_url")) as url:
                yield url

    return make  # type: ignore[return-value]


def differences(schema: Schema, url: str) -> list[object]:
    """What Alembic's autogenerate would change to reach the models: nothing, when they agree."""
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": schema.version_table, "compare_type": True}
            )
            found: list[object] = list(compare_metadata(context, schema.metadata()))
            # compare_metadata leaves CHECK constraints out: compare their names too.
            reflected = inspect(conn)
            for table in schema.metadata().tables.values():
                wanted = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
                have = {c["name"] for c in reflected.get_check_constraints(table.name)}
                if wanted != have:
                    found.append(("check constraints", table.name, sorted(have), sorted(wanted)))
            return found
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sync_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def revision_of(schema: Schema, url: str) -> str | None:
    engine = sync_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(schema, conn)
    finally:
        engine.dispose()


def made_by_create_all(schema: Schema, url: str, only: list[str] | None = None) -> None:
    """The tables as `create_all` made them before Alembic, whatever later revisions change: the
    first revision, which is exactly that (test_migrating_an_empty_database_... proved it while it
    was the head), without its version table; `only` keeps the tables of an older database."""
    migrate(schema, url, "0001")
    engine = sync_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {schema.version_table}"))
        for name in set(inspect(conn).get_table_names()) - set(only or inspect(conn).get_table_names()):
            conn.execute(text(f"DROP TABLE {name}"))
    engine.dispose()


def _old_login_attempts(metadata: MetaData) -> Table:
    # The table as channels/agents.py declared it before the login throttle replaced it (e123d36).
    return Table(
        "console_login_attempts",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("username", String(40), nullable=False, index=True),
        Column("ip", String(64), nullable=False, index=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
        Column("success", Boolean, nullable=False),
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_migrating_an_empty_database_gives_exactly_the_models_tables(
    schema: Schema, backend: str, empty_database: Callable[[str], Iterator[str]]
) -> None:
    with empty_database(backend) as url:  # type: ignore[attr-defined]
        migrate(schema, url)
        assert differences(schema, url) == []
        assert table_names(url) == set(schema.metadata().tables) | {schema.version_table}
        assert revision_of(schema, url) == head_revision(schema)
        migrate(schema, url)  # a no-op the second time
        assert revision_of(schema, url) == head_revision(schema)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_every_revision_goes_down_and_up_again(
    schema: Schema, backend: str, empty_database: Callable[[str], Iterator[str]]
) -> None:
    with empty_database(backend) as url:  # type: ignore[attr-defined]
        migrate(schema, url)
        engine = _migration_engine(url)
        cfg = alembic_config(schema)
        with engine.connect() as conn, conn.begin():
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        engine.dispose()
        assert table_names(url) == {schema.version_table}
        migrate(schema, url)
        assert differences(schema, url) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_agent_console_made_by_create_all_is_adopted_and_loses_only_the_old_table(
    backend: str, empty_database: Callable[[str], Iterator[str]]
) -> None:
    with empty_database(backend) as url:  # type: ignore[attr-defined]
        made_by_create_all(AGENT_CONSOLE, url)
        old = MetaData()
        _old_login_attempts(old)
        engine = sync_engine(url)
        old.create_all(engine)  # the table every console database of the first day has
        agents = AGENT_CONSOLE.metadata().tables["console_agents"]
        with engine.begin() as conn:
            conn.execute(
                agents.insert().values(
                    username="amal", display_name="Amal", password_hash="x", disabled=False,
                    created_at=text("CURRENT_TIMESTAMP"), password_changed_at=text("CURRENT_TIMESTAMP"),
                )
            )
        engine.dispose()

        migrate(AGENT_CONSOLE, url)

        assert "console_login_attempts" not in table_names(url)
        assert differences(AGENT_CONSOLE, url) == []
        assert revision_of(AGENT_CONSOLE, url) == head_revision(AGENT_CONSOLE)
        engine = sync_engine(url)
        with engine.connect() as conn:
            assert conn.execute(select(agents.c.username)).scalars().all() == ["amal"]
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("made_before", ["everything", "the outbox and the notifier"])
def test_a_channel_state_made_by_create_all_is_adopted(
    backend: str, made_before: str, empty_database: Callable[[str], Iterator[str]]
) -> None:
    with empty_database(backend) as url:  # type: ignore[attr-defined]
        old = ["channel_deliveries", "channel_sender_state"]
        if made_before == "everything":
            old += ["channel_outbox", "notifier_attempts"]
        made_by_create_all(CHANNEL_STATE, url, only=old)
        assert table_names(url) == set(old)
        deliveries = CHANNEL_STATE.metadata().tables["channel_deliveries"]
        engine = sync_engine(url)
        with engine.begin() as conn:
            conn.execute(deliveries.insert().values(key="messenger:mid.1", seen_at=text("CURRENT_TIMESTAMP")))
        engine.dispose()

        migrate(CHANNEL_STATE, url)

        assert differences(CHANNEL_STATE, url) == []  # the missing tables were created
        engine = sync_engine(url)
        with engine.connect() as conn:
            assert conn.execute(select(deliveries.c.key)).scalars().all() == ["messenger:mid.1"]
        engine.dispose()


def _start(name: str, url: str, barrier) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    migrate(SCHEMAS[name], url)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("schema", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_four_processes_migrating_at_once_all_succeed(
    schema: Schema, backend: str, empty_database: Callable[[str], Iterator[str]]
) -> None:
    """The scale set-up starts several Rasa processes together: each migrates the same new database."""
    ctx = mp.get_context("spawn")
    for _round in range(2):
        with empty_database(backend) as url:  # type: ignore[attr-defined]
            barrier = ctx.Barrier(4)
            procs = [ctx.Process(target=_start, args=(schema.name, url, barrier)) for _ in range(4)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(120)
            assert [p.exitcode for p in procs] == [0, 0, 0, 0]
            assert differences(schema, url) == []
            assert revision_of(schema, url) == head_revision(schema)


def test_the_cli_migrates_a_named_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot.sql", *args], cwd=ROOT, env=environ,
                              capture_output=True, text=True, timeout=120)

    done = cli("migrate", "agent_console", "--url", url)
    assert done.returncode == 0, done.stderr
    assert f"agent_console: at {head_revision(AGENT_CONSOLE)}" in done.stdout
    assert differences(AGENT_CONSOLE, url) == []
    assert cli("migrate", "agent_console", "--url", url).returncode == 0  # idempotent
    current = cli("current", "agent_console", "--url", url)
    assert f"at {head_revision(AGENT_CONSOLE)}, newest {head_revision(AGENT_CONSOLE)}" in current.stdout
    assert cli("migrate", "all", "--url", url).returncode != 0  # one URL cannot name two databases
