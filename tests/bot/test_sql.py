"""bot/sql.py: the channel-side stores open their tables safely when processes start together."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, inspect

from bot.sql import create_tables, sync_engine


def _metadata() -> MetaData:
    md = MetaData()
    for i in range(12):
        Table(f"t{i}", md, Column("id", Integer, primary_key=True), Column("v", String(20)))
    return md


def _open(url: str, barrier) -> None:  # type: ignore[no-untyped-def]
    engine = sync_engine(url)
    barrier.wait()
    create_tables(_metadata(), engine)


def test_processes_creating_the_same_tables_at_once_all_succeed(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'race{round_}.db'}"
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open, args=(url, barrier)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        assert len(inspect(sync_engine(url)).get_table_names()) == 12
